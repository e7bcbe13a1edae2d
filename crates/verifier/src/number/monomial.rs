//! Monomials: products of prime radicals `p^(r_p)` and transcendental atoms `t_j^(s_j)` (see
//! the module docs of `number`), with their products, powers and printing.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use num_bigint::BigInt;
use num_traits::{One, Zero};

use super::{EvalError, EvalResult, Exp, Q, check_bits, exp_add, exp_mul};
use crate::limits::MAX_BITS;

/// `p^k` for an integer `k` (negative allowed), refusing results above [`MAX_BITS`].
fn prime_power(p: u64, k: i64) -> EvalResult<Q> {
    let bits = (64 - p.leading_zeros()) as u64;
    if bits.saturating_mul(k.unsigned_abs()) > MAX_BITS + 64 {
        return Err(EvalError::TooLarge("power"));
    }
    let v = num_traits::pow(BigInt::from(p), k.unsigned_abs() as usize);
    Ok(if k >= 0 {
        Q::from_integer(v)
    } else {
        Q::new(BigInt::one(), v)
    })
}

/// A transcendental (or at least unsimplified) factor of a monomial.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Atom {
    /// The circle constant.
    Pi,
    /// Euler's number.
    E,
    /// The natural logarithm of a prime.
    Ln(u64),
    /// A value this crate cannot simplify, e.g. `sin(1)`, keyed by its canonical text.
    Opaque(Box<str>),
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Pi => write!(f, "pi"),
            Atom::E => write!(f, "e"),
            Atom::Ln(p) => write!(f, "ln({p})"),
            Atom::Opaque(s) => write!(f, "{s}"),
        }
    }
}

/// A product of prime radicals and atoms with rational exponents (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Monomial {
    /// Primes in increasing order, each with an exponent strictly between 0 and 1.
    pub(super) radicals: Vec<(u64, Exp)>,
    /// Atoms in increasing order, each with a non-zero exponent.
    pub(super) atoms: Vec<(Atom, Exp)>,
}

impl Monomial {
    pub(super) fn is_one(&self) -> bool {
        self.radicals.is_empty() && self.atoms.is_empty()
    }

    pub(super) fn atom(a: Atom, e: Exp) -> Self {
        Monomial {
            radicals: Vec::new(),
            atoms: vec![(a, e)],
        }
    }

    /// Builds the canonical monomial of `prod p^e`; integer parts go into the returned factor.
    pub(super) fn from_prime_powers(
        powers: BTreeMap<u64, Exp>,
        atoms: Vec<(Atom, Exp)>,
    ) -> EvalResult<(Q, Self)> {
        let mut factor = Q::one();
        let mut radicals = Vec::new();
        for (p, e) in powers {
            let whole = e.floor().to_integer();
            let frac = e - Exp::from_integer(whole);
            if whole != 0 {
                factor *= prime_power(p, whole)?;
                check_bits(&factor)?;
            }
            if !frac.is_zero() {
                radicals.push((p, frac));
            }
        }
        Ok((factor, Monomial { radicals, atoms }))
    }

    pub(super) fn mul(&self, other: &Monomial) -> EvalResult<(Q, Monomial)> {
        if other.is_one() {
            return Ok((Q::one(), self.clone()));
        }
        if self.is_one() {
            return Ok((Q::one(), other.clone()));
        }
        // Both lists are sorted: merge them, adding exponents of equal keys.
        let mut factor = Q::one();
        let mut radicals = Vec::with_capacity(self.radicals.len() + other.radicals.len());
        for item in merge_sorted(&self.radicals, &other.radicals) {
            let (p, e) = match item {
                Merged::One(p, e) => (p, e),
                Merged::Both(p, a, b) => (p, exp_add(a, b)?),
            };
            // Each exponent is below 1, so the sum is below 2.
            if e >= Exp::one() {
                factor *= Q::from_integer(BigInt::from(p));
                let rest = e - Exp::one();
                if !rest.is_zero() {
                    radicals.push((p, rest));
                }
            } else if !e.is_zero() {
                radicals.push((p, e));
            }
        }
        let mut atoms = Vec::with_capacity(self.atoms.len() + other.atoms.len());
        for item in merge_sorted(&self.atoms, &other.atoms) {
            match item {
                Merged::One(a, e) => atoms.push((a, e)),
                Merged::Both(a, x, y) => {
                    let e = exp_add(x, y)?;
                    if !e.is_zero() {
                        atoms.push((a, e));
                    }
                }
            }
        }
        Ok((factor, Monomial { radicals, atoms }))
    }

    /// Raises the monomial to a rational power (all factors are treated as positive reals).
    pub(super) fn pow(&self, r: Exp) -> EvalResult<(Q, Monomial)> {
        let mut powers = BTreeMap::new();
        for (p, e) in &self.radicals {
            powers.insert(*p, exp_mul(*e, r)?);
        }
        let mut atoms = Vec::with_capacity(self.atoms.len());
        for (a, e) in &self.atoms {
            let e = exp_mul(*e, r)?;
            if !e.is_zero() {
                atoms.push((a.clone(), e));
            }
        }
        Monomial::from_prime_powers(powers, atoms)
    }

    pub(super) fn approx(&self) -> Option<f64> {
        let mut v = 1.0f64;
        for (p, e) in &self.radicals {
            v *= (*p as f64).powf(exp_f64(*e));
        }
        for (a, e) in &self.atoms {
            let base = match a {
                Atom::Pi => std::f64::consts::PI,
                Atom::E => std::f64::consts::E,
                Atom::Ln(p) => (*p as f64).ln(),
                Atom::Opaque(_) => return None,
            };
            v *= base.powf(exp_f64(*e));
        }
        Some(v)
    }
}

/// One step of merging two sorted `(key, exponent)` lists.
enum Merged<K> {
    One(K, Exp),
    Both(K, Exp, Exp),
}

fn merge_sorted<K: Ord + Clone>(a: &[(K, Exp)], b: &[(K, Exp)]) -> Vec<Merged<K>> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let ord = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.0.cmp(&y.0),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match ord {
            Ordering::Less => {
                out.push(Merged::One(a[i].0.clone(), a[i].1));
                i += 1;
            }
            Ordering::Greater => {
                out.push(Merged::One(b[j].0.clone(), b[j].1));
                j += 1;
            }
            Ordering::Equal => {
                out.push(Merged::Both(a[i].0.clone(), a[i].1, b[j].1));
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn exp_f64(e: Exp) -> f64 {
    *e.numer() as f64 / *e.denom() as f64
}

impl fmt::Display for Monomial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        // Square roots of several primes read best as one square root: sqrt(6), not sqrt(2)sqrt(3).
        let half = Exp::new(1, 2);
        let sqrt_product: u128 = self
            .radicals
            .iter()
            .filter(|(_, e)| *e == half)
            .map(|(p, _)| *p as u128)
            .try_fold(1u128, |acc, p| acc.checked_mul(p))
            .unwrap_or(0);
        let mut sqrt_done = false;
        for (p, e) in &self.radicals {
            if *e == half && sqrt_product != 0 {
                if !sqrt_done {
                    parts.push(format!("sqrt({sqrt_product})"));
                    sqrt_done = true;
                }
            } else {
                parts.push(format!("{p}^({e})"));
            }
        }
        for (a, e) in &self.atoms {
            if e.is_one() {
                parts.push(a.to_string());
            } else if e.is_integer() && *e.numer() > 0 {
                parts.push(format!("{a}^{e}"));
            } else {
                parts.push(format!("{a}^({e})"));
            }
        }
        write!(f, "{}", parts.join("*"))
    }
}
