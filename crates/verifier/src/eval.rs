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

use std::cmp::Ordering;
use std::fmt;

use num_bigint::BigInt;
use num_traits::{One, Signed, ToPrimitive, Zero};

use crate::limits::{MAX_EXPONENT, MAX_ITEMS};
use crate::number::{Atom, Budget, Coef, EvalError, EvalResult, Num, Q, binomial, factorial, gcd};
use crate::parse::{Bracket, Func, Node, RelOp, SetKind};

/// An exact scalar `num / den` (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct Scalar {
    pub(crate) num: Num,
    pub(crate) den: Num,
}

impl Scalar {
    pub(crate) fn from_num(num: Num) -> Self {
        Scalar {
            num,
            den: Num::one(),
        }
    }

    pub(crate) fn rational(q: Q) -> Self {
        Scalar::from_num(Num::rational(q))
    }

    fn integer(n: i64) -> Self {
        Scalar::from_num(Num::integer(n))
    }

    pub(crate) fn is_plain(&self) -> bool {
        self.den == Num::one()
    }

    /// Brings `num / den` to the canonical form described in the module docs.
    fn new(mut num: Num, mut den: Num, b: &mut Budget) -> EvalResult<Self> {
        if den.is_zero() {
            return Err(EvalError::DivisionByZero);
        }
        if num.is_zero() {
            return Ok(Scalar::from_num(Num::zero()));
        }
        for _ in 0..8 {
            if let Some(inv) = den.inverse(b)? {
                return Ok(Scalar::from_num(num.mul(&inv, b)?));
            }
            match den.rationalising_factor(b)? {
                Some(f) => {
                    num = num.mul(&f, b)?;
                    den = den.mul(&f, b)?;
                }
                None => break,
            }
        }
        if let Some(k) = num.ratio_to(&den) {
            return Ok(Scalar::from_num(Num::from_coef(k)));
        }
        // Scale so that the denominator's first coefficient is 1.
        if let Some((_, c)) = den.leading() {
            let inv = Num::from_coef(invert(c, b)?);
            num = num.mul(&inv, b)?;
            den = den.mul(&inv, b)?;
        }
        Ok(Scalar { num, den })
    }

    pub(crate) fn as_rational(&self) -> Option<Q> {
        if self.is_plain() {
            self.num.as_rational()
        } else {
            None
        }
    }

    fn as_integer(&self) -> Option<BigInt> {
        if self.is_plain() {
            self.num.as_integer()
        } else {
            None
        }
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.num.is_zero()
    }

    fn add(&self, o: &Scalar, b: &mut Budget) -> EvalResult<Scalar> {
        if self.is_plain() && o.is_plain() {
            return Ok(Scalar::from_num(self.num.add(&o.num, b)?));
        }
        let num = self.num.mul(&o.den, b)?.add(&o.num.mul(&self.den, b)?, b)?;
        Scalar::new(num, self.den.mul(&o.den, b)?, b)
    }

    fn neg(&self) -> Scalar {
        Scalar {
            num: self.num.neg(),
            den: self.den.clone(),
        }
    }

    pub(crate) fn sub(&self, o: &Scalar, b: &mut Budget) -> EvalResult<Scalar> {
        self.add(&o.neg(), b)
    }

    pub(crate) fn mul(&self, o: &Scalar, b: &mut Budget) -> EvalResult<Scalar> {
        if self.is_plain() && o.is_plain() {
            return Ok(Scalar::from_num(self.num.mul(&o.num, b)?));
        }
        Scalar::new(self.num.mul(&o.num, b)?, self.den.mul(&o.den, b)?, b)
    }

    pub(crate) fn div(&self, o: &Scalar, b: &mut Budget) -> EvalResult<Scalar> {
        if o.is_zero() {
            return Err(EvalError::DivisionByZero);
        }
        Scalar::new(self.num.mul(&o.den, b)?, self.den.mul(&o.num, b)?, b)
    }

    /// Exact equality (see the module docs).
    pub(crate) fn equals(&self, o: &Scalar, b: &mut Budget) -> EvalResult<bool> {
        if self.is_plain() && o.is_plain() {
            return Ok(self.num == o.num);
        }
        Ok(self.num.mul(&o.den, b)? == o.num.mul(&self.den, b)?)
    }

    fn approx(&self) -> Option<(f64, f64)> {
        let (a, b) = self.num.approx()?;
        let (c, d) = self.den.approx()?;
        let n = c * c + d * d;
        (n != 0.0).then(|| ((a * c + b * d) / n, (b * c - a * d) / n))
    }

    /// Order of two real scalars; `None` when not comparable here.
    pub(crate) fn cmp_real(&self, o: &Scalar, b: &mut Budget) -> Option<Ordering> {
        if self.equals(o, b).ok()? {
            return Some(Ordering::Equal);
        }
        if self.is_plain() && o.is_plain() {
            return self.num.cmp_real(&o.num);
        }
        let (x, xi) = self.approx()?;
        let (y, yi) = o.approx()?;
        if xi.abs() > 1e-12 * x.abs().max(1.0) || yi.abs() > 1e-12 * y.abs().max(1.0) {
            return None;
        }
        x.partial_cmp(&y)
    }

    /// Sign of a real scalar.
    fn sign(&self, b: &mut Budget) -> Option<Ordering> {
        self.cmp_real(&Scalar::integer(0), b)
    }

    fn opaque(name: &str, args: &[&Scalar]) -> Scalar {
        let inner: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Scalar::from_num(Num::opaque(format!("{name}({})", inner.join(", "))))
    }

    /// `self^e`, exactly where possible, otherwise as an opaque power.
    fn pow(&self, e: &Scalar, b: &mut Budget) -> EvalResult<Scalar> {
        if let Some(r) = e.as_rational() {
            if r.is_integer() {
                let n = r.numer().to_i64().filter(|n| n.abs() <= MAX_EXPONENT);
                let n = n.ok_or(EvalError::TooLarge("exponent"))?;
                let k = n.unsigned_abs();
                let p = Scalar::new(self.num.pow_u(k, b)?, self.den.pow_u(k, b)?, b)?;
                return if n >= 0 {
                    Ok(p)
                } else {
                    Scalar::integer(1).div(&p, b)
                };
            }
            if self.is_zero() {
                return if r.is_positive() {
                    Ok(Scalar::integer(0))
                } else {
                    Err(EvalError::DivisionByZero)
                };
            }
            if let (Some(n), Some(d)) =
                (self.num.pow_rational(&r, b)?, self.den.pow_rational(&r, b)?)
            {
                return Scalar::new(n, d, b);
            }
            return Ok(Scalar::opaque("pow", &[self, e]));
        }
        // Irrational exponent: b^x = e^(x ln b) when that simplifies (2^(log_2 5) = 5).
        if self.is_plain() && e.is_plain() {
            let ln = if self.num == Num::atom(Atom::E) {
                Some(Num::one())
            } else {
                self.num.ln(b)?
            };
            if let Some(ln) = ln {
                let y = e.num.mul(&ln, b)?;
                if let Some(v) = y.exp(b)? {
                    return Ok(Scalar::from_num(v));
                }
            }
        }
        Ok(Scalar::opaque("pow", &[self, e]))
    }

    fn ln(&self, b: &mut Budget) -> EvalResult<Scalar> {
        if self.is_zero() {
            return Err(EvalError::Undefined("ln(0)"));
        }
        if let (Some(n), Some(d)) = (self.num.ln(b)?, self.den.ln(b)?) {
            return Ok(Scalar::from_num(n.sub(&d, b)?));
        }
        Ok(Scalar::opaque("ln", &[self]))
    }
}

fn invert(c: &Coef, b: &mut Budget) -> EvalResult<Coef> {
    let n = Num::from_coef(c.clone());
    let inv = n.inverse(b)?.ok_or(EvalError::DivisionByZero)?;
    inv.leading()
        .map(|(_, c)| c.clone())
        .ok_or(EvalError::DivisionByZero)
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_plain() {
            write!(f, "{}", self.num)
        } else {
            write!(f, "({})/({})", self.num, self.den)
        }
    }
}

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
        let join = |items: &[Value]| {
            items
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Value::Scalar(s) => write!(f, "{s}"),
            Value::Infinity { negative } => write!(f, "{}oo", if *negative { "-" } else { "" }),
            Value::Based { digits, base, .. } => write!(f, "{digits}_{base}"),
            Value::Tuple { open, close, items } => {
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
                write!(f, "{o}{}{c}", join(items))
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
                    let o = match op {
                        RelOp::Eq => "=",
                        RelOp::Lt => "<",
                        RelOp::Le => "<=",
                        RelOp::Gt => ">",
                        RelOp::Ge => ">=",
                        RelOp::Ne => "!=",
                        RelOp::In => "in",
                    };
                    write!(f, " {o} {side}")?;
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
            Node::Set(kind, items) => {
                let mut out = Vec::with_capacity(items.len());
                for n in items {
                    match self.eval(n)? {
                        Value::Set {
                            kind: SetKind::Alternatives,
                            items,
                        } => out.extend(items),
                        v => out.push(v),
                    }
                    if out.len() > MAX_ITEMS {
                        return Err(EvalError::TooLarge("set"));
                    }
                }
                Value::Set {
                    kind: *kind,
                    items: out,
                }
            }
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
            ) => {
                let mut out = Vec::with_capacity(items.len());
                for v in items {
                    match self.lift(v, other.clone(), op)? {
                        Value::Set {
                            kind: SetKind::Alternatives,
                            items,
                        } => out.extend(items),
                        v => out.push(v),
                    }
                    if out.len() > MAX_ITEMS {
                        return Err(EvalError::TooLarge("alternatives"));
                    }
                }
                Ok(Value::Set {
                    kind: SetKind::Alternatives,
                    items: out,
                })
            }
            (
                other,
                Value::Set {
                    kind: SetKind::Alternatives,
                    items,
                },
            ) => {
                let mut out = Vec::with_capacity(items.len());
                for v in items {
                    match self.lift(other.clone(), v, op)? {
                        Value::Set {
                            kind: SetKind::Alternatives,
                            items,
                        } => out.extend(items),
                        v => out.push(v),
                    }
                    if out.len() > MAX_ITEMS {
                        return Err(EvalError::TooLarge("alternatives"));
                    }
                }
                Ok(Value::Set {
                    kind: SetKind::Alternatives,
                    items: out,
                })
            }
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

    fn func(&mut self, f: Func, args: &[Node]) -> EvalResult<Value> {
        // Functions of several arguments accept a tuple too: \gcd(12, 18).
        let multi = |args: &[Node]| -> Vec<Node> {
            match args {
                [Node::Tuple { items, .. }] => items.clone(),
                [Node::Set(SetKind::Bare, items)] => items.clone(),
                other => other.to_vec(),
            }
        };
        match f {
            Func::Gcd | Func::Lcm => {
                let items = multi(args);
                let mut acc: Option<BigInt> = None;
                for n in &items {
                    let v = self.integer_arg(n)?.abs();
                    acc = Some(match acc {
                        None => v,
                        Some(a) if f == Func::Gcd => gcd(&a, &v),
                        Some(a) => {
                            let g = gcd(&a, &v);
                            if g.is_zero() {
                                BigInt::zero()
                            } else {
                                &a / g * &v
                            }
                        }
                    });
                }
                let v = acc.ok_or(EvalError::Undefined("gcd of nothing"))?;
                Ok(Value::Scalar(Scalar::rational(Q::from_integer(v))))
            }
            Func::Max | Func::Min => {
                let items = multi(args);
                let mut best: Option<Scalar> = None;
                for n in &items {
                    let v = self.scalar(n)?;
                    best = Some(match best {
                        None => v,
                        Some(b) => {
                            let ord = v
                                .cmp_real(&b, self.budget)
                                .ok_or(EvalError::Undefined("max of non-reals"))?;
                            let take = if f == Func::Max {
                                ord == Ordering::Greater
                            } else {
                                ord == Ordering::Less
                            };
                            if take { v } else { b }
                        }
                    });
                }
                Ok(Value::Scalar(
                    best.ok_or(EvalError::Undefined("max of nothing"))?,
                ))
            }
            _ => self.func_scalar(f, args),
        }
    }

    fn func_scalar(&mut self, f: Func, args: &[Node]) -> EvalResult<Value> {
        // Trigonometric arguments written in degrees: \sin 30^\circ.
        let angle_of = |this: &mut Self, n: &Node| -> EvalResult<Value> {
            match n {
                Node::Degrees(inner) => {
                    let deg = this.eval(inner)?;
                    let factor = Value::Scalar(Scalar::from_num(
                        Num::atom(Atom::Pi).scale(&Q::new(BigInt::one(), BigInt::from(180)))?,
                    ));
                    this.mul(deg, factor)
                }
                other => this.eval(other),
            }
        };
        match f {
            Func::Sin | Func::Cos | Func::Tan | Func::Cot | Func::Sec | Func::Csc => {
                let v = angle_of(self, &args[0])?;
                self.map1(v, &|b, x| trig(f, x, b))
            }
            Func::Root => {
                let n = self.integer_arg(&args[0])?;
                let n = n
                    .to_i64()
                    .filter(|n| *n >= 1 && *n <= MAX_EXPONENT)
                    .ok_or(EvalError::Undefined("root index"))?;
                let x = self.eval(&args[1])?;
                let e = Scalar::rational(Q::new(BigInt::one(), BigInt::from(n)));
                self.map1(x, &move |b, x| x.pow(&e, b))
            }
            Func::Log => {
                let base = self.eval(&args[0])?;
                let x = self.eval(&args[1])?;
                self.lift(x, base, |b, x, base| {
                    let lb = base.ln(b)?;
                    if lb.is_zero() {
                        return Err(EvalError::Undefined("logarithm base 1"));
                    }
                    x.ln(b)?.div(&lb, b)
                })
            }
            Func::Binom => {
                let n = self.integer_arg(&args[0])?;
                let k = self.integer_arg(&args[1])?;
                let (Some(n), Some(k)) = (n.to_u64(), k.to_u64()) else {
                    return Err(EvalError::Undefined("binomial of negative numbers"));
                };
                Ok(Value::Scalar(Scalar::rational(Q::from_integer(binomial(
                    n, k,
                )?))))
            }
            _ => {
                let x = self.eval(&args[0])?;
                self.map1(x, &move |b, x| unary(f, x, b))
            }
        }
    }

    fn map1(
        &mut self,
        v: Value,
        op: &dyn Fn(&mut Budget, &Scalar) -> EvalResult<Scalar>,
    ) -> EvalResult<Value> {
        match v {
            Value::Scalar(x) => Ok(Value::Scalar(op(self.budget, &x)?)),
            Value::Based { value, .. } => Ok(Value::Scalar(op(self.budget, &value)?)),
            Value::Set {
                kind: SetKind::Alternatives,
                items,
            } => {
                let mut out = Vec::with_capacity(items.len());
                for v in items {
                    out.push(self.map1(v, op)?);
                }
                Ok(Value::Set {
                    kind: SetKind::Alternatives,
                    items: out,
                })
            }
            _ => Err(EvalError::Undefined("function of a non-number")),
        }
    }

    fn relation(&mut self, first: &Node, rest: &[(RelOp, Node)]) -> EvalResult<Value> {
        let mut nodes = vec![first];
        nodes.extend(rest.iter().map(|(_, n)| n));
        let ops: Vec<RelOp> = rest.iter().map(|(op, _)| *op).collect();
        // x \in S is S.
        if let ([RelOp::In], Some(_)) = (ops.as_slice(), first.as_var()) {
            return self.eval(&rest[0].1);
        }
        if ops.contains(&RelOp::In) {
            return Err(EvalError::Undefined("membership"));
        }
        let var_index = nodes.iter().position(|n| n.as_var().is_some());
        let others_constant = |skip: usize| {
            nodes
                .iter()
                .enumerate()
                .all(|(k, n)| k == skip || !n.has_vars())
        };
        let inequality = ops.iter().all(|op| !matches!(op, RelOp::Eq));
        if let Some(vi) = var_index
            && inequality
            && others_constant(vi)
        {
            return self.inequality_to_intervals(&nodes, &ops, vi);
        }
        let sides = nodes
            .iter()
            .map(|n| self.eval(n))
            .collect::<EvalResult<Vec<_>>>()?;
        let normal = if let ([op], [Value::Scalar(l), Value::Scalar(r)]) =
            (ops.as_slice(), sides.as_slice())
        {
            let mut at_ref = Evaluator {
                vars: self.reference,
                reference: self.reference,
                budget: &mut *self.budget,
            };
            let (l0, r0) = (at_ref.scalar(nodes[0])?, at_ref.scalar(nodes[1])?);
            self.normal(*op, l, r, &l0, &r0)?
        } else {
            None
        };
        // A side that is a bare variable absent from the other side: x = 3, y = 2x + 1.
        let var_side = if nodes.len() == 2 {
            (0..2).find(|&k| match nodes[k].as_var() {
                Some(v) => {
                    let mut others = Vec::new();
                    nodes[1 - k].collect_vars(&mut others);
                    !others.iter().any(|o| o == v)
                }
                None => false,
            })
        } else {
            None
        };
        Ok(Value::Relation {
            sides,
            ops,
            var_side,
            normal,
        })
    }

    /// The normal form of `l op r` (see [`Normal`]); `l0`, `r0` are the sides at the reference.
    fn normal(
        &mut self,
        op: RelOp,
        l: &Scalar,
        r: &Scalar,
        l0: &Scalar,
        r0: &Scalar,
    ) -> EvalResult<Option<Normal>> {
        let b = &mut *self.budget;
        let (g, g0, class) = match op {
            RelOp::Eq | RelOp::Ne | RelOp::Gt | RelOp::Ge => (l.sub(r, b)?, l0.sub(r0, b)?, op),
            RelOp::Lt => (r.sub(l, b)?, r0.sub(l0, b)?, RelOp::Gt),
            RelOp::Le => (r.sub(l, b)?, r0.sub(l0, b)?, RelOp::Ge),
            RelOp::In => return Ok(None),
        };
        let s = if g0.is_zero() {
            // The relation holds at the reference point: keep g unscaled.
            Scalar::integer(1)
        } else {
            match class {
                RelOp::Eq | RelOp::Ne => g0,
                _ => match g0.sign(b) {
                    Some(Ordering::Less) => g0.neg(),
                    Some(_) => g0,
                    None => return Ok(None),
                },
            }
        };
        Ok(Some(Normal { class, g, s }))
    }

    fn inequality_to_intervals(
        &mut self,
        nodes: &[&Node],
        ops: &[RelOp],
        vi: usize,
    ) -> EvalResult<Value> {
        let mut lo = Bound {
            value: None,
            closed: false,
        };
        let mut hi = Bound {
            value: None,
            closed: false,
        };
        let mut excluded = Vec::new();
        for (k, op) in ops.iter().enumerate() {
            let (left, right) = (k, k + 1);
            if left != vi && right != vi {
                continue;
            }
            let other = if left == vi { right } else { left };
            let c = self.scalar(nodes[other]);
            let c = match (c, self.eval(nodes[other])) {
                (Ok(c), _) => Some(c),
                (Err(_), Ok(Value::Infinity { .. })) => None,
                (Err(e), _) => return Err(e),
            };
            // Orient as "x op c".
            let op = if left == vi { *op } else { flip(*op) };
            let Some(c) = c else { continue };
            match op {
                RelOp::Lt | RelOp::Le => {
                    let closed = op == RelOp::Le;
                    let tighter = match &hi.value {
                        None => true,
                        Some(h) => {
                            c.cmp_real(h, self.budget)
                                .ok_or(EvalError::Undefined("bound"))?
                                == Ordering::Less
                        }
                    };
                    if tighter {
                        hi = Bound {
                            value: Some(c),
                            closed,
                        };
                    }
                }
                RelOp::Gt | RelOp::Ge => {
                    let closed = op == RelOp::Ge;
                    let tighter = match &lo.value {
                        None => true,
                        Some(l) => {
                            c.cmp_real(l, self.budget)
                                .ok_or(EvalError::Undefined("bound"))?
                                == Ordering::Greater
                        }
                    };
                    if tighter {
                        lo = Bound {
                            value: Some(c),
                            closed,
                        };
                    }
                }
                RelOp::Ne => excluded.push(c),
                RelOp::Eq | RelOp::In => return Err(EvalError::Undefined("mixed relation")),
            }
        }
        let mut parts = self.canonical(vec![Interval { lo, hi }])?;
        for p in excluded {
            parts = self.remove_point(parts, &p)?;
        }
        Ok(Value::Intervals(parts))
    }

    fn interval(
        &mut self,
        open: Bracket,
        close: Bracket,
        a: &Value,
        c: &Value,
    ) -> EvalResult<Option<Interval>> {
        let bound = |v: &Value, lower: bool, closed: bool| -> EvalResult<Bound> {
            match v {
                Value::Scalar(s) => Ok(Bound {
                    value: Some(s.clone()),
                    closed,
                }),
                Value::Infinity { negative } if *negative == lower => Ok(Bound {
                    value: None,
                    closed: false,
                }),
                _ => Err(EvalError::Undefined("interval endpoint")),
            }
        };
        let lo = bound(a, true, open == Bracket::Square)?;
        let hi = bound(c, false, close == Bracket::Square)?;
        let iv = Interval { lo, hi };
        Ok(self.canonical(vec![iv])?.into_iter().next())
    }

    fn as_intervals(&mut self, v: Value) -> EvalResult<Vec<Interval>> {
        match v {
            Value::Intervals(p) => Ok(p),
            Value::Tuple { open, close, items } if items.len() == 2 && open != Bracket::Angle => {
                Ok(self
                    .interval(open, close, &items[0], &items[1])?
                    .into_iter()
                    .collect())
            }
            Value::Set {
                kind: SetKind::Braces,
                items,
            } => {
                // A finite set of points as degenerate closed intervals.
                let mut out = Vec::new();
                for v in items {
                    let Value::Scalar(s) = v else {
                        return Err(EvalError::Undefined("set element"));
                    };
                    out.push(Interval {
                        lo: Bound {
                            value: Some(s.clone()),
                            closed: true,
                        },
                        hi: Bound {
                            value: Some(s),
                            closed: true,
                        },
                    });
                }
                Ok(out)
            }
            _ => Err(EvalError::Undefined("not an interval")),
        }
    }

    fn cmp_lo(&mut self, a: &Bound, c: &Bound) -> EvalResult<Ordering> {
        Ok(match (&a.value, &c.value) {
            (None, None) => Ordering::Equal,
            (None, _) => Ordering::Less,
            (_, None) => Ordering::Greater,
            (Some(x), Some(y)) => x
                .cmp_real(y, self.budget)
                .ok_or(EvalError::Undefined("unordered endpoints"))?,
        })
    }

    fn cmp_hi(&mut self, a: &Bound, c: &Bound) -> EvalResult<Ordering> {
        Ok(match (&a.value, &c.value) {
            (None, None) => Ordering::Equal,
            (None, _) => Ordering::Greater,
            (_, None) => Ordering::Less,
            (Some(x), Some(y)) => x
                .cmp_real(y, self.budget)
                .ok_or(EvalError::Undefined("unordered endpoints"))?,
        })
    }

    /// Compares an upper bound with a lower bound (both finite or infinite).
    fn cmp_hi_lo(&mut self, hi: &Bound, lo: &Bound) -> EvalResult<Ordering> {
        Ok(match (&hi.value, &lo.value) {
            (None, _) | (_, None) => Ordering::Greater,
            (Some(x), Some(y)) => x
                .cmp_real(y, self.budget)
                .ok_or(EvalError::Undefined("unordered endpoints"))?,
        })
    }

    /// Sorts intervals, drops empty ones and merges overlapping or touching ones.
    fn canonical(&mut self, mut parts: Vec<Interval>) -> EvalResult<Vec<Interval>> {
        self.budget.spend(parts.len() as u64 * parts.len() as u64)?;
        let mut kept = Vec::with_capacity(parts.len());
        for iv in parts.drain(..) {
            let ord = self.cmp_hi_lo(&iv.hi, &iv.lo)?;
            let empty = ord == Ordering::Less
                || (ord == Ordering::Equal && !(iv.lo.closed && iv.hi.closed));
            if !empty {
                kept.push(iv);
            }
        }
        // Insertion sort by lower end (lists are short).
        let mut sorted: Vec<Interval> = Vec::with_capacity(kept.len());
        for iv in kept {
            let mut at = sorted.len();
            for (k, s) in sorted.iter().enumerate() {
                if self.cmp_lo(&iv.lo, &s.lo)? == Ordering::Less {
                    at = k;
                    break;
                }
            }
            sorted.insert(at, iv);
        }
        let mut out: Vec<Interval> = Vec::with_capacity(sorted.len());
        for iv in sorted {
            if let Some(last) = out.last_mut() {
                let ord = match (&last.hi.value, &iv.lo.value) {
                    (None, _) | (_, None) => Ordering::Greater,
                    (Some(x), Some(y)) => x
                        .cmp_real(y, self.budget)
                        .ok_or(EvalError::Undefined("unordered endpoints"))?,
                };
                let touches = ord == Ordering::Greater
                    || (ord == Ordering::Equal && (last.hi.closed || iv.lo.closed));
                if touches {
                    let last_hi = last.hi.clone();
                    if self.cmp_hi(&iv.hi, &last_hi)? == Ordering::Greater {
                        last.hi = iv.hi;
                    } else if self.cmp_hi(&iv.hi, &last_hi)? == Ordering::Equal {
                        last.hi.closed |= iv.hi.closed;
                    }
                    if self.cmp_lo(&iv.lo, &last.lo)? == Ordering::Equal {
                        last.lo.closed |= iv.lo.closed;
                    }
                    continue;
                }
            }
            out.push(iv);
        }
        Ok(out)
    }

    fn intersect(&mut self, a: &[Interval], c: &[Interval]) -> EvalResult<Vec<Interval>> {
        let mut out = Vec::new();
        for x in a {
            for y in c {
                let lo = match self.cmp_lo(&x.lo, &y.lo)? {
                    Ordering::Greater => x.lo.clone(),
                    Ordering::Less => y.lo.clone(),
                    Ordering::Equal => Bound {
                        value: x.lo.value.clone(),
                        closed: x.lo.closed && y.lo.closed,
                    },
                };
                let hi = match self.cmp_hi(&x.hi, &y.hi)? {
                    Ordering::Less => x.hi.clone(),
                    Ordering::Greater => y.hi.clone(),
                    Ordering::Equal => Bound {
                        value: x.hi.value.clone(),
                        closed: x.hi.closed && y.hi.closed,
                    },
                };
                out.push(Interval { lo, hi });
            }
        }
        self.canonical(out)
    }

    /// Removes one point from a union of intervals.
    fn remove_point(&mut self, parts: Vec<Interval>, p: &Scalar) -> EvalResult<Vec<Interval>> {
        let point = Bound {
            value: Some(p.clone()),
            closed: true,
        };
        let mut out = Vec::with_capacity(parts.len() + 1);
        for iv in parts {
            let above_lo = self.cmp_lo(&point, &iv.lo)?;
            let below_hi = self.cmp_hi(&point, &iv.hi)?;
            if above_lo == Ordering::Less || below_hi == Ordering::Greater {
                out.push(iv);
                continue;
            }
            let left = Interval {
                lo: iv.lo.clone(),
                hi: Bound {
                    value: Some(p.clone()),
                    closed: false,
                },
            };
            let right = Interval {
                lo: Bound {
                    value: Some(p.clone()),
                    closed: false,
                },
                hi: iv.hi.clone(),
            };
            out.extend(self.canonical(vec![left])?);
            out.extend(self.canonical(vec![right])?);
        }
        Ok(out)
    }
}

fn flip(op: RelOp) -> RelOp {
    match op {
        RelOp::Lt => RelOp::Gt,
        RelOp::Le => RelOp::Ge,
        RelOp::Gt => RelOp::Lt,
        RelOp::Ge => RelOp::Le,
        other => other,
    }
}

fn unary(f: Func, x: &Scalar, b: &mut Budget) -> EvalResult<Scalar> {
    match f {
        Func::Sqrt => x.pow(&Scalar::rational(Q::new(BigInt::one(), BigInt::from(2))), b),
        Func::Ln => x.ln(b),
        Func::Exp => Scalar::from_num(Num::atom(Atom::E)).pow(x, b),
        Func::Factorial => {
            let n = x
                .as_integer()
                .and_then(|n| n.to_u64())
                .ok_or(EvalError::Undefined("factorial"))?;
            Ok(Scalar::rational(Q::from_integer(factorial(n)?)))
        }
        Func::Abs => {
            if let Some(q) = x.as_rational() {
                return Ok(Scalar::rational(q.abs()));
            }
            if x.is_plain() && x.num.len() <= 2 {
                // |a + b i| = sqrt(a^2 + b^2) for rational a, b.
                let re_im = gaussian(&x.num);
                if let Some((re, im)) = re_im {
                    let n2 = Scalar::rational(&re * &re + &im * &im);
                    return unary(Func::Sqrt, &n2, b);
                }
            }
            match x.sign(b) {
                Some(Ordering::Less) => Ok(x.neg()),
                Some(_) => Ok(x.clone()),
                None => Ok(Scalar::opaque("abs", &[x])),
            }
        }
        Func::Floor | Func::Ceil => {
            if let Some(q) = x.as_rational() {
                let v = if f == Func::Floor {
                    q.floor()
                } else {
                    q.ceil()
                };
                return Ok(Scalar::rational(v));
            }
            let (v, im) = x.approx().ok_or(EvalError::Undefined("floor"))?;
            // Safe only when the value is far from an integer and small enough for an f64.
            if im != 0.0 || v.abs() > 1e12 || (v - v.round()).abs() < 1e-6 {
                return Ok(Scalar::opaque(
                    if f == Func::Floor { "floor" } else { "ceil" },
                    &[x],
                ));
            }
            let r = if f == Func::Floor {
                v.floor()
            } else {
                v.ceil()
            };
            Ok(Scalar::rational(Q::from_integer(BigInt::from(r as i64))))
        }
        Func::Asin | Func::Acos | Func::Atan => inverse_trig(f, x, b),
        _ => Err(EvalError::Undefined("function")),
    }
}

/// `(re, im)` when `n` is a Gaussian rational.
fn gaussian(n: &Num) -> Option<(Q, Q)> {
    n.as_gaussian()
}

/// `sin(k * 15 degrees)` for `k` in `0..=6`, exactly.
fn sin_table(k: i64, b: &mut Budget) -> EvalResult<Scalar> {
    let sqrt = |n: i64, b: &mut Budget| -> EvalResult<Num> {
        Num::integer(n)
            .pow_rational(&Q::new(BigInt::one(), BigInt::from(2)), b)?
            .ok_or(EvalError::Undefined("sqrt"))
    };
    let q = |n: i64, d: i64| Q::new(BigInt::from(n), BigInt::from(d));
    let v = match k {
        0 => Num::zero(),
        1 => sqrt(6, b)?.sub(&sqrt(2, b)?, b)?.scale(&q(1, 4))?,
        2 => Num::rational(q(1, 2)),
        3 => sqrt(2, b)?.scale(&q(1, 2))?,
        4 => sqrt(3, b)?.scale(&q(1, 2))?,
        5 => sqrt(6, b)?.add(&sqrt(2, b)?, b)?.scale(&q(1, 4))?,
        _ => Num::one(),
    };
    Ok(Scalar::from_num(v))
}

/// `sin(k pi / 12)` for any integer `k`.
fn sin_twelfths(k: i64, b: &mut Budget) -> EvalResult<Scalar> {
    let k = k.rem_euclid(24);
    let (k, negative) = if k >= 12 { (k - 12, true) } else { (k, false) };
    let k = if k > 6 { 12 - k } else { k };
    let v = sin_table(k, b)?;
    Ok(if negative { v.neg() } else { v })
}

/// If `x = r pi` with `12 r` an integer, returns `12 r`.
fn twelfths_of_pi(x: &Scalar) -> Option<i64> {
    if x.is_zero() {
        return Some(0);
    }
    if !x.is_plain() {
        return None;
    }
    let ratio = x.num.ratio_to(&Num::atom(Atom::Pi))?;
    if !ratio.im.is_zero() {
        return None;
    }
    let k = ratio.re * Q::from_integer(BigInt::from(12));
    if k.is_integer() {
        (k.to_integer() % BigInt::from(24)).to_i64()
    } else {
        None
    }
}

fn trig(f: Func, x: &Scalar, b: &mut Budget) -> EvalResult<Scalar> {
    let name = match f {
        Func::Sin => "sin",
        Func::Cos => "cos",
        Func::Tan => "tan",
        Func::Cot => "cot",
        Func::Sec => "sec",
        _ => "csc",
    };
    let Some(k) = twelfths_of_pi(x) else {
        return Ok(Scalar::opaque(name, &[x]));
    };
    let s = sin_twelfths(k, b)?;
    let c = sin_twelfths(k + 6, b)?;
    let one = Scalar::integer(1);
    match f {
        Func::Sin => Ok(s),
        Func::Cos => Ok(c),
        Func::Tan => s.div(&c, b),
        Func::Cot => c.div(&s, b),
        Func::Sec => one.div(&c, b),
        _ => one.div(&s, b),
    }
}

fn inverse_trig(f: Func, x: &Scalar, b: &mut Budget) -> EvalResult<Scalar> {
    let (range, name): (std::ops::RangeInclusive<i64>, &str) = match f {
        Func::Asin => (-6..=6, "arcsin"),
        Func::Acos => (0..=12, "arccos"),
        _ => (-5..=5, "arctan"),
    };
    for k in range {
        let v = match f {
            Func::Asin => sin_twelfths(k, b)?,
            Func::Acos => sin_twelfths(k + 6, b)?,
            _ => sin_twelfths(k, b)?.div(&sin_twelfths(k + 6, b)?, b)?,
        };
        if v.equals(x, b)? {
            let angle = Num::atom(Atom::Pi).scale(&Q::new(BigInt::from(k), BigInt::from(12)))?;
            return Ok(Scalar::from_num(angle));
        }
    }
    Ok(Scalar::opaque(name, &[x]))
}
