//! A recursive-descent parser from tokens to answer trees.
//!
//! ```text
//! answer    := item ((',' | ';' | "and" | "or") item)*          several items: a bare list
//! item      := setexpr (relop setexpr)*                         = < > <= >= != \in
//! setexpr   := sum (('\cup' | '\cap' | '\setminus') sum)*
//! sum       := ['+' | '-' | '\pm'] term (('+' | '-' | '\pm' | '\mp') term)*
//! term      := power (('*' | '/') signed | implicit power)*     2x, 3\sqrt{2}, (a+1)(b+2)
//! power     := postfix ['^' exponent]                           right-associative
//! postfix   := primary ('!' | '%' | '\circ')*
//! primary   := number | numeral_base | name | \frac | \sqrt | function | (..) | [..] | {..}
//!            | \{..\} | |..| | \lfloor..\rfloor | \begin{pmatrix}..\end{pmatrix} | \langle..\rangle
//! ```
//!
//! Precedence follows ordinary reading: `-x^2 = -(x^2)`, `2^3^2 = 2^9`, `\frac12x = x/2`,
//! `\sin 2x = sin(2x)`. LaTeX's one-token arguments are honoured (`\frac 34 = 3/4`,
//! `\sqrt2 3 = 3 sqrt(2)`), but a digit run after `^` is read whole (`2^10 = 1024`, as every
//! plain-text writer means it). An integer followed by a numeric `\frac` (or, after a space,
//! `1/2`) is a mixed number: `137 \frac{1}{2} = 275/2`. Trailing units and prose after a
//! quantity are dropped (`5.4 \text{ cents}`, `15 cm^2`, `12th grade`).
//!
//! This file holds the rules from `answer` to `postfix`; [`tree`] the answer tree ([`Node`]),
//! [`words`] the runs of letters (names, units, Greek letters), and [`primary`] the `primary`
//! rule with numbers, groups, matrices, functions and commands.

use num_bigint::BigInt;
use num_traits::{One, Zero};

use crate::lex::{Tok, Token, lex};
use crate::limits::{MAX_DEPTH, MAX_ITEMS};
use crate::number::Q;

mod primary;
mod tree;
mod words;

pub(crate) use tree::{Bracket, Func, Node, RelOp, SetKind, comma_separated};
use words::{Piece, is_unit_word, split_run};

/// Why a text is not parsable as mathematics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ParseError(pub(crate) String);

impl From<crate::lex::LexError> for ParseError {
    fn from(e: crate::lex::LexError) -> Self {
        ParseError(e.0)
    }
}

type PResult<T> = Result<T, ParseError>;

fn err<T>(msg: impl Into<String>) -> PResult<T> {
    Err(ParseError(msg.into()))
}

/// Parses an answer string.
pub(crate) fn parse(src: &str) -> PResult<Node> {
    let tokens = lex(src)?;
    if tokens.is_empty() {
        return err("empty answer");
    }
    // An answer that is one \text{...} is parsed from its content, or kept as prose.
    if let [
        Token {
            tok: Tok::Text(inner),
            ..
        },
    ] = tokens.as_slice()
    {
        let inner = inner.trim();
        return match parse(inner) {
            Ok(node) => Ok(node),
            Err(_) if !inner.is_empty() => Ok(Node::Text(inner.to_string())),
            Err(e) => Err(e),
        };
    }
    let mut p = Parser {
        toks: tokens,
        pos: 0,
        depth: 0,
        abs_depth: 0,
    };
    let node = p.answer()?;
    if p.pos < p.toks.len() {
        return err(format!("unexpected {:?}", p.toks[p.pos].tok));
    }
    Ok(node)
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
    /// Open `|...|` groups: inside one, a `|` closes rather than opens.
    abs_depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn peek_at(&self, k: usize) -> Option<&Tok> {
        self.toks.get(self.pos + k).map(|t| &t.tok)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|t| t.tok.clone());
        self.pos += 1;
        t
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        if self.peek() == Some(tok) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &Tok) -> PResult<()> {
        if self.eat(tok) {
            Ok(())
        } else {
            err(format!("expected {tok:?}, found {:?}", self.peek()))
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            err("nesting too deep")
        } else {
            Ok(())
        }
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Replaces the current token by its first `n` characters, leaving the rest as a new token
    /// (LaTeX's one-character arguments: `\frac 34`).
    fn split_current(&mut self, n: usize) {
        let tok = &self.toks[self.pos].tok;
        let (head, tail) = match tok {
            Tok::Num(s) if s.len() > n => {
                (Tok::Num(s[..n].to_string()), Tok::Num(s[n..].to_string()))
            }
            Tok::Ident(s) if s.len() > n && s.is_char_boundary(n) => (
                Tok::Ident(s[..n].to_string()),
                Tok::Ident(s[n..].to_string()),
            ),
            _ => return,
        };
        self.toks[self.pos].tok = head;
        self.toks.insert(
            self.pos + 1,
            Token {
                tok: tail,
                space: false,
            },
        );
    }

    fn at_item_end(&self) -> bool {
        matches!(
            self.peek(),
            None | Some(
                Tok::Comma
                    | Tok::Semicolon
                    | Tok::RParen
                    | Tok::RBrack
                    | Tok::RSet
                    | Tok::RBrace
                    | Tok::RAngle
                    | Tok::Eq
                    | Tok::Lt
                    | Tok::Gt
                    | Tok::Le
                    | Tok::Ge
                    | Tok::Ne
                    | Tok::In
                    | Tok::Amp
                    | Tok::RowSep
                    | Tok::End(_)
                    | Tok::Dot
            )
        )
    }

    fn is_separator(&self) -> bool {
        match self.peek() {
            Some(Tok::Comma | Tok::Semicolon) => true,
            Some(Tok::Text(t)) => matches!(t.trim(), "and" | "or" | ","),
            Some(Tok::Ident(t)) => t == "and" || t == "or",
            _ => false,
        }
    }

    /// answer := item (sep item)*, then an optional trailing period.
    fn answer(&mut self) -> PResult<Node> {
        let mut items = vec![self.item()?];
        while self.is_separator() {
            self.pos += 1;
            if self.peek().is_none() {
                break;
            }
            items.push(self.item()?);
            if items.len() > MAX_ITEMS {
                return err("too many items");
            }
        }
        self.eat(&Tok::Dot);
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Node::Text(String::new()))
        } else {
            Node::Set(SetKind::Bare, items)
        })
    }

    /// A comma-separated list up to (not including) `close`; used inside brackets.
    fn list_until(&mut self, close: &[Tok]) -> PResult<Vec<Node>> {
        let mut items = Vec::new();
        if self.peek().is_some_and(|t| close.contains(t)) {
            return Ok(items);
        }
        loop {
            items.push(self.item()?);
            if items.len() > MAX_ITEMS {
                return err("too many items");
            }
            if !self.is_separator() {
                break;
            }
            self.pos += 1;
        }
        Ok(items)
    }

    fn item(&mut self) -> PResult<Node> {
        self.enter()?;
        let first = self.setexpr()?;
        let mut rest = Vec::new();
        loop {
            let op = match self.peek() {
                Some(Tok::Eq) => RelOp::Eq,
                Some(Tok::Lt) => RelOp::Lt,
                Some(Tok::Le) => RelOp::Le,
                Some(Tok::Gt) => RelOp::Gt,
                Some(Tok::Ge) => RelOp::Ge,
                Some(Tok::Ne) => RelOp::Ne,
                Some(Tok::In) => RelOp::In,
                _ => break,
            };
            self.pos += 1;
            rest.push((op, self.setexpr()?));
        }
        self.leave();
        Ok(if rest.is_empty() {
            first
        } else {
            Node::Relation(Box::new(first), rest)
        })
    }

    fn setexpr(&mut self) -> PResult<Node> {
        let mut acc = self.sum()?;
        loop {
            match self.peek() {
                Some(Tok::Cup) => {
                    self.pos += 1;
                    let rhs = self.sum()?;
                    acc = match acc {
                        Node::Union(mut v) => {
                            v.push(rhs);
                            Node::Union(v)
                        }
                        other => Node::Union(vec![other, rhs]),
                    };
                }
                Some(Tok::Cap) => {
                    self.pos += 1;
                    let rhs = self.sum()?;
                    acc = Node::Intersection(vec![acc, rhs]);
                }
                Some(Tok::Setminus) => {
                    self.pos += 1;
                    let rhs = self.sum()?;
                    acc = Node::SetMinus(Box::new(acc), Box::new(rhs));
                }
                _ => return Ok(acc),
            }
        }
    }

    fn sum(&mut self) -> PResult<Node> {
        self.enter()?;
        let mut terms = Vec::new();
        let mut pm: Option<Node> = None;
        match self.peek() {
            Some(Tok::Minus) => {
                self.pos += 1;
                terms.push(Node::Neg(Box::new(self.term()?)));
            }
            Some(Tok::Plus) => {
                self.pos += 1;
                terms.push(self.term()?);
            }
            Some(Tok::Pm | Tok::Mp) => {
                self.pos += 1;
                pm = Some(Node::PlusMinus(
                    Box::new(Node::Num(Q::zero())),
                    Box::new(self.term()?),
                ));
            }
            _ => terms.push(self.term()?),
        }
        loop {
            match self.peek() {
                Some(Tok::Plus) => {
                    self.pos += 1;
                    terms.push(self.term()?);
                }
                Some(Tok::Minus) => {
                    self.pos += 1;
                    terms.push(Node::Neg(Box::new(self.term()?)));
                }
                Some(Tok::Pm | Tok::Mp) => {
                    self.pos += 1;
                    let rhs = self.term()?;
                    let lhs = match (pm.take(), terms.len()) {
                        (Some(p), 0) => p,
                        (Some(p), _) => {
                            let mut v = std::mem::take(&mut terms);
                            v.insert(0, p);
                            Node::Add(v)
                        }
                        (None, 1) => terms.pop().unwrap_or(Node::Num(Q::zero())),
                        (None, _) => Node::Add(std::mem::take(&mut terms)),
                    };
                    pm = Some(Node::PlusMinus(Box::new(lhs), Box::new(rhs)));
                }
                _ => break,
            }
            if terms.len() > MAX_ITEMS * 4 {
                return err("too many terms");
            }
        }
        self.leave();
        if let Some(p) = pm {
            terms.insert(0, p);
        }
        Ok(if terms.len() == 1 {
            terms.pop().unwrap_or(Node::Num(Q::zero()))
        } else {
            Node::Add(terms)
        })
    }

    /// Whether the next token can start an implicitly multiplied factor.
    fn starts_factor(&self) -> bool {
        match self.peek() {
            Some(
                Tok::Num(_)
                | Tok::Based(..)
                | Tok::Ident(_)
                | Tok::LParen
                | Tok::LBrace
                | Tok::LFloor
                | Tok::LCeil
                | Tok::LAngle
                | Tok::Begin(_),
            ) => true,
            Some(Tok::Pipe) => self.abs_depth == 0,
            Some(Tok::Cmd(c)) => c != "overline",
            _ => false,
        }
    }

    /// If units or prose follow until the end of the item, skips them and returns true.
    fn skip_trailing_units(&mut self) -> bool {
        let starts = match self.peek() {
            Some(Tok::Text(_)) => true,
            Some(Tok::Ident(run)) => is_unit_word(run),
            _ => false,
        };
        if !starts {
            return false;
        }
        let save = self.pos;
        loop {
            match self.peek() {
                Some(Tok::Text(_) | Tok::Ident(_) | Tok::Slash | Tok::Degree | Tok::Percent) => {
                    self.pos += 1
                }
                Some(Tok::Caret) => {
                    self.pos += 1;
                    match self.peek() {
                        Some(Tok::Num(_)) => self.pos += 1,
                        Some(Tok::LBrace) => {
                            if matches!(self.peek_at(1), Some(Tok::Num(_)))
                                && self.peek_at(2) == Some(&Tok::RBrace)
                            {
                                self.pos += 3;
                            } else {
                                break;
                            }
                        }
                        _ => break,
                    }
                }
                _ => break,
            }
        }
        if self.at_item_end() && !self.is_separator_word_inside(save) {
            true
        } else {
            self.pos = save;
            false
        }
    }

    /// Whether the skipped span contains a list separator word (`2 and 3` is a list, not a
    /// quantity with the unit "and 3").
    fn is_separator_word_inside(&self, from: usize) -> bool {
        self.toks[from..self.pos].iter().any(|t| match &t.tok {
            Tok::Ident(s) => s == "and" || s == "or",
            Tok::Text(s) => matches!(s.trim(), "and" | "or"),
            _ => false,
        })
    }

    fn term(&mut self) -> PResult<Node> {
        self.enter()?;
        let mut factors = vec![self.power()?];
        let mut count = 0usize;
        loop {
            count += 1;
            if count > MAX_ITEMS * 4 {
                return err("too many factors");
            }
            match self.peek().cloned() {
                Some(Tok::Star) => {
                    self.pos += 1;
                    factors.push(self.signed()?);
                }
                Some(Tok::Slash) => {
                    self.pos += 1;
                    let d = self.signed()?;
                    let n = if factors.len() == 1 {
                        factors.pop().unwrap_or(Node::Num(Q::one()))
                    } else {
                        Node::Mul(std::mem::take(&mut factors))
                    };
                    factors.push(Node::Div(Box::new(n), Box::new(d)));
                }
                Some(Tok::Ident(run)) if run == "and" || run == "or" => break,
                _ if self.skip_trailing_units() => break,
                _ if self.starts_factor() => {
                    if let Some(mixed) = self.mixed_number(&factors)? {
                        factors.pop();
                        factors.push(mixed);
                        continue;
                    }
                    // `1 2` is neither 12 nor 2: two numbers side by side are not a product.
                    let prev_is_number = matches!(
                        self.pos
                            .checked_sub(1)
                            .and_then(|k| self.toks.get(k))
                            .map(|t| &t.tok),
                        Some(Tok::Num(_))
                    );
                    if prev_is_number
                        && matches!(self.peek(), Some(Tok::Num(_)))
                        && self.toks[self.pos].space
                    {
                        return err("two numbers side by side");
                    }
                    factors.push(self.power()?);
                }
                _ => break,
            }
        }
        self.leave();
        Ok(if factors.len() == 1 {
            factors.pop().unwrap_or(Node::Num(Q::one()))
        } else {
            Node::Mul(factors)
        })
    }

    /// `137 \frac{1}{2}` or `2 3/4` right after an integer literal: a mixed number.
    fn mixed_number(&mut self, factors: &[Node]) -> PResult<Option<Node>> {
        let [Node::Num(whole)] = factors else {
            return Ok(None);
        };
        if !whole.is_integer() || whole < &Q::zero() {
            return Ok(None);
        }
        let prev_is_int_literal = matches!(
            self.pos.checked_sub(1).and_then(|k| self.toks.get(k)).map(|t| &t.tok),
            Some(Tok::Num(s)) if s.bytes().all(|b| b.is_ascii_digit())
        );
        if !prev_is_int_literal {
            return Ok(None);
        }
        let save = self.pos;
        let frac = match self.peek() {
            Some(Tok::Cmd(c)) if c == "frac" => {
                self.pos += 1;
                let n = self.latex_arg()?;
                let d = self.latex_arg()?;
                match (n, d) {
                    (Node::Num(n), Node::Num(d))
                        if n.is_integer() && d.is_integer() && !d.is_zero() =>
                    {
                        Some(n / d)
                    }
                    _ => None,
                }
            }
            Some(Tok::Num(n))
                if self.toks[self.pos].space && n.bytes().all(|b| b.is_ascii_digit()) =>
            {
                match (self.peek_at(1), self.peek_at(2)) {
                    (Some(Tok::Slash), Some(Tok::Num(d)))
                        if d.bytes().all(|b| b.is_ascii_digit()) =>
                    {
                        let n: BigInt = n.parse().map_err(|_| ParseError("bad number".into()))?;
                        let d: BigInt = d.parse().map_err(|_| ParseError("bad number".into()))?;
                        self.pos += 3;
                        (!d.is_zero()).then(|| Q::new(n, d))
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        match frac {
            Some(f) if f < Q::one() && f > Q::zero() => Ok(Some(Node::Num(whole + f))),
            _ => {
                self.pos = save;
                Ok(None)
            }
        }
    }

    /// A factor after `*` or `/`, which may carry its own sign: `2 * -3`.
    fn signed(&mut self) -> PResult<Node> {
        self.enter()?;
        let node = match self.peek() {
            Some(Tok::Minus) => {
                self.pos += 1;
                Node::Neg(Box::new(self.signed()?))
            }
            Some(Tok::Plus) => {
                self.pos += 1;
                self.signed()?
            }
            _ => self.power()?,
        };
        self.leave();
        Ok(node)
    }

    fn power(&mut self) -> PResult<Node> {
        self.enter()?;
        let base = self.postfix()?;
        let node = if self.eat(&Tok::Caret) {
            match self.exponent()? {
                Exponent::Degrees => Node::Degrees(Box::new(base)),
                Exponent::Ordinal => base,
                Exponent::Node(e) => Node::Pow(Box::new(base), Box::new(e)),
            }
        } else {
            base
        };
        let node = self.postfix_ops(node)?;
        self.leave();
        Ok(node)
    }

    fn exponent(&mut self) -> PResult<Exponent> {
        self.enter()?;
        let result = match self.peek().cloned() {
            Some(Tok::Degree) => {
                self.pos += 1;
                Exponent::Degrees
            }
            Some(Tok::Prime) => return err("derivative marks are not supported"),
            Some(Tok::LBrace) => {
                if let Some(len) = self.braced_single(|t| t == &Tok::Degree) {
                    self.pos += len;
                    Exponent::Degrees
                } else if let Some(len) = self.braced_single(|t| {
                    matches!(t, Tok::Text(s) | Tok::Ident(s) if matches!(s.trim(), "th" | "st" | "nd" | "rd"))
                }) {
                    self.pos += len;
                    Exponent::Ordinal
                } else {
                    self.pos += 1;
                    let e = self.sum()?;
                    self.expect(&Tok::RBrace)?;
                    Exponent::Node(e)
                }
            }
            Some(Tok::Num(_)) => Exponent::Node(self.number()?),
            Some(Tok::Minus) => {
                self.pos += 1;
                match self.exponent()? {
                    Exponent::Node(e) => Exponent::Node(Node::Neg(Box::new(e))),
                    _ => return err("bad exponent"),
                }
            }
            Some(Tok::Plus) => {
                self.pos += 1;
                self.exponent()?
            }
            Some(Tok::Ident(run)) => {
                // e^pi, x^ab = x^a b: a known name or one letter.
                let len = match split_run(&run).as_deref() {
                    Some([Piece::Name(n), ..]) => n.len(),
                    _ => run.chars().next().map_or(1, char::len_utf8),
                };
                self.split_current(len);
                Exponent::Node(self.postfix()?)
            }
            Some(Tok::Star) if self.peek_at(1) == Some(&Tok::RBrace) => {
                return err("starred exponent");
            }
            _ => {
                let base = self.postfix()?;
                // Right-associative: 2^3^2 = 2^(3^2).
                if self.eat(&Tok::Caret) {
                    match self.exponent()? {
                        Exponent::Node(e) => Exponent::Node(Node::Pow(Box::new(base), Box::new(e))),
                        _ => Exponent::Node(base),
                    }
                } else {
                    Exponent::Node(base)
                }
            }
        };
        self.leave();
        // `2^{3}^{2}` chains as well.
        if let Exponent::Node(e) = result {
            if self.peek() == Some(&Tok::Caret) {
                self.pos += 1;
                return match self.exponent()? {
                    Exponent::Node(e2) => Ok(Exponent::Node(Node::Pow(Box::new(e), Box::new(e2)))),
                    _ => Ok(Exponent::Node(e)),
                };
            }
            return Ok(Exponent::Node(e));
        }
        Ok(result)
    }

    /// If the tokens at the cursor are `{`s, one token matching `pred`, and as many `}`s
    /// (`^{\circ}`, `^{\mathrm{th}}`), returns how many tokens that is.
    fn braced_single(&self, pred: impl Fn(&Tok) -> bool) -> Option<usize> {
        let mut open = 0;
        while self.peek_at(open) == Some(&Tok::LBrace) {
            open += 1;
        }
        if open == 0 || !self.peek_at(open).is_some_and(&pred) {
            return None;
        }
        (1..=open)
            .all(|k| self.peek_at(open + k) == Some(&Tok::RBrace))
            .then_some(2 * open + 1)
    }

    fn postfix(&mut self) -> PResult<Node> {
        let p = self.primary()?;
        self.postfix_ops(p)
    }

    fn postfix_ops(&mut self, mut node: Node) -> PResult<Node> {
        loop {
            match self.peek() {
                Some(Tok::Bang) => {
                    self.pos += 1;
                    node = Node::Func(Func::Factorial, vec![node]);
                }
                Some(Tok::Percent) => {
                    self.pos += 1;
                    node = Node::Percent(Box::new(node));
                }
                Some(Tok::Degree) => {
                    self.pos += 1;
                    node = Node::Degrees(Box::new(node));
                }
                Some(Tok::Prime) => return err("derivative marks are not supported"),
                _ => return Ok(node),
            }
        }
    }

    /// A LaTeX macro argument: a braced group, or a single character or command.
    fn latex_arg(&mut self) -> PResult<Node> {
        self.enter()?;
        let node = match self.peek() {
            Some(Tok::LBrace) => {
                self.pos += 1;
                let n = self.sum_or_relation_in_braces()?;
                self.expect(&Tok::RBrace)?;
                n
            }
            Some(Tok::Num(_) | Tok::Ident(_)) => {
                self.split_current(1);
                self.primary()?
            }
            Some(_) => self.primary()?,
            None => return err("missing argument"),
        };
        self.leave();
        Ok(node)
    }

    /// The content of a `{...}` group: usually one expression, sometimes a list.
    fn sum_or_relation_in_braces(&mut self) -> PResult<Node> {
        let mut items = self.list_until(&[Tok::RBrace])?;
        match items.len() {
            0 => err("empty group"),
            1 => Ok(items.pop().unwrap_or(Node::Text(String::new()))),
            _ => Ok(Node::Set(SetKind::Bare, items)),
        }
    }
}

enum Exponent {
    Node(Node),
    Degrees,
    Ordinal,
}

/// Converts a decimal literal (`12`, `0.35625`, `1.5e-3`) to an exact rational.
pub(crate) fn parse_decimal(text: &str) -> PResult<Q> {
    let bad = || ParseError(format!("bad number {text:?}"));
    if text.len() > crate::limits::MAX_MATH_BYTES {
        return Err(bad());
    }
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(k) => (&text[..k], text[k + 1..].parse::<i64>().map_err(|_| bad())?),
        None => (text, 0),
    };
    if exp.abs() > 1000 {
        return Err(ParseError("exponent too large".into()));
    }
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    let digits = format!("{int}{frac}");
    let n: BigInt = if digits.is_empty() {
        BigInt::zero()
    } else {
        digits.parse().map_err(|_| bad())?
    };
    let scale = exp - frac.len() as i64;
    let ten = BigInt::from(10);
    Ok(if scale >= 0 {
        Q::from_integer(n * num_traits::pow(ten, scale as usize))
    } else {
        Q::new(n, num_traits::pow(ten, (-scale) as usize))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(n: i64, d: i64) -> Node {
        Node::Num(Q::new(BigInt::from(n), BigInt::from(d)))
    }

    #[test]
    fn frac_takes_single_character_arguments() {
        assert_eq!(
            parse("\\frac 34").unwrap(),
            Node::Div(Box::new(q(3, 1)), Box::new(q(4, 1)))
        );
        assert_eq!(
            parse("\\frac9{19}").unwrap(),
            Node::Div(Box::new(q(9, 1)), Box::new(q(19, 1)))
        );
    }

    #[test]
    fn mixed_numbers_add_their_parts() {
        assert_eq!(parse("137 \\frac{1}{2}").unwrap(), q(275, 2));
        assert_eq!(parse("1\\frac{4}{5}").unwrap(), q(9, 5));
        assert_eq!(parse("2 3/4").unwrap(), q(11, 4));
    }

    #[test]
    fn repeating_decimals_are_exact() {
        assert_eq!(parse("0.\\overline{3}").unwrap(), q(1, 3));
        assert_eq!(parse("0.1\\overline{6}").unwrap(), q(1, 6));
    }

    #[test]
    fn words_are_not_products_of_variables() {
        assert!(parse("east").is_err());
        assert!(parse("ellipse").is_err());
        assert_eq!(
            parse("xy").unwrap(),
            Node::Mul(vec![Node::Var("x".into()), Node::Var("y".into())])
        );
    }

    #[test]
    fn trailing_units_are_dropped() {
        assert_eq!(parse("5.4 \\text{ cents}").unwrap(), q(27, 5));
        assert_eq!(parse("15 cm^2").unwrap(), q(15, 1));
        assert_eq!(parse("864 \\mbox{ inches}^2").unwrap(), q(864, 1));
        assert_eq!(parse("12^{\\mathrm{th}} grade").unwrap(), q(12, 1));
    }

    #[test]
    fn nesting_beyond_the_limit_is_an_error_not_a_stack_overflow() {
        let deep = "(".repeat(10_000) + "1" + &")".repeat(10_000);
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn scientific_and_plain_decimals_parse_exactly() {
        assert_eq!(
            parse_decimal("1.5e-3").unwrap(),
            Q::new(BigInt::from(3), BigInt::from(2000))
        );
        assert_eq!(
            parse_decimal("0.35625").unwrap(),
            Q::new(BigInt::from(57), BigInt::from(160))
        );
    }
}
