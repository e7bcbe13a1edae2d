//! Functions of answers: `\sqrt`, logarithms, factorials, `\gcd`, and the exact values of
//! trigonometric functions at multiples of 15 degrees.

use std::cmp::Ordering;

use num_bigint::BigInt;
use num_traits::{One, Signed, ToPrimitive, Zero};

use super::{Evaluator, Scalar, Value};
use crate::limits::MAX_EXPONENT;
use crate::number::{Atom, Budget, EvalError, EvalResult, Num, Q, binomial, factorial, gcd};
use crate::parse::{Func, Node, SetKind};

impl Evaluator<'_> {
    pub(super) fn func(&mut self, f: Func, args: &[Node]) -> EvalResult<Value> {
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
