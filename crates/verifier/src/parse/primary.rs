//! The grammar's `primary` rule and what it reads: numbers, brackets and groups, matrices,
//! identifiers, functions and LaTeX commands.

use num_bigint::BigInt;
use num_traits::One;

use super::words::{GREEK, NAMES, Piece, split_run};
use super::{
    Bracket, Exponent, Func, Node, PResult, ParseError, Parser, SetKind, err, parse_decimal,
};
use crate::lex::{Tok, Token};
use crate::limits::MAX_ITEMS;
use crate::number::Q;

impl Parser {
    pub(super) fn number(&mut self) -> PResult<Node> {
        let Some(Tok::Num(text)) = self.next() else {
            return err("expected a number");
        };
        let mut value = parse_decimal(&text)?;
        // 0.\overline{3} = 1/3: a repeating decimal.
        if text.contains('.') && matches!(self.peek(), Some(Tok::Cmd(c)) if c == "overline") {
            self.pos += 1;
            self.expect(&Tok::LBrace)?;
            let Some(Tok::Num(rep)) = self.next() else {
                return err("\\overline needs digits");
            };
            self.expect(&Tok::RBrace)?;
            if !rep.bytes().all(|b| b.is_ascii_digit()) || rep.len() > 50 {
                return err("\\overline needs digits");
            }
            let decimals = text.split('.').nth(1).map_or(0, str::len) as u32;
            let k = rep.len() as u32;
            let r: BigInt = rep.parse().map_err(|_| ParseError("bad digits".into()))?;
            let ten = BigInt::from(10);
            let denom = (num_traits::pow(ten.clone(), k as usize) - BigInt::one())
                * num_traits::pow(ten, decimals as usize);
            value += Q::new(r, denom);
        }
        Ok(Node::Num(value))
    }

    pub(super) fn primary(&mut self) -> PResult<Node> {
        self.enter()?;
        let node = self.primary_inner()?;
        self.leave();
        Ok(node)
    }

    fn primary_inner(&mut self) -> PResult<Node> {
        let Some(tok) = self.peek().cloned() else {
            return err("unexpected end of answer");
        };
        match tok {
            Tok::Num(_) => self.number(),
            Tok::Based(digits, base) => {
                self.pos += 1;
                Ok(Node::Based { digits, base })
            }
            Tok::Ident(run) => self.ident(&run),
            Tok::Cmd(name) => {
                self.pos += 1;
                self.command(&name)
            }
            Tok::LParen | Tok::LBrack => {
                self.pos += 1;
                let items = self.list_until(&[Tok::RParen, Tok::RBrack])?;
                let close = match self.next() {
                    Some(Tok::RParen) => Bracket::Paren,
                    Some(Tok::RBrack) => Bracket::Square,
                    _ => return err("unclosed bracket"),
                };
                let open = if tok == Tok::LParen {
                    Bracket::Paren
                } else {
                    Bracket::Square
                };
                match items.len() {
                    0 => err("empty brackets"),
                    1 if open == close => Ok(items
                        .into_iter()
                        .next()
                        .unwrap_or(Node::Text(String::new()))),
                    _ => Ok(Node::Tuple { open, close, items }),
                }
            }
            Tok::LAngle => {
                self.pos += 1;
                let items = self.list_until(&[Tok::RAngle])?;
                self.expect(&Tok::RAngle)?;
                Ok(Node::Tuple {
                    open: Bracket::Angle,
                    close: Bracket::Angle,
                    items,
                })
            }
            Tok::LBrace => {
                self.pos += 1;
                if self.eat(&Tok::RBrace) {
                    return err("empty group");
                }
                let n = self.sum_or_relation_in_braces()?;
                self.expect(&Tok::RBrace)?;
                Ok(n)
            }
            Tok::LSet => {
                self.pos += 1;
                let items = self.list_until(&[Tok::RSet])?;
                self.expect(&Tok::RSet)?;
                Ok(Node::Set(SetKind::Braces, items))
            }
            Tok::Pipe => {
                self.pos += 1;
                self.abs_depth += 1;
                let inner = self.sum();
                self.abs_depth -= 1;
                let inner = inner?;
                self.expect(&Tok::Pipe)?;
                Ok(Node::Func(Func::Abs, vec![inner]))
            }
            Tok::LFloor | Tok::LCeil => {
                self.pos += 1;
                let inner = self.sum()?;
                let (close, f) = if tok == Tok::LFloor {
                    (Tok::RFloor, Func::Floor)
                } else {
                    (Tok::RCeil, Func::Ceil)
                };
                self.expect(&close)?;
                Ok(Node::Func(f, vec![inner]))
            }
            Tok::Begin(env) => {
                self.pos += 1;
                self.matrix(&env)
            }
            Tok::Text(t) => err(format!("prose {t:?} inside an expression")),
            other => err(format!("unexpected {other:?}")),
        }
    }

    fn matrix(&mut self, env: &str) -> PResult<Node> {
        if !env.ends_with("matrix") && env != "array" {
            return err(format!("unsupported environment {env}"));
        }
        if env == "array" && self.peek() == Some(&Tok::LBrace) {
            // Column specification such as {cc}.
            while !matches!(self.next(), Some(Tok::RBrace) | None) {}
        }
        let mut rows: Vec<Vec<Node>> = vec![Vec::new()];
        loop {
            match self.peek() {
                Some(Tok::End(_)) => {
                    self.pos += 1;
                    break;
                }
                None => return err("unterminated matrix"),
                Some(Tok::RowSep) => {
                    self.pos += 1;
                    rows.push(Vec::new());
                }
                Some(Tok::Amp) => {
                    self.pos += 1;
                }
                _ => {
                    let cell = self.item()?;
                    let height = rows.len();
                    let row = rows.last_mut().ok_or_else(|| ParseError("matrix".into()))?;
                    row.push(cell);
                    if height * row.len() > MAX_ITEMS {
                        return err("matrix too large");
                    }
                    if !matches!(self.peek(), Some(Tok::Amp | Tok::RowSep | Tok::End(_))) {
                        return err("expected & or \\\\ in matrix");
                    }
                }
            }
        }
        // A trailing \\ leaves an empty last row.
        if rows.last().is_some_and(Vec::is_empty) && rows.len() > 1 {
            rows.pop();
        }
        let width = rows[0].len();
        if width == 0 || rows.iter().any(|r| r.len() != width) {
            return err("ragged matrix");
        }
        Ok(Node::Matrix(rows))
    }

    /// A run of letters: variables, constants and plain-text function names.
    fn ident(&mut self, run: &str) -> PResult<Node> {
        let Some(pieces) = split_run(run) else {
            return err(format!("word {run:?}"));
        };
        if pieces.len() > 1 {
            // Expand the run into one token per piece and parse the first.
            let toks: Vec<Token> = pieces
                .iter()
                .map(|p| match p {
                    Piece::Name(s) | Piece::Letter(s) => Token {
                        tok: Tok::Ident(s.to_string()),
                        space: false,
                    },
                })
                .collect();
            self.toks.splice(self.pos..self.pos + 1, toks);
            let Some(Tok::Ident(first)) = self.peek().cloned() else {
                return err("identifier");
            };
            return self.ident(&first);
        }
        self.pos += 1;
        match run {
            "pi" => Ok(Node::Pi),
            "e" => Ok(Node::E),
            "i" => Ok(Node::I),
            "infty" | "infinity" | "inf" => Ok(Node::Infinity),
            "sqrt" => self.function(Func::Sqrt),
            name if NAMES.contains(&name) => self.command(name),
            letter => {
                // Subscripted variable: a_1, x_{12}.
                let mut name = letter.to_string();
                if self.peek() == Some(&Tok::Underscore) {
                    self.pos += 1;
                    match self.next() {
                        Some(Tok::Num(n)) => name.push_str(&format!("_{n}")),
                        Some(Tok::Ident(s)) => name.push_str(&format!("_{s}")),
                        Some(Tok::LBrace) => {
                            let mut sub = String::new();
                            while let Some(t) = self.next() {
                                match t {
                                    Tok::RBrace => break,
                                    Tok::Num(n) | Tok::Ident(n) => sub.push_str(&n),
                                    _ => sub.push('?'),
                                }
                                if sub.len() > 64 {
                                    return err("subscript too long");
                                }
                            }
                            name.push_str(&format!("_{sub}"));
                        }
                        _ => return err("bad subscript"),
                    }
                }
                Ok(Node::Var(name))
            }
        }
    }

    fn function(&mut self, f: Func) -> PResult<Node> {
        // \sin^2 x = (sin x)^2, \sin^{-1} x = arcsin x.
        let mut power = None;
        let mut f = f;
        if self.eat(&Tok::Caret) {
            match self.exponent()? {
                Exponent::Node(Node::Neg(one)) if *one == Node::Num(Q::one()) => {
                    f = match f {
                        Func::Sin => Func::Asin,
                        Func::Cos => Func::Acos,
                        Func::Tan => Func::Atan,
                        _ => return err("inverse of this function"),
                    };
                }
                Exponent::Node(e) => power = Some(e),
                _ => return err("bad function power"),
            }
        }
        let arg = self.function_arg()?;
        let call = Node::Func(f, vec![arg]);
        Ok(match power {
            Some(p) => Node::Pow(Box::new(call), Box::new(p)),
            None => call,
        })
    }

    /// The argument of `\sin`, `\log`, `sqrt`: parenthesised, braced, or the following
    /// implicitly multiplied factors (`\sin 2x = sin(2x)`, `\sin x \cos x = sin(x) cos(x)`).
    fn function_arg(&mut self) -> PResult<Node> {
        match self.peek() {
            Some(Tok::LParen | Tok::LBrace) => {
                let p = self.primary()?;
                self.postfix_ops(p)
            }
            None => err("function without argument"),
            _ => {
                let mut factors = vec![self.power()?];
                while self.starts_factor()
                    && !matches!(self.peek(), Some(Tok::Cmd(c)) if is_function_cmd(c))
                    && !matches!(self.peek(), Some(Tok::Ident(r)) if split_run(r).is_some_and(|p| matches!(p.first(), Some(Piece::Name(_)))))
                {
                    if self.skip_trailing_units() {
                        break;
                    }
                    factors.push(self.power()?);
                    if factors.len() > MAX_ITEMS {
                        return err("too many factors");
                    }
                }
                Ok(if factors.len() == 1 {
                    factors.pop().unwrap_or(Node::Num(Q::one()))
                } else {
                    Node::Mul(factors)
                })
            }
        }
    }

    fn command(&mut self, name: &str) -> PResult<Node> {
        let simple = |f| Some(f);
        let func = match name {
            "sin" => simple(Func::Sin),
            "cos" => simple(Func::Cos),
            "tan" => simple(Func::Tan),
            "cot" => simple(Func::Cot),
            "sec" => simple(Func::Sec),
            "csc" => simple(Func::Csc),
            "arcsin" => simple(Func::Asin),
            "arccos" => simple(Func::Acos),
            "arctan" => simple(Func::Atan),
            "ln" => simple(Func::Ln),
            "exp" => simple(Func::Exp),
            "abs" => simple(Func::Abs),
            "floor" => simple(Func::Floor),
            "ceil" => simple(Func::Ceil),
            "gcd" => simple(Func::Gcd),
            "lcm" => simple(Func::Lcm),
            "max" => simple(Func::Max),
            "min" => simple(Func::Min),
            _ => None,
        };
        if let Some(f) = func {
            return self.function(f);
        }
        match name {
            "pi" => Ok(Node::Pi),
            "infty" => Ok(Node::Infinity),
            "emptyset" => Ok(Node::Set(SetKind::Braces, Vec::new())),
            "reals" => Ok(Node::Reals),
            "imath" => Ok(Node::I),
            "frac" => {
                let n = self.latex_arg()?;
                let d = self.latex_arg()?;
                Ok(Node::Div(Box::new(n), Box::new(d)))
            }
            "binom" => {
                let n = self.latex_arg()?;
                let k = self.latex_arg()?;
                Ok(Node::Func(Func::Binom, vec![n, k]))
            }
            "sqrt" => {
                if self.eat(&Tok::LBrack) {
                    let index = self.sum()?;
                    self.expect(&Tok::RBrack)?;
                    let x = self.latex_arg()?;
                    return Ok(Node::Func(Func::Root, vec![index, x]));
                }
                match self.peek() {
                    Some(Tok::LParen) => self.function(Func::Sqrt),
                    _ => Ok(Node::Func(Func::Sqrt, vec![self.latex_arg()?])),
                }
            }
            "log" | "lg" => {
                let base = if self.eat(&Tok::Underscore) {
                    Some(self.latex_arg_or_number()?)
                } else if name == "lg" {
                    Some(Node::Num(Q::from_integer(BigInt::from(10))))
                } else {
                    None
                };
                let Node::Func(_, mut args) = self.function(Func::Log)? else {
                    return err("log");
                };
                let x = args.pop().ok_or_else(|| ParseError("log".into()))?;
                Ok(Node::Func(Func::Log, vec![base.unwrap_or(Node::E), x]))
            }
            "mathbb" => match self.latex_arg()? {
                Node::Var(v) if v == "R" => Ok(Node::Reals),
                _ => err("unsupported \\mathbb set"),
            },
            g if GREEK.contains(&g) => Ok(Node::Var(g.to_string())),
            other => err(format!("unsupported command \\{other}")),
        }
    }

    /// A subscript base: `\log_2`, `\log_{10}`, `\log_b`.
    fn latex_arg_or_number(&mut self) -> PResult<Node> {
        match self.peek() {
            Some(Tok::Num(_)) => self.number(),
            _ => self.latex_arg(),
        }
    }
}

fn is_function_cmd(c: &str) -> bool {
    matches!(
        c,
        "sin"
            | "cos"
            | "tan"
            | "cot"
            | "sec"
            | "csc"
            | "arcsin"
            | "arccos"
            | "arctan"
            | "ln"
            | "log"
            | "exp"
    )
}
