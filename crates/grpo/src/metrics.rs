//! The metrics file of a GRPO run and the book's 2×2 figure.
//!
//! `metrics.csv` has one row per step (and a row for step 0 holding the starting accuracy).
//! Empty cells mean "not measured at this step": `eval_acc` appears every `eval_every` steps,
//! `kl` only with a KL term, `clip_frac` only for objectives with a ratio, `grad_norm` and
//! `entropy` only when an update ran.
//!
//! | column | meaning |
//! |---|---|
//! | `loss` | `−J + β·KL` of the step's last update (≈ 0 for ratio objectives with one update) |
//! | `reward_avg`, `reward_std` | mean and std of the rewards of all rollouts of the step |
//! | `frac_zero_std` | fraction of groups whose rewards are all equal (no learning signal) |
//! | `adv_avg`, `adv_std` | mean and std of the advantages trained on |
//! | `entropy` | mean per-token entropy of the rollout policy over completion tokens |
//! | `kl` | the KL estimate before `β` |
//! | `clip_frac` | fraction of ratio units (tokens or rollouts) whose clip was active |
//! | `avg_response_len` | mean generated ids per rollout |
//! | `tokens_per_sec` | generated ids per second of the whole step (updates included) |
//! | `grad_norm` | global gradient norm before clipping |
//! | `lr` | learning rate of the step |
//! | `eval_acc` | greedy held-out accuracy |

use reasoning_train::{Panel, PlotSpec, Series};

reasoning_train::metrics_row! {
    /// One row of a GRPO run's `metrics.csv` (the columns are the field names, in order; see
    /// the module's table). Step 0's row holds only the starting accuracy.
    pub struct GrpoMetrics {
        /// The step (0: before training).
        pub step: f64,
        /// `−J + β·KL` of the step's last update.
        pub loss: Option<f64>,
        /// Mean reward of all rollouts of the step.
        pub reward_avg: Option<f64>,
        /// Standard deviation of those rewards.
        pub reward_std: Option<f64>,
        /// Fraction of groups whose rewards are all equal.
        pub frac_zero_std: Option<f64>,
        /// Mean advantage trained on.
        pub adv_avg: Option<f64>,
        /// Standard deviation of the advantages trained on.
        pub adv_std: Option<f64>,
        /// Mean per-token entropy of the rollout policy.
        pub entropy: Option<f64>,
        /// The KL estimate before `β`.
        pub kl: Option<f64>,
        /// Fraction of ratio units whose clip was active.
        pub clip_frac: Option<f64>,
        /// Mean generated ids per rollout.
        pub avg_response_len: Option<f64>,
        /// Generated ids per second of the whole step.
        pub tokens_per_sec: Option<f64>,
        /// Global gradient norm before clipping.
        pub grad_norm: Option<f64>,
        /// Learning rate of the step.
        pub lr: Option<f64>,
        /// Greedy held-out accuracy.
        pub eval_acc: Option<f64>,
    }
}

/// The book's figure (`plot_grpo_metrics`): loss, reward, response length and held-out
/// accuracy, raw values with a moving average.
pub fn grpo_plot() -> PlotSpec {
    PlotSpec::new(
        "step",
        vec![
            Panel::new("Loss", "loss", vec![Series::new("loss", 10)]),
            Panel::new(
                "Reward (mean over rollouts)",
                "reward_avg",
                vec![Series::new("reward_avg", 10)],
            ),
            Panel::new(
                "Response length",
                "avg_response_len (tokens)",
                vec![Series::new("avg_response_len", 10)],
            ),
            Panel::new(
                "Held-out accuracy (greedy)",
                "eval_acc",
                vec![Series::new("eval_acc", 1)],
            ),
        ],
        2,
    )
}
