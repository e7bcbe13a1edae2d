//! Evaluation of answer trees to exact values at one assignment of the free variables.
//!
//! ```text
//! value  := scalar | +-inf | numeral_b | tuple | set | matrix | union of intervals
//!         | relation | text
//! scalar := N / D        N, D exact numbers (crate::number), D != 0
//! ```
//!
//! A scalar keeps a denominator only when it cannot be folded away: single-term denominators
//! are inverted, and square roots and `i` are rationalised (`1/(1+sqrt 2) = sqrt 2 - 1`), so
//! most values have the canonical form `N / 1`. Equality of `N1/D1` and `N2/D2` is decided
//! exactly by `N1 D2 = N2 D1`.
//!
//! `\pm` evaluates to a set of alternatives, and arithmetic distributes over it:
//! `\frac{3 \pm \sqrt 5}{2}` is the set of both roots. Inequalities in one variable become
//! intervals (`-2 \le x < 7` is `[-2, 7)`), and `x \in S` is `S`.
//!
//! This file holds the values and the evaluation of each node; [`scalar`] the exact scalars,
//! [`functions`] the functions (`\sqrt`, `\log`, trigonometry at multiples of 15 degrees), and
//! [`relations`] equations, inequalities and the set operations on intervals.

use std::fmt;

use num_bigint::BigInt;

use crate::limits::MAX_ITEMS;
use crate::number::{Atom, Budget, EvalError, EvalResult, Num, Q};
use crate::parse::{Bracket, Node, RelOp, SetKind, comma_separated};

mod functions;
mod relations;
mod scalar;

pub(crate) use scalar::Scalar;

/// One end of an interval: `None` is infinite (below for a lower end, above for an upper end).
#[derive(Clone, Debug)]
pub(crate) struct Bound {
    pub(crate) value: Option<Scalar>,
    pub(crate) closed: bool,
}

/// An interval of real numbers.
#[derive(Clone, Debug)]
pub(crate) struct Interval {
    pub(crate) lo: Bound,
    pub(crate) hi: Bound,
}

/// A two-sided relation `l op r` in normal form `g op' 0` with `op'` one of `=`, `!=`, `>`, `>=`,
/// together with the scale `s` of `g` at the grader's reference point `P0`:
///
/// ```text
/// g = l - r  (for =, !=, >, >=)      g = r - l  (for <, <=, flipped to >, >=)
/// s = g(P0) for = and !=,  |g(P0)| for > and >=   (1 when g(P0) = 0)
/// ```
///
/// Two relations are equivalent when their classes agree and `g1 s2 = g2 s1` at every point,
/// that is `g1 = c g2` with `c = s1 / s2` the same constant everywhere (positive for
/// inequalities). This makes `2y = 4x + 6` equal `y = 2x + 3` and keeps `x = 5` apart from
/// `x = 6`. Cross-multiplying avoids dividing by `s`, which for complex or large values costs
/// far more than two products.
#[derive(Clone, Debug)]
pub(crate) struct Normal {
    pub(crate) class: RelOp,
    pub(crate) g: Scalar,
    pub(crate) s: Scalar,
}

impl Normal {
    /// Whether two normal forms describe the same relation at this point.
    pub(crate) fn same(&self, o: &Normal, b: &mut Budget) -> EvalResult<bool> {
        Ok(self.class == o.class && self.g.mul(&o.s, b)?.equals(&o.g.mul(&self.s, b)?, b)?)
    }
}

/// The exact value of an answer at one assignment of its variables.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    Scalar(Scalar),
    Infinity {
        negative: bool,
    },
    Based {
        digits: String,
        base: u32,
        value: Scalar,
    },
    Tuple {
        open: Bracket,
        close: Bracket,
        items: Vec<Value>,
    },
    /// Unordered: `\{..\}`, a bare list, or the alternatives of `\pm`.
    Set {
        kind: SetKind,
        items: Vec<Value>,
    },
    Matrix(Vec<Vec<Value>>),
    /// A union of disjoint intervals in increasing order.
    Intervals(Vec<Interval>),
    /// `sides[0] ops[0] sides[1] ...`; `var_side` is the index of a side that is a bare
    /// variable not occurring on the other side (`x = 3`, `y = 2x + 1`); `normal` is the
    /// normal form of a two-sided relation (see [`Normal`]).
    Relation {
        sides: Vec<Value>,
        ops: Vec<RelOp>,
        var_side: Option<usize>,
        normal: Option<Normal>,
    },
    Text(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = comma_separated::<Value>;
        match self {
            Value::Scalar(s) => write!(f, "{s}"),
            Value::Infinity { negative } => write!(f, "{}oo", if *negative { "-" } else { "" }),
            Value::Based { digits, base, .. } => write!(f, "{digits}_{base}"),
            Value::Tuple { open, close, items } => {
                write!(f, "{}{}{}", open.open(), join(items), close.close())
            }
            Value::Set {
                kind: SetKind::Bare,
                items,
            } => write!(f, "{}", join(items)),
            Value::Set { items, .. } => write!(f, "{{{}}}", join(items)),
            Value::Matrix(rows) => {
                let rows: Vec<String> = rows.iter().map(|r| format!("[{}]", join(r))).collect();
                write!(f, "[{}]", rows.join(", "))
            }
            Value::Intervals(parts) => {
                if parts.is_empty() {
                    return write!(f, "{{}}");
                }
                let shown: Vec<String> = parts
                    .iter()
                    .map(|iv| {
                        let lo = iv
                            .lo
                            .value
                            .as_ref()
                            .map_or("-oo".to_string(), |v| v.to_string());
                        let hi = iv
                            .hi
                            .value
                            .as_ref()
                            .map_or("oo".to_string(), |v| v.to_string());
                        format!(
                            "{}{lo}, {hi}{}",
                            if iv.lo.closed { "[" } else { "(" },
                            if iv.hi.closed { "]" } else { ")" }
                        )
                    })
                    .collect();
                write!(f, "{}", shown.join(" U "))
            }
            Value::Relation { sides, ops, .. } => {
                write!(f, "{}", sides[0])?;
                for (op, side) in ops.iter().zip(&sides[1..]) {
                    write!(f, " {} {side}", op.symbol())?;
                }
                Ok(())
            }
            Value::Text(t) => write!(f, "\"{t}\""),
        }
    }
}

/// Evaluates trees with the variables bound to exact rationals.
pub(crate) struct Evaluator<'a> {
    pub(crate) vars: &'a [(String, Q)],
    /// The grader's first point, at which relations are normalised (see [`Normal`]).
    pub(crate) reference: &'a [(String, Q)],
    pub(crate) budget: &'a mut Budget,
}

impl Evaluator<'_> {
    pub(crate) fn eval(&mut self, node: &Node) -> EvalResult<Value> {
        self.budget.spend(1)?;
        Ok(match node {
            Node::Num(q) => Value::Scalar(Scalar::rational(q.clone())),
            Node::Based { digits, base } => {
                let n = BigInt::parse_bytes(digits.as_bytes(), *base)
                    .ok_or(EvalError::Undefined("numeral"))?;
                if n.bits() > crate::limits::MAX_BITS {
                    return Err(EvalError::TooLarge("numeral"));
                }
                Value::Based {
                    digits: digits.clone(),
                    base: *base,
                    value: Scalar::rational(Q::from_integer(n)),
                }
            }
            Node::Var(v) => {
                let q = self
                    .vars
                    .iter()
                    .find(|(n, _)| n == v)
                    .map(|(_, q)| q.clone());
                Value::Scalar(Scalar::rational(
                    q.ok_or(EvalError::Undefined("unbound variable"))?,
                ))
            }
            Node::Pi => Value::Scalar(Scalar::from_num(Num::atom(Atom::Pi))),
            Node::E => Value::Scalar(Scalar::from_num(Num::atom(Atom::E))),
            Node::I => Value::Scalar(Scalar::from_num(Num::i())),
            Node::Infinity => Value::Infinity { negative: false },
            Node::Reals => Value::Intervals(vec![Interval {
                lo: Bound {
                    value: None,
                    closed: false,
                },
                hi: Bound {
                    value: None,
                    closed: false,
                },
            }]),
            Node::Neg(a) => {
                let v = self.eval(a)?;
                self.neg(v)?
            }
            Node::Add(terms) => {
                let mut acc = self.eval(&terms[0])?;
                for t in &terms[1..] {
                    let v = self.eval(t)?;
                    acc = self.lift(acc, v, |s, a, b| a.add(b, s))?;
                }
                acc
            }
            Node::Mul(factors) => {
                let mut acc = self.eval(&factors[0])?;
                for t in &factors[1..] {
                    let v = self.eval(t)?;
                    acc = self.mul(acc, v)?;
                }
                acc
            }
            Node::Div(a, d) => {
                let (a, d) = (self.eval(a)?, self.eval(d)?);
                match (a, d) {
                    (Value::Tuple { open, close, items }, Value::Scalar(s)) => {
                        let items = items
                            .into_iter()
                            .map(|v| self.lift(v, Value::Scalar(s.clone()), |b, x, y| x.div(y, b)))
                            .collect::<EvalResult<_>>()?;
                        Value::Tuple { open, close, items }
                    }
                    (Value::Matrix(rows), Value::Scalar(s)) => {
                        let mut out = Vec::with_capacity(rows.len());
                        for row in rows {
                            let r = row
                                .into_iter()
                                .map(|v| {
                                    self.lift(v, Value::Scalar(s.clone()), |b, x, y| x.div(y, b))
                                })
                                .collect::<EvalResult<_>>()?;
                            out.push(r);
                        }
                        Value::Matrix(out)
                    }
                    (a, d) => self.lift(a, d, |b, x, y| x.div(y, b))?,
                }
            }
            Node::Pow(base, e) => {
                let (base, e) = (self.eval(base)?, self.eval(e)?);
                self.lift(base, e, |b, x, y| x.pow(y, b))?
            }
            Node::PlusMinus(a, c) => {
                let (a, c) = (self.eval(a)?, self.eval(c)?);
                let plus = self.lift(a.clone(), c.clone(), |b, x, y| x.add(y, b))?;
                let minus = self.lift(a, c, |b, x, y| x.sub(y, b))?;
                let mut items = Vec::new();
                for v in [plus, minus] {
                    match v {
                        Value::Set {
                            kind: SetKind::Alternatives,
                            items: inner,
                        } => items.extend(inner),
                        other => items.push(other),
                    }
                }
                Value::Set {
                    kind: SetKind::Alternatives,
                    items,
                }
            }
            Node::Func(f, args) => self.func(*f, args)?,
            Node::Degrees(a) | Node::Percent(a) => self.eval(a)?,
            Node::Tuple { open, close, items } => {
                let items = items
                    .iter()
                    .map(|n| self.eval(n))
                    .collect::<EvalResult<Vec<_>>>()?;
                let has_inf = items.iter().any(|v| matches!(v, Value::Infinity { .. }));
                if items.len() == 2 && (open != close || has_inf) && *open != Bracket::Angle {
                    let iv = self.interval(*open, *close, &items[0], &items[1])?;
                    Value::Intervals(iv.into_iter().collect())
                } else {
                    Value::Tuple {
                        open: *open,
                        close: *close,
                        items,
                    }
                }
            }
            Node::Set(kind, items) => Value::Set {
                kind: *kind,
                items: self.flatten(items.iter(), "set", |this, n| this.eval(n))?,
            },
            Node::Matrix(rows) => {
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let r = row
                        .iter()
                        .map(|n| self.eval(n))
                        .collect::<EvalResult<Vec<_>>>()?;
                    if !r.iter().all(|v| matches!(v, Value::Scalar(_))) {
                        return Err(EvalError::Undefined("matrix entry"));
                    }
                    out.push(r);
                }
                Value::Matrix(out)
            }
            Node::Relation(first, rest) => self.relation(first, rest)?,
            Node::Union(parts) => {
                let mut all = Vec::new();
                for p in parts {
                    let v = self.eval(p)?;
                    all.extend(self.as_intervals(v)?);
                }
                Value::Intervals(self.canonical(all)?)
            }
            Node::Intersection(parts) => {
                let mut acc = self.eval(&parts[0])?;
                acc = Value::Intervals(self.as_intervals(acc)?);
                for p in &parts[1..] {
                    let v = self.eval(p)?;
                    let (Value::Intervals(a), b) = (acc, self.as_intervals(v)?) else {
                        return Err(EvalError::Undefined("intersection"));
                    };
                    acc = Value::Intervals(self.intersect(&a, &b)?);
                }
                acc
            }
            Node::SetMinus(a, c) => {
                let a = self.eval(a)?;
                let mut parts = self.as_intervals(a)?;
                let points = match self.eval(c)? {
                    Value::Set { items, .. } => items,
                    v @ Value::Scalar(_) => vec![v],
                    _ => return Err(EvalError::Undefined("set difference")),
                };
                for p in points {
                    let Value::Scalar(p) = p else {
                        return Err(EvalError::Undefined("set difference"));
                    };
                    parts = self.remove_point(parts, &p)?;
                }
                Value::Intervals(parts)
            }
            Node::Text(t) => Value::Text(t.clone()),
        })
    }

    fn neg(&mut self, v: Value) -> EvalResult<Value> {
        Ok(match v {
            Value::Scalar(s) => Value::Scalar(s.neg()),
            Value::Infinity { negative } => Value::Infinity {
                negative: !negative,
            },
            Value::Set {
                kind: SetKind::Alternatives,
                items,
            } => Value::Set {
                kind: SetKind::Alternatives,
                items: items
                    .into_iter()
                    .map(|v| self.neg(v))
                    .collect::<EvalResult<_>>()?,
            },
            Value::Tuple { open, close, items } => Value::Tuple {
                open,
                close,
                items: items
                    .into_iter()
                    .map(|v| self.neg(v))
                    .collect::<EvalResult<_>>()?,
            },
            Value::Matrix(rows) => Value::Matrix(
                rows.into_iter()
                    .map(|r| {
                        r.into_iter()
                            .map(|v| self.neg(v))
                            .collect::<EvalResult<_>>()
                    })
                    .collect::<EvalResult<_>>()?,
            ),
            _ => return Err(EvalError::Undefined("negation")),
        })
    }

    /// Multiplication, which also scales vectors and matrices by a scalar.
    fn mul(&mut self, a: Value, c: Value) -> EvalResult<Value> {
        match (a, c) {
            (Value::Scalar(s), Value::Tuple { open, close, items })
            | (Value::Tuple { open, close, items }, Value::Scalar(s)) => {
                let items = items
                    .into_iter()
                    .map(|v| self.lift(Value::Scalar(s.clone()), v, |b, x, y| x.mul(y, b)))
                    .collect::<EvalResult<_>>()?;
                Ok(Value::Tuple { open, close, items })
            }
            (Value::Scalar(s), Value::Matrix(rows)) | (Value::Matrix(rows), Value::Scalar(s)) => {
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    out.push(
                        row.into_iter()
                            .map(|v| self.lift(Value::Scalar(s.clone()), v, |b, x, y| x.mul(y, b)))
                            .collect::<EvalResult<_>>()?,
                    );
                }
                Ok(Value::Matrix(out))
            }
            (a, c) => self.lift(a, c, |b, x, y| x.mul(y, b)),
        }
    }

    /// Applies `f` to each item, flattening the alternatives (`\pm`) that `f` returns into
    /// the list; more than `MAX_ITEMS` results are [`EvalError::TooLarge`] naming `what`.
    fn flatten<T>(
        &mut self,
        items: impl ExactSizeIterator<Item = T>,
        what: &'static str,
        mut f: impl FnMut(&mut Self, T) -> EvalResult<Value>,
    ) -> EvalResult<Vec<Value>> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match f(self, item)? {
                Value::Set {
                    kind: SetKind::Alternatives,
                    items,
                } => out.extend(items),
                v => out.push(v),
            }
            if out.len() > MAX_ITEMS {
                return Err(EvalError::TooLarge(what));
            }
        }
        Ok(out)
    }

    /// Applies a scalar operation, distributing over `\pm` alternatives.
    fn lift(
        &mut self,
        a: Value,
        c: Value,
        op: fn(&mut Budget, &Scalar, &Scalar) -> EvalResult<Scalar>,
    ) -> EvalResult<Value> {
        match (a, c) {
            (Value::Scalar(x), Value::Scalar(y)) => Ok(Value::Scalar(op(self.budget, &x, &y)?)),
            (Value::Based { value, .. }, other) => self.lift(Value::Scalar(value), other, op),
            (other, Value::Based { value, .. }) => self.lift(other, Value::Scalar(value), op),
            (
                Value::Set {
                    kind: SetKind::Alternatives,
                    items,
                },
                other,
            ) => Ok(Value::Set {
                kind: SetKind::Alternatives,
                items: self.flatten(items.into_iter(), "alternatives", |this, v| {
                    this.lift(v, other.clone(), op)
                })?,
            }),
            (
                other,
                Value::Set {
                    kind: SetKind::Alternatives,
                    items,
                },
            ) => Ok(Value::Set {
                kind: SetKind::Alternatives,
                items: self.flatten(items.into_iter(), "alternatives", |this, v| {
                    this.lift(other.clone(), v, op)
                })?,
            }),
            _ => Err(EvalError::Undefined("arithmetic on a non-number")),
        }
    }

    fn scalar(&mut self, node: &Node) -> EvalResult<Scalar> {
        match self.eval(node)? {
            Value::Scalar(s) => Ok(s),
            Value::Based { value, .. } => Ok(value),
            _ => Err(EvalError::Undefined("expected a number")),
        }
    }

    fn integer_arg(&mut self, node: &Node) -> EvalResult<BigInt> {
        self.scalar(node)?
            .as_integer()
            .ok_or(EvalError::Undefined("expected an integer"))
    }
}
