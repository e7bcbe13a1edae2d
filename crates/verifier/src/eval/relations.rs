//! Relations: equations in normal form, inequalities as intervals, and the set operations on
//! unions of intervals (`\cup`, `\cap`, `\setminus`).

use std::cmp::Ordering;

use super::{Bound, Evaluator, Interval, Normal, Scalar, Value};
use crate::number::{EvalError, EvalResult};
use crate::parse::{Bracket, Node, RelOp, SetKind};

impl Evaluator<'_> {
    pub(super) fn relation(&mut self, first: &Node, rest: &[(RelOp, Node)]) -> EvalResult<Value> {
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

    pub(super) fn interval(
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

    pub(super) fn as_intervals(&mut self, v: Value) -> EvalResult<Vec<Interval>> {
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
    pub(super) fn canonical(&mut self, mut parts: Vec<Interval>) -> EvalResult<Vec<Interval>> {
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

    pub(super) fn intersect(
        &mut self,
        a: &[Interval],
        c: &[Interval],
    ) -> EvalResult<Vec<Interval>> {
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
    pub(super) fn remove_point(
        &mut self,
        parts: Vec<Interval>,
        p: &Scalar,
    ) -> EvalResult<Vec<Interval>> {
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
