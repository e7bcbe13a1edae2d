//! Group-relative advantages (book section 6.7) and GDPO's per-reward normalisation (7.7).
//!
//! GRPO needs no value network: each rollout is compared with the other rollouts of its own
//! prompt.
//!
//! ```text
//! book / GRPO   A_i = (r_i − mean_g(r)) / (std_g(r) + ε)        ε = 1e-4, std unbiased (n − 1)
//! Dr. GRPO      A_i =  r_i − mean_g(r)                           no division by the std
//! GDPO          A_n^(i) = (r_n^(i) − mean_g(r_n)) / (std_g(r_n) + ε)   per reward component n
//!               S^(i)   = Σ_n w_n A_n^(i)
//!               A^(i)   = (S^(i) − mean_b(S)) / (std_b(S) + ε)         over the step's batch
//! process       r̃_i^j = (r_i^j − mean_g(R)) / (std_g(R) + ε)         every step reward of the group
//! (DeepSeekMath A_it  = Σ_{j : end_i^j > t} r̃_i^j                   token t: the steps at or after it
//!  §4.1.3)
//! ```
//!
//! `g` ranges over the `G` rollouts of one prompt, `b` over all rollouts of the step, `r_n` is
//! reward component `n` with weight `w_n` ([`crate::reward`]). Under process supervision `R`
//! holds the step rewards `r_i^j` of every rollout of the group (a reasoning line's verdict,
//! the final answer's correctness; [`crate::reward::Reward::steps`]), and step `j` of rollout
//! `i` covers its tokens before `end_i^j`: a token's advantage is the normalised reward still
//! to come, so a false line and everything leading to it is pushed down, and the true lines
//! before it keep the credit of their own verdicts. A reward without steps is one step at the
//! end of the completion, and then process supervision is the book's `GroupStd` (tested).
//!
//! The std is torch's default
//! (unbiased, `n − 1`), as in the book and TRL; verl uses ε = 1e-6. A group whose rewards are
//! all equal has `A = 0` for every rollout: it carries no learning signal, and the fraction of
//! such groups (`frac_zero_std`) is the first number to watch when training stalls.
//!
//! GDPO departs from the book in one respect: the book's script renormalises the summed
//! advantages over its single group; here the renormalisation runs over the whole step, as in
//! the paper. With one prompt per step the two are the same.

use serde::{Deserialize, Serialize};

/// How group advantages are normalised.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum AdvantageMode {
    /// `(r − mean) / (std + eps)`, unbiased std (the book, GRPO, DeepSeek-V3.2).
    GroupStd {
        /// Added to the std (book: 1e-4).
        eps: f64,
    },
    /// `r − mean` (Dr. GRPO, Olmo 3).
    GroupMean,
    /// GDPO: each reward component normalised in its group, weighted sum, renormalised over
    /// the step's batch.
    Gdpo {
        /// Added to every std (book: 1e-4).
        eps: f64,
    },
    /// Process supervision (DeepSeekMath, section 4.1.3): step rewards normalised over the
    /// group, each token's advantage the sum of the normalised rewards of its step and the
    /// steps after it. Needs a token-level loss.
    Process {
        /// Added to the std (DeepSeekMath does not say; 1e-4 as the book).
        eps: f64,
        /// Divide by the std of the group's step rewards (the paper); `false` only centres
        /// them, as Dr. GRPO does with outcome rewards.
        std: bool,
    },
}

impl Default for AdvantageMode {
    /// The book's `(r − mean) / (std + 1e-4)`.
    fn default() -> Self {
        AdvantageMode::GroupStd { eps: 1e-4 }
    }
}

/// Returns the mean and the unbiased (`n − 1`) standard deviation; `std = 0` for one value.
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len();
    if n == 0 {
        return (0.0, 0.0);
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (mean, 0.0);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, var.sqrt())
}

/// Returns the advantages of one group's rewards under `GroupStd` or `GroupMean` (for `Gdpo`,
/// of the summed reward: use [`gdpo_advantages`] for the real thing).
///
/// ```
/// use reasoning_grpo::advantage::{group_advantages, AdvantageMode};
/// let a = group_advantages(&[1.0, 0.0, 0.0, 1.0], AdvantageMode::GroupMean);
/// assert_eq!(a, vec![0.5, -0.5, -0.5, 0.5]);
/// ```
pub fn group_advantages(rewards: &[f64], mode: AdvantageMode) -> Vec<f64> {
    let (mean, std) = mean_std(rewards);
    match mode {
        AdvantageMode::GroupStd { eps }
        | AdvantageMode::Gdpo { eps }
        | AdvantageMode::Process { eps, std: true } => {
            rewards.iter().map(|r| (r - mean) / (std + eps)).collect()
        }
        AdvantageMode::GroupMean | AdvantageMode::Process { std: false, .. } => {
            rewards.iter().map(|r| r - mean).collect()
        }
    }
}

/// Per-token advantages of one group under process supervision (DeepSeekMath, section 4.1.3).
///
/// `steps[i]` lists rollout `i`'s steps as `(end, reward)`: the step covers its tokens before
/// `end` (not already covered by an earlier step) and earns `reward`. `lengths[i]` is the
/// rollout's token count. Returns `A_it` for every token: the sum of the normalised rewards of
/// the steps ending after `t`. Tokens after the last step get 0.
///
/// ```
/// use reasoning_grpo::advantage::process_advantages;
/// // Two rollouts of 3 tokens. Rollout 0: a true line (tokens 0-1), then a right answer.
/// // Rollout 1: a false line, then a wrong answer. Step rewards [1, 1, 0, 0] centred: ±0.5.
/// let a = process_advantages(&[vec![(2, 1.0), (3, 1.0)], vec![(2, 0.0), (3, 0.0)]], &[3, 3], 1e-4, false);
/// assert_eq!(a, vec![vec![1.0, 1.0, 0.5], vec![-1.0, -1.0, -0.5]]);
/// ```
///
/// # Panics
/// If `steps` and `lengths` differ in length.
pub fn process_advantages(
    steps: &[Vec<(usize, f64)>],
    lengths: &[usize],
    eps: f64,
    divide_by_std: bool,
) -> Vec<Vec<f64>> {
    assert_eq!(steps.len(), lengths.len(), "one step list per rollout");
    let all: Vec<f64> = steps.iter().flatten().map(|&(_, r)| r).collect();
    let (mean, std) = mean_std(&all);
    let scale = if divide_by_std {
        1.0 / (std + eps)
    } else {
        1.0
    };
    steps
        .iter()
        .zip(lengths)
        .map(|(steps, &len)| {
            (0..len)
                .map(|t| {
                    steps
                        .iter()
                        .filter(|&&(end, _)| end > t)
                        .map(|&(_, r)| (r - mean) * scale)
                        .sum()
                })
                .collect()
        })
        .collect()
}

/// GDPO advantages of a batch of groups.
///
/// `components[i][n]` is component `n` of rollout `i`; rollouts are group-major with
/// `group_size` rollouts per group; `weights[n]` is `w_n`.
///
/// # Panics
/// If the rollouts do not fill whole groups or a row has another number of components than
/// `weights`.
pub fn gdpo_advantages(
    components: &[Vec<f64>],
    weights: &[f64],
    group_size: usize,
    eps: f64,
) -> Vec<f64> {
    assert!(
        group_size > 0 && components.len().is_multiple_of(group_size),
        "{} rollouts do not fill groups of {group_size}",
        components.len()
    );
    assert!(
        components.iter().all(|c| c.len() == weights.len()),
        "every rollout needs {} reward components",
        weights.len()
    );
    let mut summed = vec![0.0; components.len()];
    for start in (0..components.len()).step_by(group_size) {
        let group = &components[start..start + group_size];
        for (n, w) in weights.iter().enumerate() {
            let values: Vec<f64> = group.iter().map(|c| c[n]).collect();
            let a = group_advantages(&values, AdvantageMode::GroupStd { eps });
            for (j, a) in a.into_iter().enumerate() {
                summed[start + j] += w * a;
            }
        }
    }
    let (mean, std) = mean_std(&summed);
    summed.iter().map(|s| (s - mean) / (std + eps)).collect()
}

/// Returns whether a group's rewards are all equal (the book's `max(r) == min(r)`).
pub fn is_zero_variance(rewards: &[f64]) -> bool {
    let max = rewards.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = rewards.iter().copied().fold(f64::INFINITY, f64::min);
    max == min
}

/// Statistics of one step's rewards and advantages (the book's section 7.3 tracking).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct AdvantageStats {
    /// Mean reward over all rollouts.
    pub reward_mean: f64,
    /// Unbiased std of the rewards over all rollouts.
    pub reward_std: f64,
    /// Mean advantage (0 up to rounding when groups are normalised).
    pub adv_mean: f64,
    /// Unbiased std of the advantages (≈ 1 for `GroupStd` with mixed groups).
    pub adv_std: f64,
    /// Fraction of groups whose rewards are all equal.
    pub frac_zero_std: f64,
}

/// Computes [`AdvantageStats`] of group-major `rewards` and `advantages`.
pub fn advantage_stats(rewards: &[f64], advantages: &[f64], group_size: usize) -> AdvantageStats {
    let (reward_mean, reward_std) = mean_std(rewards);
    let (adv_mean, adv_std) = mean_std(advantages);
    let groups: Vec<&[f64]> = rewards.chunks(group_size.max(1)).collect();
    let zero = groups.iter().filter(|g| is_zero_variance(g)).count();
    AdvantageStats {
        reward_mean,
        reward_std,
        adv_mean,
        adv_std,
        frac_zero_std: if groups.is_empty() {
            0.0
        } else {
            zero as f64 / groups.len() as f64
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < tol, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn book_advantages_use_the_unbiased_std_plus_1e4() {
        // r = [1, 0, 0, 0]: mean 0.25, unbiased var = (0.5625 + 3 · 0.0625) / 3 = 0.25, std 0.5.
        let a = group_advantages(&[1.0, 0.0, 0.0, 0.0], AdvantageMode::default());
        let d = 0.5 + 1e-4;
        close(&a, &[0.75 / d, -0.25 / d, -0.25 / d, -0.25 / d], 1e-12);
    }

    #[test]
    fn advantages_of_equal_rewards_are_zero() {
        for mode in [AdvantageMode::default(), AdvantageMode::GroupMean] {
            assert_eq!(group_advantages(&[1.0; 4], mode), vec![0.0; 4]);
        }
        assert!(is_zero_variance(&[0.0, 0.0]));
        assert!(!is_zero_variance(&[0.0, 1.0]));
    }

    #[test]
    fn dr_grpo_advantages_are_centred_but_not_scaled() {
        let a = group_advantages(&[2.0, 0.0, 1.0], AdvantageMode::GroupMean);
        close(&a, &[1.0, -1.0, 0.0], 1e-12);
    }

    #[test]
    fn gdpo_normalises_each_component_then_the_weighted_sum() {
        // One group of 4. correct = [1, 1, 0, 0], boxed = [1, 0, 1, 0], weights (1, 0.5).
        // Each component: mean 0.5, unbiased std sqrt(1/3) => A_n = ±0.5 / (0.57735 + ε).
        let eps = 1e-4;
        let k = 0.5 / ((1.0f64 / 3.0).sqrt() + eps);
        let comps = vec![
            vec![1.0, 1.0],
            vec![1.0, 0.0],
            vec![0.0, 1.0],
            vec![0.0, 0.0],
        ];
        let sums = [k * 1.5, k * 0.5, -k * 0.5, -k * 1.5];
        // The sums have mean 0 and unbiased std k · sqrt((2.25 + 0.25) · 2 / 3).
        let s = k * (5.0f64 / 3.0).sqrt();
        let expected: Vec<f64> = sums.iter().map(|x| x / (s + eps)).collect();
        let got = gdpo_advantages(&comps, &[1.0, 0.5], 4, eps);
        close(&got, &expected, 1e-12);
        // A rollout that is only boxed ranks above one that is neither, below correct ones.
        assert!(got[0] > got[1] && got[1] > got[2] && got[2] > got[3]);
    }

    #[test]
    fn process_advantages_sum_the_normalised_rewards_still_to_come() {
        // Group of 2. Rollout 0: line ✓ (tokens 0-2), line ✗ (3-4), answer ✗ (5, the stop id).
        // Rollout 1: line ✓ (0-2), answer ✓ (3-4).
        // Step rewards [1, 0, 0, 1, 1]: mean 0.6, unbiased var (3·0.16 + 2·0.36)/4 = 0.3.
        let steps = vec![vec![(3, 1.0), (5, 0.0), (6, 0.0)], vec![(3, 1.0), (5, 1.0)]];
        let eps = 1e-4;
        let k = 1.0 / (0.3f64.sqrt() + eps);
        let (p, n) = (0.4 * k, -0.6 * k);
        let got = process_advantages(&steps, &[6, 5], eps, true);
        close(
            &got[0],
            &[p + n + n, p + n + n, p + n + n, n + n, n + n, n],
            1e-12,
        );
        close(&got[1], &[p + p, p + p, p + p, p, p], 1e-12);
        // Without the std the same sums of centred rewards.
        let got = process_advantages(&steps, &[6, 5], eps, false);
        close(&got[1], &[0.8, 0.8, 0.8, 0.4, 0.4], 1e-12);
    }

    #[test]
    fn one_step_at_the_end_is_the_books_group_advantage() {
        let rewards = [1.0, 0.0, 0.5, 0.0];
        let lengths = [3, 1, 4, 2];
        let steps: Vec<Vec<(usize, f64)>> = rewards
            .iter()
            .zip(lengths)
            .map(|(&r, l)| vec![(l, r)])
            .collect();
        for std in [true, false] {
            let mode = AdvantageMode::Process { eps: 1e-4, std };
            let outcome = group_advantages(&rewards, mode);
            let process = process_advantages(&steps, &lengths, 1e-4, std);
            for (i, tokens) in process.iter().enumerate() {
                close(tokens, &vec![outcome[i]; lengths[i]], 1e-12);
            }
        }
        let book = group_advantages(&rewards, AdvantageMode::default());
        let process = group_advantages(
            &rewards,
            AdvantageMode::Process {
                eps: 1e-4,
                std: true,
            },
        );
        close(&book, &process, 1e-15);
    }

    #[test]
    fn stats_count_groups_without_variance() {
        let rewards = [1.0, 1.0, 0.0, 1.0, 0.0, 0.0];
        let adv: Vec<f64> = rewards
            .chunks(2)
            .flat_map(|g| group_advantages(g, AdvantageMode::default()))
            .collect();
        let s = advantage_stats(&rewards, &adv, 2);
        assert!((s.frac_zero_std - 2.0 / 3.0).abs() < 1e-12);
        assert!((s.reward_mean - 0.5).abs() < 1e-12);
        assert!(s.adv_mean.abs() < 1e-12);
    }
}
