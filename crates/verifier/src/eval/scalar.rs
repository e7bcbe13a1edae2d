//! Exact scalars `N / D` in the canonical form of the module docs, and their arithmetic.

use std::cmp::Ordering;
use std::fmt;

use num_bigint::BigInt;
use num_traits::{Signed, ToPrimitive};

use crate::limits::MAX_EXPONENT;
use crate::number::{Atom, Budget, Coef, EvalError, EvalResult, Num, Q};

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

    pub(super) fn integer(n: i64) -> Self {
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

    pub(super) fn as_integer(&self) -> Option<BigInt> {
        if self.is_plain() {
            self.num.as_integer()
        } else {
            None
        }
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.num.is_zero()
    }

    pub(super) fn add(&self, o: &Scalar, b: &mut Budget) -> EvalResult<Scalar> {
        if self.is_plain() && o.is_plain() {
            return Ok(Scalar::from_num(self.num.add(&o.num, b)?));
        }
        let num = self.num.mul(&o.den, b)?.add(&o.num.mul(&self.den, b)?, b)?;
        Scalar::new(num, self.den.mul(&o.den, b)?, b)
    }

    pub(super) fn neg(&self) -> Scalar {
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

    pub(super) fn approx(&self) -> Option<(f64, f64)> {
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
    pub(super) fn sign(&self, b: &mut Budget) -> Option<Ordering> {
        self.cmp_real(&Scalar::integer(0), b)
    }

    pub(super) fn opaque(name: &str, args: &[&Scalar]) -> Scalar {
        let inner: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Scalar::from_num(Num::opaque(format!("{name}({})", inner.join(", "))))
    }

    /// `self^e`, exactly where possible, otherwise as an opaque power.
    pub(super) fn pow(&self, e: &Scalar, b: &mut Budget) -> EvalResult<Scalar> {
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

    pub(super) fn ln(&self, b: &mut Budget) -> EvalResult<Scalar> {
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
