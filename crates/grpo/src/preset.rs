//! Named algorithm presets: each book section of chapters 6-7 and each paper of section 7.7.
//!
//! A preset fixes the loss ([`LossConfig`]), the advantages ([`AdvantageMode`]), the reward
//! ([`RewardSpec`]) and how rollouts are used ([`Algorithm`]). Every field can be overridden
//! afterwards (the command line's `--kl-coef`, `--inner-epochs`, `--clip-eps-low/high`, ...).
//! [`Preset`] names them; [`Preset::algorithm`] returns what each fixes.
//!
//! | preset | objective | clip (ε_low, ε_high) | aggregation | advantage | KL (β) | rollouts |
//! |---|---|---|---|---|---|---|
//! | `6-grpo` | `A·S` (no ratio) | – | mean over rollouts | book std | – | one update |
//! | `7.3-tracking` | same as `6-grpo` (adds logging only; logging is always on here) | | | | | |
//! | `7.4-clip-ratio` | sequence ratio | book (0.2, 10) | mean over rollouts | book std | – | 2 epochs, fresh rollouts from the frozen copy |
//! | `7.5-kl` | sequence ratio | book (0.2, 10) | mean over rollouts | book std | k1 on sums (0.001) | 2 epochs, fresh rollouts |
//! | `7.6-format-reward` | sequence ratio | book (0.2, 10) | mean over rollouts | book std | – | one update; reward `correct + format` |
//! | `grpo` | token ratio | PPO (0.2, 0.2) | per-rollout token mean | book std | k3 (0.04) | one update |
//! | `dr-grpo` | token ratio | PPO (0.2, 0.2) | `1/(R·L_max)` | no std | – | one update |
//! | `dapo` | token ratio | PPO (0.2, 0.28) | token mean | book std | – | drop and redraw zero-variance groups; mask truncated rollouts |
//! | `gspo` | geometric sequence ratio | PPO (3e-4, 4e-4) | mean over rollouts | book std | – | one update |
//! | `cispo` | `sg(clip ρ)·A·log π` | (1.0, 4.0): weight in `[0, 5]` | token mean | book std | – | one update |
//! | `olmo3` | token ratio, truncated at 1.28 | PPO (0.2, 0.28) | token mean | no std | – | drop and redraw zero-variance groups |
//! | `deepseek-v32` | token ratio over the kept sampling support, off-policy masking δ = 0.1 | PPO (0.2, 0.2) | per-rollout token mean | book std | k3 reweighted (0.001) | one update |
//! | `gdpo` | token ratio | PPO (0.2, 0.2) | per-rollout token mean | GDPO | – | one update; reward `correct + 0.1·boxed` |
//!
//! "Book std" is `(r − mean) / (std + 1e-4)`. The book-section presets follow the book's
//! scripts (including its clip sign convention, see [`crate::loss`]); the paper presets follow
//! their papers where the book's section 7.7 scripts take shortcuts: PPO clipping instead of
//! the book's, GDPO renormalised over the step, DeepSeek-V3.2's per-token unbiased KL instead
//! of the book's sequence-level one, and Olmo 3's truncated importance sampling kept as the
//! book's stand-in (the sampler and learner are the same code here, so there is no mismatch to
//! correct). `deepseek-v32` also keeps the sampling mask (the top-p/top-k support of each
//! rollout token reused at training time; [`Algorithm::keep_sampling_mask`]). Not implemented:
//! DAPO's soft overlong length penalty (only the filtering).

use serde::{Deserialize, Serialize};

use crate::advantage::AdvantageMode;
use crate::error::{GrpoError, Result};
use crate::loss::{Aggregation, ClipRule, KlEstimator, LossConfig, RatioLevel};
use crate::reward::RewardSpec;

/// Everything a preset decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Algorithm {
    /// The loss.
    pub loss: LossConfig,
    /// The advantages.
    pub advantage: AdvantageMode,
    /// The reward.
    pub reward: RewardSpec,
    /// Optimizer updates per step (the book's `inner_epochs`).
    pub inner_epochs: usize,
    /// With `inner_epochs > 1`: sample fresh rollouts from the step's frozen policy for every
    /// update (the book's scripts), rather than reusing the first rollouts (PPO).
    pub resample_each_epoch: bool,
    /// Leave groups whose rewards are all equal out of the loss (DAPO, Olmo 3).
    pub filter_zero_variance: bool,
    /// Draw further prompts, up to this many times, to replace zero-variance groups (DAPO's
    /// dynamic sampling, Olmo 3's active sampling); 0 draws no more.
    pub active_sampling_tries: usize,
    /// Leave rollouts cut off at `max_new_tokens` out of the loss (DAPO's overlong filtering);
    /// they still count in their group's advantage.
    pub mask_truncated: bool,
    /// Skip the optimizer step when every advantage is zero and there is no KL term (the
    /// book's `--skip-zero-advantage-updates`; off by default there, so AdamW's momentum and
    /// weight decay still move the weights).
    pub skip_zero_advantage: bool,
    /// DeepSeek-V3.2's "keep sampling mask": record the ids top-k/top-p kept when each rollout
    /// token was drawn (`K_t`), and compute `π_θ`, `π_old` and `π_ref` at training time over
    /// that support only, `log π̃(o_t) = z_{o_t} − logsumexp_{v∈K_t} z_v`, so the policy that
    /// is optimised is the one that sampled. With top-p 1 and no top-k it changes nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_sampling_mask: bool,
}

/// A named preset: a book section of chapters 6-7 or a paper of section 7.7.
///
/// Written and read by its name (`"6-grpo"`, `"dr-grpo"`, ...), in configs as on the command
/// line.
///
/// ```
/// use reasoning_grpo::Preset;
/// let p: Preset = "7.4-clip-ratio".parse().unwrap();
/// assert_eq!(p.algorithm().inner_epochs, 2);
/// assert_eq!(p.to_string(), "7.4-clip-ratio");
/// assert!("ppo-classic".parse::<Preset>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Preset {
    /// Chapter 6: REINFORCE with the group baseline, `−(1/G) Σ A_i S_i`.
    #[serde(rename = "6-grpo")]
    Book6,
    /// Section 7.3: the chapter-6 loss with tracking (logging is always on here).
    #[serde(rename = "7.3-tracking")]
    Book7_3Tracking,
    /// Section 7.4: the sequence ratio with the book's clip, two updates per step.
    #[serde(rename = "7.4-clip-ratio")]
    Book7_4ClipRatio,
    /// Section 7.5: 7.4 plus a KL penalty on sequence sums.
    #[serde(rename = "7.5-kl")]
    Book7_5Kl,
    /// Section 7.6: 7.4's loss, one update per step, reward `correct + format`.
    #[serde(rename = "7.6-format-reward")]
    Book7_6FormatReward,
    /// DeepSeekMath's GRPO: token ratio, per-rollout token mean, k3 KL (β = 0.04).
    #[serde(rename = "grpo")]
    Grpo,
    /// Dr. GRPO: no std in the advantage, constant-length aggregation.
    #[serde(rename = "dr-grpo")]
    DrGrpo,
    /// DAPO: clip-higher, token mean, dynamic sampling, overlong filtering.
    #[serde(rename = "dapo")]
    Dapo,
    /// GSPO: the geometric-mean sequence ratio.
    #[serde(rename = "gspo")]
    Gspo,
    /// CISPO: clipped, stop-gradient importance weights on every token.
    #[serde(rename = "cispo")]
    Cispo,
    /// Olmo 3: truncated importance ratio, token mean, active sampling.
    #[serde(rename = "olmo3")]
    Olmo3,
    /// DeepSeek-V3.2: off-policy sequence masking and the unbiased k3 KL.
    #[serde(rename = "deepseek-v32")]
    DeepSeekV32,
    /// GDPO: per-component normalised advantages of `correct + 0.1·boxed`.
    #[serde(rename = "gdpo")]
    Gdpo,
}

impl Preset {
    /// Every preset, in the order of the book.
    pub const ALL: [Preset; 13] = [
        Preset::Book6,
        Preset::Book7_3Tracking,
        Preset::Book7_4ClipRatio,
        Preset::Book7_5Kl,
        Preset::Book7_6FormatReward,
        Preset::Grpo,
        Preset::DrGrpo,
        Preset::Dapo,
        Preset::Gspo,
        Preset::Cispo,
        Preset::Olmo3,
        Preset::DeepSeekV32,
        Preset::Gdpo,
    ];

    /// Returns the preset's name, as written in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Book6 => "6-grpo",
            Preset::Book7_3Tracking => "7.3-tracking",
            Preset::Book7_4ClipRatio => "7.4-clip-ratio",
            Preset::Book7_5Kl => "7.5-kl",
            Preset::Book7_6FormatReward => "7.6-format-reward",
            Preset::Grpo => "grpo",
            Preset::DrGrpo => "dr-grpo",
            Preset::Dapo => "dapo",
            Preset::Gspo => "gspo",
            Preset::Cispo => "cispo",
            Preset::Olmo3 => "olmo3",
            Preset::DeepSeekV32 => "deepseek-v32",
            Preset::Gdpo => "gdpo",
        }
    }

    /// Returns the algorithm this preset fixes (see the module's table).
    pub fn algorithm(self) -> Algorithm {
        algorithm(self)
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Preset {
    type Err = GrpoError;

    /// Parses a preset name; an unknown name's error lists the known ones.
    fn from_str(name: &str) -> Result<Self> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| GrpoError::UnknownPreset {
                name: name.to_string(),
                known: Preset::ALL.map(Preset::name).join(", "),
            })
    }
}

/// The algorithm of each preset.
fn algorithm(preset: Preset) -> Algorithm {
    let book = Algorithm {
        loss: LossConfig::default(),
        advantage: AdvantageMode::GroupStd { eps: 1e-4 },
        reward: RewardSpec::Correct,
        inner_epochs: 1,
        resample_each_epoch: true,
        filter_zero_variance: false,
        active_sampling_tries: 0,
        mask_truncated: false,
        skip_zero_advantage: false,
        keep_sampling_mask: false,
    };
    let book_clip = LossConfig {
        ratio: RatioLevel::Sequence,
        clip: ClipRule::Book,
        eps_low: 0.2,
        eps_high: 10.0,
        ..LossConfig::default()
    };
    let ppo_token = LossConfig {
        ratio: RatioLevel::Token,
        clip: ClipRule::Ppo,
        eps_low: 0.2,
        eps_high: 0.2,
        truncate: None,
        aggregation: Aggregation::SeqTokenMean,
        kl_coef: 0.0,
        kl: KlEstimator::K3,
        off_policy_delta: None,
    };
    let paper = Algorithm {
        loss: ppo_token,
        resample_each_epoch: false,
        ..book.clone()
    };
    match preset {
        Preset::Book6 | Preset::Book7_3Tracking => book,
        Preset::Book7_4ClipRatio => Algorithm {
            loss: book_clip,
            inner_epochs: 2,
            ..book
        },
        Preset::Book7_5Kl => Algorithm {
            loss: LossConfig {
                kl_coef: 0.001,
                kl: KlEstimator::K1Seq,
                ..book_clip
            },
            inner_epochs: 2,
            ..book
        },
        Preset::Book7_6FormatReward => Algorithm {
            loss: book_clip,
            reward: RewardSpec::CorrectAndFormat {
                format_weight: 1.0,
                conditional: false,
            },
            ..book
        },
        Preset::Grpo => Algorithm {
            loss: LossConfig {
                kl_coef: 0.04,
                ..ppo_token
            },
            ..paper
        },
        Preset::DrGrpo => Algorithm {
            loss: LossConfig {
                aggregation: Aggregation::ConstLen,
                ..ppo_token
            },
            advantage: AdvantageMode::GroupMean,
            ..paper
        },
        Preset::Dapo => Algorithm {
            loss: LossConfig {
                eps_high: 0.28,
                aggregation: Aggregation::TokenMean,
                ..ppo_token
            },
            filter_zero_variance: true,
            active_sampling_tries: 3,
            mask_truncated: true,
            ..paper
        },
        Preset::Gspo => Algorithm {
            loss: LossConfig {
                ratio: RatioLevel::Geometric,
                eps_low: 3e-4,
                eps_high: 4e-4,
                aggregation: Aggregation::SeqMean,
                ..ppo_token
            },
            ..paper
        },
        Preset::Cispo => Algorithm {
            loss: LossConfig {
                clip: ClipRule::Cispo,
                eps_low: 1.0,
                eps_high: 4.0,
                aggregation: Aggregation::TokenMean,
                ..ppo_token
            },
            ..paper
        },
        Preset::Olmo3 => Algorithm {
            loss: LossConfig {
                eps_high: 0.28,
                truncate: Some(1.28),
                aggregation: Aggregation::TokenMean,
                ..ppo_token
            },
            advantage: AdvantageMode::GroupMean,
            filter_zero_variance: true,
            active_sampling_tries: 8,
            ..paper
        },
        Preset::DeepSeekV32 => Algorithm {
            loss: LossConfig {
                off_policy_delta: Some(0.1),
                kl_coef: 0.001,
                kl: KlEstimator::K3Is,
                ..ppo_token
            },
            keep_sampling_mask: true,
            ..paper
        },
        Preset::Gdpo => Algorithm {
            advantage: AdvantageMode::Gdpo { eps: 1e-4 },
            reward: RewardSpec::CorrectAndBoxed { boxed_weight: 0.1 },
            ..paper
        },
    }
}

impl Algorithm {
    /// Checks the combination of settings.
    pub fn validate(&self) -> Result<()> {
        let l = &self.loss;
        if self.inner_epochs == 0 {
            return Err(GrpoError::config("inner_epochs", 0, "must be at least 1"));
        }
        if !(l.eps_low >= 0.0 && l.eps_high >= 0.0 && l.eps_low.is_finite()) {
            return Err(GrpoError::config(
                "clip eps",
                format!("({}, {})", l.eps_low, l.eps_high),
                "must be non-negative",
            ));
        }
        if l.clip == ClipRule::Cispo && l.ratio != RatioLevel::Token {
            return Err(GrpoError::config(
                "ratio",
                format!("{:?}", l.ratio),
                "CISPO weights token log-probabilities and needs the token ratio",
            ));
        }
        if matches!(self.advantage, AdvantageMode::Process { .. }) && l.sequence_unit() {
            return Err(GrpoError::config(
                "advantage",
                "process",
                "per-token advantages need a token-level ratio (not a sequence ratio)",
            ));
        }
        if !(l.kl_coef.is_finite() && l.kl_coef >= 0.0) {
            return Err(GrpoError::config(
                "kl_coef",
                l.kl_coef,
                "must be a non-negative number",
            ));
        }
        if let Some(t) = l.truncate
            && (t.is_nan() || t <= 0.0)
        {
            return Err(GrpoError::config("truncate", t, "must be positive"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> Algorithm {
        name.parse::<Preset>().unwrap().algorithm()
    }

    #[test]
    fn every_named_preset_builds_validates_and_round_trips_its_name() {
        for p in Preset::ALL {
            p.algorithm().validate().unwrap();
            assert_eq!(p.name().parse::<Preset>().unwrap(), p);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("{:?}", p.name()));
        }
    }

    #[test]
    fn book_presets_use_the_books_clip_and_paper_presets_ppos() {
        for name in ["7.4-clip-ratio", "7.5-kl", "7.6-format-reward"] {
            assert_eq!(named(name).loss.clip, ClipRule::Book, "{name}");
        }
        for name in [
            "grpo",
            "dr-grpo",
            "dapo",
            "gspo",
            "olmo3",
            "deepseek-v32",
            "gdpo",
        ] {
            assert_eq!(named(name).loss.clip, ClipRule::Ppo, "{name}");
        }
    }

    #[test]
    fn only_presets_with_a_kl_term_need_a_reference_model() {
        let with_kl: Vec<&str> = Preset::ALL
            .into_iter()
            .filter(|p| p.algorithm().loss.kl_coef != 0.0)
            .map(Preset::name)
            .collect();
        assert_eq!(with_kl, vec!["7.5-kl", "grpo", "deepseek-v32"]);
    }

    #[test]
    fn an_unknown_preset_lists_the_known_ones() {
        let err = "ppo".parse::<Preset>().unwrap_err().to_string();
        assert!(err.contains("\"ppo\"") && err.contains("dr-grpo"), "{err}");
    }
}
