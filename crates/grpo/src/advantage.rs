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
//! ```
//!
//! `g` ranges over the `G` rollouts of one prompt, `b` over all rollouts of the step, `r_n` is
//! reward component `n` with weight `w_n` ([`crate::reward`]). The std is torch's default
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
        AdvantageMode::GroupStd { eps } | AdvantageMode::Gdpo { eps } => {
            rewards.iter().map(|r| (r - mean) / (std + eps)).collect()
        }
        AdvantageMode::GroupMean => rewards.iter().map(|r| r - mean).collect(),
    }
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
