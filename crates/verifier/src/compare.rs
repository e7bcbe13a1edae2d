//! Equivalence of two evaluated answers (step 4 of the chapter-3 pipeline).
//!
//! ```text
//! numbers        exact equality                          1/2 = 0.5 = \frac12,  0.333 != 1/3
//! tuples         same length, equal in order             (1, 2) != (2, 1)
//!                for two items the brackets must agree   (1, 2) != [1, 2]
//! sets, lists    equal as sets (order, repeats ignored)  1, -2 = -2, 1 = \{-2, 1\}
//! list ~ tuple   in order                                1, 2 = (1, 2)
//! singletons     \{5\} = 5
//! matrices       same shape, equal entries; a one-row or one-column matrix equals the tuple
//! intervals      same union after merging                (0,9) \cup (9,36) = (0,36) \setminus \{9\}
//! relations      f = 0 and g = 0 agree when f = c g for a constant c != 0 (c > 0 and equal
//!                strictness for inequalities);  x = 3 equals 3;  y = 2x+1 equals 2x+1
//! numerals       1011_2 = 11_{10} = 1011 (digits written without the base), but not 11
//! prose          equal ignoring case and spacing
//! ```
//!
//! With free variables, the grader evaluates both answers at several random points and requires
//! agreement at each; relations are compared through their normal form (`eval::Normal`), which
//! makes `x = 5` differ from `x = 6` although both are "some multiple" of the other at one point.

use num_traits::Signed;

use crate::eval::{Bound, Interval, Scalar, Value};
use crate::normalize::text_key;
use crate::number::{Budget, EvalResult};
use crate::parse::{Bracket, RelOp, SetKind};

/// Compares two values at one point.
pub(crate) struct Comparer<'a> {
    pub(crate) budget: &'a mut Budget,
}

impl Comparer<'_> {
    pub(crate) fn eq(&mut self, a: &Value, b: &Value) -> EvalResult<bool> {
        self.budget.spend(1)?;
        use Value as V;
        Ok(match (a, b) {
            (V::Scalar(x), V::Scalar(y)) => x.equals(y, self.budget)?,
            (V::Infinity { negative: n1 }, V::Infinity { negative: n2 }) => n1 == n2,
            (V::Based { value: v1, .. }, V::Based { value: v2, .. }) => {
                v1.equals(v2, self.budget)?
            }
            (
                V::Based {
                    digits,
                    base,
                    value,
                },
                V::Scalar(s),
            )
            | (
                V::Scalar(s),
                V::Based {
                    digits,
                    base,
                    value,
                },
            ) => self.numeral_matches(digits, *base, value, s)?,
            (V::Text(x), V::Text(y)) => text_key(x).to_lowercase() == text_key(y).to_lowercase(),
            (
                V::Tuple {
                    open: o1,
                    close: c1,
                    items: i1,
                },
                V::Tuple {
                    open: o2,
                    close: c2,
                    items: i2,
                },
            ) => {
                let same_brackets = same(*o1, *o2) && same(*c1, *c2);
                i1.len() == i2.len() && (i1.len() != 2 || same_brackets) && self.ordered(i1, i2)?
            }
            (V::Set { items: i1, .. }, V::Set { items: i2, .. }) => self.unordered(i1, i2)?,
            (
                V::Set {
                    kind: SetKind::Bare,
                    items: s,
                },
                V::Tuple { items: t, .. },
            )
            | (
                V::Tuple { items: t, .. },
                V::Set {
                    kind: SetKind::Bare,
                    items: s,
                },
            ) => s.len() == t.len() && self.ordered(s, t)?,
            (V::Set { items: s, .. }, V::Tuple { items: t, .. })
            | (V::Tuple { items: t, .. }, V::Set { items: s, .. })
                if s.len() > 1 =>
            {
                self.unordered(s, t)?
            }
            (V::Matrix(m1), V::Matrix(m2)) => {
                m1.len() == m2.len()
                    && m1.iter().zip(m2).all(|(r1, r2)| r1.len() == r2.len())
                    && self.ordered(&m1.concat(), &m2.concat())?
            }
            (
                V::Matrix(m),
                V::Tuple { items, .. }
                | V::Set {
                    kind: SetKind::Bare,
                    items,
                },
            )
            | (
                V::Tuple { items, .. }
                | V::Set {
                    kind: SetKind::Bare,
                    items,
                },
                V::Matrix(m),
            ) => {
                let vector = m.len() == 1 || m.iter().all(|r| r.len() == 1);
                vector && self.ordered(&m.concat(), items)?
            }
            (V::Intervals(x), V::Intervals(y)) => self.intervals(x, y)?,
            (V::Intervals(x), V::Tuple { open, close, items })
            | (V::Tuple { open, close, items }, V::Intervals(x))
                if items.len() == 2 && *open != Bracket::Angle =>
            {
                match tuple_interval(*open, *close, items) {
                    Some(iv) => self.intervals(x, std::slice::from_ref(&iv))?,
                    None => false,
                }
            }
            (
                V::Relation {
                    sides: s1,
                    ops: o1,
                    var_side: v1,
                    normal: n1,
                },
                V::Relation {
                    sides: s2,
                    ops: o2,
                    var_side: v2,
                    normal: n2,
                },
            ) => {
                let same_relation = match (n1, n2) {
                    (Some(a), Some(b)) => a.same(b, self.budget)?,
                    _ => o1 == o2 && self.ordered(s1, s2)?,
                };
                if same_relation {
                    true
                } else if let (Some(k1), Some(k2), [RelOp::Eq], [RelOp::Eq]) =
                    (v1, v2, o1.as_slice(), o2.as_slice())
                {
                    // x = 5 and y = 5 give the same value.
                    self.eq(&s1[1 - k1], &s2[1 - k2])?
                } else {
                    false
                }
            }
            (
                V::Relation {
                    sides,
                    ops,
                    var_side: Some(k),
                    ..
                },
                other,
            )
            | (
                other,
                V::Relation {
                    sides,
                    ops,
                    var_side: Some(k),
                    ..
                },
            ) if ops.as_slice() == [RelOp::Eq] => self.eq(&sides[1 - k], other)?,
            (V::Set { items, .. }, other) | (other, V::Set { items, .. }) if items.len() == 1 => {
                self.eq(&items[0], other)?
            }
            _ => false,
        })
    }

    fn ordered(&mut self, a: &[Value], b: &[Value]) -> EvalResult<bool> {
        if a.len() != b.len() {
            return Ok(false);
        }
        for (x, y) in a.iter().zip(b) {
            if !self.eq(x, y)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Removes repeated elements (keeping the first of each).
    fn distinct<'v>(&mut self, items: &'v [Value]) -> EvalResult<Vec<&'v Value>> {
        let mut out: Vec<&Value> = Vec::with_capacity(items.len());
        for v in items {
            let mut seen = false;
            for u in &out {
                if self.eq(u, v)? {
                    seen = true;
                    break;
                }
            }
            if !seen {
                out.push(v);
            }
        }
        Ok(out)
    }

    fn unordered(&mut self, a: &[Value], b: &[Value]) -> EvalResult<bool> {
        // Fast path: canonical scalars compare as sorted lists of their canonical texts.
        if let (Some(mut ka), Some(mut kb)) = (canonical_keys(a), canonical_keys(b)) {
            self.budget.spend((a.len() + b.len()) as u64)?;
            ka.sort_unstable();
            ka.dedup();
            kb.sort_unstable();
            kb.dedup();
            return Ok(ka == kb);
        }
        let a = self.distinct(a)?;
        let b = self.distinct(b)?;
        if a.len() != b.len() {
            return Ok(false);
        }
        let mut used = vec![false; b.len()];
        'outer: for x in &a {
            for (k, y) in b.iter().enumerate() {
                if !used[k] && self.eq(x, y)? {
                    used[k] = true;
                    continue 'outer;
                }
            }
            return Ok(false);
        }
        Ok(true)
    }

    fn bound(&mut self, x: &Bound, y: &Bound) -> EvalResult<bool> {
        Ok(match (&x.value, &y.value) {
            (None, None) => true,
            (Some(a), Some(b)) => x.closed == y.closed && a.equals(b, self.budget)?,
            _ => false,
        })
    }

    fn intervals(&mut self, x: &[Interval], y: &[Interval]) -> EvalResult<bool> {
        if x.len() != y.len() {
            return Ok(false);
        }
        for (a, b) in x.iter().zip(y) {
            if !(self.bound(&a.lo, &b.lo)? && self.bound(&a.hi, &b.hi)?) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// A based numeral equals a plain integer written with the same digits, or (in base 10)
    /// with the same value. `52_8` is `52` as written, never `42`: a reward for `42` would
    /// teach a model to echo the number it was asked to convert.
    fn numeral_matches(
        &mut self,
        digits: &str,
        base: u32,
        value: &Scalar,
        s: &Scalar,
    ) -> EvalResult<bool> {
        if base == 10 {
            return value.equals(s, self.budget);
        }
        let Some(q) = s.as_rational() else {
            return Ok(false);
        };
        Ok(q.is_integer()
            && !q.is_negative()
            && q.numer().to_string() == digits.trim_start_matches('0').max("0"))
    }
}

/// Canonical texts of the items when all are scalars in canonical form (no denominator).
fn canonical_keys(items: &[Value]) -> Option<Vec<String>> {
    items
        .iter()
        .map(|v| match v {
            Value::Scalar(s) if s.is_plain() => Some(s.to_string()),
            _ => None,
        })
        .collect()
}

fn same(a: Bracket, b: Bracket) -> bool {
    let norm = |x| {
        if x == Bracket::Angle {
            Bracket::Paren
        } else {
            x
        }
    };
    norm(a) == norm(b)
}

fn tuple_interval(open: Bracket, close: Bracket, items: &[Value]) -> Option<Interval> {
    let bound = |v: &Value, lower: bool, closed: bool| match v {
        Value::Scalar(s) => Some(Bound {
            value: Some(s.clone()),
            closed,
        }),
        Value::Infinity { negative } if *negative == lower => Some(Bound {
            value: None,
            closed: false,
        }),
        _ => None,
    };
    Some(Interval {
        lo: bound(&items[0], true, open == Bracket::Square)?,
        hi: bound(&items[1], false, close == Bracket::Square)?,
    })
}
