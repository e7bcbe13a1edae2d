//! The bytes in which the ranks of a data-parallel run exchange their scored rollout groups:
//! every field of [`Group`] and [`Rollout`], floats as their bits, so a decoded group equals
//! the one encoded exactly.

use reasoning_inference::FinishReason;

use crate::error::{GrpoError, Result};
use crate::reward::{RewardComponent, RewardScore};
use crate::step::{Group, Rollout};

/// Encodes `groups` and the ids generated for them.
pub(crate) fn encode(groups: &[Group], generated_tokens: usize) -> Vec<u8> {
    let mut w = Writer(Vec::new());
    w.u64(generated_tokens as u64);
    w.u64(groups.len() as u64);
    for g in groups {
        w.u64(g.record as u64);
        w.ids(&g.prompt);
        w.u64(g.rollouts.len() as u64);
        for r in &g.rollouts {
            w.ids(&r.ids);
            w.bytes(r.text.as_bytes());
            w.0.push(match r.finish {
                FinishReason::Eos => 0,
                FinishReason::Length => 1,
                FinishReason::Stopped => 2,
            });
            w.u64(r.score.components.len() as u64);
            for c in &r.score.components {
                w.bytes(c.name.as_bytes());
                w.f64(c.value);
                w.f64(c.weight);
            }
            w.f64(r.reward);
            w.f64(r.advantage);
            w.u64(r.steps.len() as u64);
            for &(end, value) in &r.steps {
                w.u64(end as u64);
                w.f64(value);
            }
            w.u64(r.token_advantages.len() as u64);
            for &a in &r.token_advantages {
                w.f64(a);
            }
            w.u64(r.support.len() as u64);
            for s in &r.support {
                w.ids(s);
            }
        }
    }
    w.0
}

/// Decodes what [`encode`] wrote.
///
/// # Errors
/// [`GrpoError::Config`] when the bytes end early or hold an invalid value (a transport fault).
pub(crate) fn decode(bytes: &[u8]) -> Result<(Vec<Group>, usize)> {
    let mut r = Reader { bytes, at: 0 };
    let generated = r.len()?;
    let n = r.len()?;
    let mut groups = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let record = r.len()?;
        let prompt = r.ids()?;
        let m = r.len()?;
        let mut rollouts = Vec::with_capacity(m.min(1 << 16));
        for _ in 0..m {
            let ids = r.ids()?;
            let text = String::from_utf8(r.bytes()?.to_vec()).map_err(|_| r.fail("text"))?;
            let finish = match r.take(1)?[0] {
                0 => FinishReason::Eos,
                1 => FinishReason::Length,
                2 => FinishReason::Stopped,
                _ => return Err(r.fail("finish reason")),
            };
            let k = r.len()?;
            let mut components = Vec::with_capacity(k.min(64));
            for _ in 0..k {
                let name = String::from_utf8(r.bytes()?.to_vec()).map_err(|_| r.fail("name"))?;
                components.push(RewardComponent {
                    name,
                    value: r.f64()?,
                    weight: r.f64()?,
                });
            }
            let reward = r.f64()?;
            let advantage = r.f64()?;
            let k = r.len()?;
            let mut steps = Vec::with_capacity(k.min(1 << 16));
            for _ in 0..k {
                steps.push((r.len()?, r.f64()?));
            }
            let k = r.len()?;
            let mut token_advantages = Vec::with_capacity(k.min(1 << 20));
            for _ in 0..k {
                token_advantages.push(r.f64()?);
            }
            let k = r.len()?;
            let mut support = Vec::with_capacity(k.min(1 << 20));
            for _ in 0..k {
                support.push(r.ids()?);
            }
            rollouts.push(Rollout {
                ids,
                text,
                finish,
                score: RewardScore { components },
                reward,
                advantage,
                steps,
                token_advantages,
                support,
            });
        }
        groups.push(Group {
            record,
            prompt,
            rollouts,
        });
    }
    if r.at != bytes.len() {
        return Err(r.fail("end"));
    }
    Ok((groups, generated))
}

struct Writer(Vec<u8>);

impl Writer {
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn ids(&mut self, ids: &[u32]) {
        self.u64(ids.len() as u64);
        for id in ids {
            self.0.extend_from_slice(&id.to_le_bytes());
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn fail(&self, what: &str) -> GrpoError {
        GrpoError::config(
            "rollouts from another rank",
            format!("byte {}", self.at),
            format!("malformed {what}"),
        )
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| self.fail("length"))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    fn len(&mut self) -> Result<usize> {
        usize::try_from(self.u64()?).map_err(|_| self.fail("count"))
    }
    fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.u64()?))
    }
    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }
    fn ids(&mut self) -> Result<Vec<u32>> {
        let n = self.len()?;
        let b = self.take(n.checked_mul(4).ok_or_else(|| self.fail("ids"))?)?;
        Ok(b.chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_come_back_exactly() {
        let rollout = |text: &str, reward: f64| Rollout {
            ids: vec![5, 6, 7],
            text: text.to_string(),
            finish: FinishReason::Length,
            score: RewardScore {
                components: vec![RewardComponent {
                    name: "correct".into(),
                    value: reward,
                    weight: 0.1,
                }],
            },
            reward,
            advantage: -0.1 / 3.0,
            steps: vec![(2, 0.5), (3, f64::MIN_POSITIVE)],
            token_advantages: vec![0.1, 0.2, 1e-300],
            support: vec![vec![1, 2], vec![], vec![9]],
        };
        let groups = vec![
            Group {
                record: 7,
                prompt: vec![1, 2, 3],
                rollouts: vec![rollout("a ✓", 1.0 / 3.0), rollout("", 0.0)],
            },
            Group {
                record: 0,
                prompt: vec![],
                rollouts: vec![],
            },
        ];
        let bytes = encode(&groups, 42);
        let (back, generated) = decode(&bytes).unwrap();
        assert_eq!(back, groups);
        assert_eq!(generated, 42);
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
    }
}
