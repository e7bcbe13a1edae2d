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

use num_bigint::BigInt;
use num_traits::{One, Zero};

use crate::lex::{Tok, Token, lex};
use crate::limits::{MAX_DEPTH, MAX_ITEMS};
use crate::number::Q;

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

/// Opening or closing bracket of a tuple or interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bracket {
    Paren,
    Square,
    Angle,
}

/// A relation symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RelOp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
    Ne,
    In,
}

/// Functions the evaluator knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Func {
    Sqrt,
    /// `\sqrt[n]{x}`: arguments `[n, x]`.
    Root,
    Sin,
    Cos,
    Tan,
    Cot,
    Sec,
    Csc,
    Asin,
    Acos,
    Atan,
    Ln,
    /// `\log_b x`: arguments `[b, x]`; `\log x` without a base is the natural logarithm.
    Log,
    Exp,
    Abs,
    Floor,
    Ceil,
    Factorial,
    Binom,
    Gcd,
    Lcm,
    Max,
    Min,
}

/// How a set-like collection was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SetKind {
    /// `\{1, 2\}`: a set.
    Braces,
    /// `1, 2` without brackets: a list of solutions, order irrelevant.
    Bare,
    /// The values of an expression with `\pm`: `1 \pm \sqrt{2}`.
    Alternatives,
}

/// A parsed answer.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    Num(Q),
    Based {
        digits: String,
        base: u32,
    },
    Var(String),
    Pi,
    E,
    I,
    Infinity,
    Reals,
    Neg(Box<Node>),
    Add(Vec<Node>),
    Mul(Vec<Node>),
    Div(Box<Node>, Box<Node>),
    Pow(Box<Node>, Box<Node>),
    PlusMinus(Box<Node>, Box<Node>),
    Func(Func, Vec<Node>),
    Degrees(Box<Node>),
    Percent(Box<Node>),
    Tuple {
        open: Bracket,
        close: Bracket,
        items: Vec<Node>,
    },
    Set(SetKind, Vec<Node>),
    Matrix(Vec<Vec<Node>>),
    Relation(Box<Node>, Vec<(RelOp, Node)>),
    Union(Vec<Node>),
    Intersection(Vec<Node>),
    SetMinus(Box<Node>, Box<Node>),
    Text(String),
}

impl Node {
    /// Collects the names of the free variables into `out` (sorted, deduplicated by caller).
    pub(crate) fn collect_vars(&self, out: &mut Vec<String>) {
        match self {
            Node::Var(v) => {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            Node::Num(_)
            | Node::Based { .. }
            | Node::Pi
            | Node::E
            | Node::I
            | Node::Infinity
            | Node::Reals
            | Node::Text(_) => {}
            Node::Neg(a) | Node::Degrees(a) | Node::Percent(a) => a.collect_vars(out),
            Node::Div(a, b) | Node::Pow(a, b) | Node::PlusMinus(a, b) | Node::SetMinus(a, b) => {
                a.collect_vars(out);
                b.collect_vars(out);
            }
            Node::Add(v)
            | Node::Mul(v)
            | Node::Func(_, v)
            | Node::Tuple { items: v, .. }
            | Node::Set(_, v)
            | Node::Union(v)
            | Node::Intersection(v) => v.iter().for_each(|n| n.collect_vars(out)),
            Node::Matrix(rows) => rows.iter().flatten().for_each(|n| n.collect_vars(out)),
            Node::Relation(first, rest) => {
                first.collect_vars(out);
                rest.iter().for_each(|(_, n)| n.collect_vars(out));
            }
        }
    }

    pub(crate) fn has_vars(&self) -> bool {
        let mut v = Vec::new();
        self.collect_vars(&mut v);
        !v.is_empty()
    }

    /// The variable's name when the node is a bare variable (`x`, `\theta`, `a_1`).
    pub(crate) fn as_var(&self) -> Option<&str> {
        match self {
            Node::Var(v) => Some(v),
            _ => None,
        }
    }
}

impl Node {
    /// Binding strength, for printing with the fewest parentheses.
    fn precedence(&self) -> u8 {
        match self {
            Node::Relation(..) => 1,
            Node::Union(_) | Node::Intersection(_) | Node::SetMinus(..) => 2,
            Node::Add(_) | Node::PlusMinus(..) => 3,
            Node::Mul(_) | Node::Div(..) => 4,
            Node::Neg(_) => 5,
            Node::Pow(..) => 6,
            Node::Num(q) if !q.is_integer() || q < &Q::zero() => 4,
            _ => 7,
        }
    }
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let wrap = |n: &Node, min: u8| {
            if n.precedence() < min {
                format!("({n})")
            } else {
                n.to_string()
            }
        };
        let list = |items: &[Node]| {
            items
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Node::Num(q) => {
                if q.is_integer() {
                    write!(f, "{}", q.numer())
                } else {
                    write!(f, "{}/{}", q.numer(), q.denom())
                }
            }
            Node::Based { digits, base } => write!(f, "{digits}_{base}"),
            Node::Var(v) => write!(f, "{v}"),
            Node::Pi => write!(f, "pi"),
            Node::E => write!(f, "e"),
            Node::I => write!(f, "i"),
            Node::Infinity => write!(f, "oo"),
            Node::Reals => write!(f, "R"),
            Node::Neg(a) => write!(f, "-{}", wrap(a, 5)),
            Node::Add(terms) => {
                for (k, t) in terms.iter().enumerate() {
                    match (k, t) {
                        (0, t) => write!(f, "{}", wrap(t, 3))?,
                        (_, Node::Neg(inner)) => write!(f, " - {}", wrap(inner, 4))?,
                        (_, t) => write!(f, " + {}", wrap(t, 4))?,
                    }
                }
                Ok(())
            }
            Node::Mul(factors) => {
                let shown: Vec<String> = factors.iter().map(|n| wrap(n, 5)).collect();
                write!(f, "{}", shown.join("*"))
            }
            Node::Div(a, b) => write!(f, "{}/{}", wrap(a, 4), wrap(b, 5)),
            Node::Pow(a, b) => write!(f, "{}^{}", wrap(a, 7), wrap(b, 7)),
            Node::PlusMinus(a, b) if **a == Node::Num(Q::zero()) => write!(f, "+-{}", wrap(b, 5)),
            Node::PlusMinus(a, b) => write!(f, "{} +- {}", wrap(a, 3), wrap(b, 4)),
            Node::Func(func, args) => {
                let name = format!("{func:?}").to_lowercase();
                write!(f, "{name}({})", list(args))
            }
            Node::Degrees(a) => write!(f, "{} deg", wrap(a, 7)),
            Node::Percent(a) => write!(f, "{}%", wrap(a, 7)),
            Node::Tuple { open, close, items } => {
                let o = match open {
                    Bracket::Paren => "(",
                    Bracket::Square => "[",
                    Bracket::Angle => "<",
                };
                let c = match close {
                    Bracket::Paren => ")",
                    Bracket::Square => "]",
                    Bracket::Angle => ">",
                };
                write!(f, "{o}{}{c}", list(items))
            }
            Node::Set(SetKind::Bare, items) => write!(f, "{}", list(items)),
            Node::Set(_, items) => write!(f, "{{{}}}", list(items)),
            Node::Matrix(rows) => {
                let rows: Vec<String> = rows.iter().map(|r| format!("[{}]", list(r))).collect();
                write!(f, "[{}]", rows.join(", "))
            }
            Node::Relation(first, rest) => {
                write!(f, "{first}")?;
                for (op, n) in rest {
                    let o = match op {
                        RelOp::Eq => "=",
                        RelOp::Lt => "<",
                        RelOp::Le => "<=",
                        RelOp::Gt => ">",
                        RelOp::Ge => ">=",
                        RelOp::Ne => "!=",
                        RelOp::In => "in",
                    };
                    write!(f, " {o} {n}")?;
                }
                Ok(())
            }
            Node::Union(items) => {
                let shown: Vec<String> = items.iter().map(|n| wrap(n, 3)).collect();
                write!(f, "{}", shown.join(" U "))
            }
            Node::Intersection(items) => {
                let shown: Vec<String> = items.iter().map(|n| wrap(n, 3)).collect();
                write!(f, "{}", shown.join(" n "))
            }
            Node::SetMinus(a, b) => write!(f, "{} \\ {}", wrap(a, 3), wrap(b, 3)),
            Node::Text(t) => write!(f, "\"{t}\""),
        }
    }
}

/// Known multi-letter names in plain-text answers (`sqrt(2)`, `2pi`, `sinx`).
const NAMES: &[&str] = &[
    "arcsin", "arccos", "arctan", "sqrt", "infinity", "infty", "floor", "ceil", "sin", "cos",
    "tan", "cot", "sec", "csc", "log", "exp", "abs", "gcd", "lcm", "max", "min", "inf", "ln", "pi",
];

/// Unit and ordinal words dropped after a quantity even though they are short.
const UNITS: &[&str] = &[
    "cm", "mm", "km", "ft", "yd", "mi", "kg", "mg", "lb", "lbs", "oz", "mph", "kph", "sec", "secs",
    "min", "mins", "hr", "hrs", "ml", "cc", "sq", "cu", "th", "st", "nd", "rd", "deg", "pts", "in",
];

/// Greek letters (and friends) that name variables.
const GREEK: &[&str] = &[
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "varepsilon",
    "zeta",
    "eta",
    "theta",
    "vartheta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "varphi",
    "chi",
    "psi",
    "omega",
    "Gamma",
    "Delta",
    "Theta",
    "Lambda",
    "Xi",
    "Sigma",
    "Phi",
    "Psi",
    "Omega",
    "ell",
];

/// One piece of a letter run: a known name or a single letter.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Name(&'a str),
    Letter(&'a str),
}

/// Splits a run of letters into known names and single-letter variables; `None` when the run
/// reads as an English word (`east`, `cents`, `ellipse`) rather than a product of variables.
fn split_run(run: &str) -> Option<Vec<Piece<'_>>> {
    let mut pieces = Vec::new();
    let mut k = 0;
    let mut letters = 0;
    while k < run.len() {
        let rest = &run[k..];
        if let Some(name) = NAMES.iter().find(|n| rest.starts_with(**n)) {
            pieces.push(Piece::Name(&run[k..k + name.len()]));
            k += name.len();
        } else {
            let len = rest.chars().next().map_or(1, char::len_utf8);
            pieces.push(Piece::Letter(&run[k..k + len]));
            k += len;
            letters += 1;
        }
    }
    let word = letters >= 4 || (run.len() >= 5 && letters >= 3);
    (!word).then_some(pieces)
}

/// Whether a run of letters reads as a word or unit (and so ends a quantity).
fn is_unit_word(run: &str) -> bool {
    UNITS.contains(&run) || split_run(run).is_none()
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

    fn number(&mut self) -> PResult<Node> {
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

    fn primary(&mut self) -> PResult<Node> {
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
