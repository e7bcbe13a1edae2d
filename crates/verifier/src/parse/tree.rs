//! The answer tree the parser builds: [`Node`] and its parts (brackets, relations, functions,
//! kinds of set), the free variables of a tree, and its printing with the fewest parentheses.

use num_traits::Zero;

use crate::number::Q;

/// The items printed one after another, separated by `, `.
pub(crate) fn comma_separated<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Opening or closing bracket of a tuple or interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bracket {
    Paren,
    Square,
    Angle,
}

impl Bracket {
    /// The bracket as an opening symbol: `(`, `[` or `<`.
    pub(crate) fn open(self) -> &'static str {
        match self {
            Bracket::Paren => "(",
            Bracket::Square => "[",
            Bracket::Angle => "<",
        }
    }

    /// The bracket as a closing symbol: `)`, `]` or `>`.
    pub(crate) fn close(self) -> &'static str {
        match self {
            Bracket::Paren => ")",
            Bracket::Square => "]",
            Bracket::Angle => ">",
        }
    }
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

impl RelOp {
    /// The relation as printed: `=`, `<`, `<=`, `>`, `>=`, `!=` or `in`.
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            RelOp::Eq => "=",
            RelOp::Lt => "<",
            RelOp::Le => "<=",
            RelOp::Gt => ">",
            RelOp::Ge => ">=",
            RelOp::Ne => "!=",
            RelOp::In => "in",
        }
    }
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
        let list = comma_separated::<Node>;
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
                write!(f, "{}{}{}", open.open(), list(items), close.close())
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
                    write!(f, " {} {n}", op.symbol())?;
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
