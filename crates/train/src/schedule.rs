//! Learning-rate schedules: constant (the book's GRPO and distillation runs) and linear warmup
//! followed by cosine decay to a floor (the usual from-scratch recipe).
//!
//! ```text
//! warmup   (s < W):      η(s) = η_max · (s + 1) / W
//! cosine   (W ≤ s):      p = min(1, (s − W) / max(1, S − W))
//!                        η(s) = η_min + ½ (η_max − η_min) (1 + cos(π p))
//! ```
//!
//! `s` is the 0-based index of the optimizer step about to be taken, `W` the warmup steps,
//! `S` the total steps. The first step already gets `η_max / W` (never zero), and steps past
//! `S` stay at `η_min`.

use serde::{Deserialize, Serialize};

use crate::TrainError;

/// A learning-rate schedule over optimizer steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LrSchedule {
    /// The same learning rate at every step.
    Constant {
        /// The learning rate.
        lr: f64,
    },
    /// Linear warmup to `peak_lr`, then cosine decay to `min_lr` at `total_steps`.
    WarmupCosine {
        /// The learning rate at the end of warmup.
        peak_lr: f64,
        /// The floor reached at `total_steps`.
        min_lr: f64,
        /// Steps of linear warmup.
        warmup_steps: u64,
        /// Total optimizer steps of the run.
        total_steps: u64,
    },
}

impl LrSchedule {
    /// Returns the learning rate of the optimizer step with 0-based index `step`.
    pub fn lr(&self, step: u64) -> f64 {
        match *self {
            LrSchedule::Constant { lr } => lr,
            LrSchedule::WarmupCosine {
                peak_lr,
                min_lr,
                warmup_steps,
                total_steps,
            } => {
                if step < warmup_steps {
                    return peak_lr * (step + 1) as f64 / warmup_steps as f64;
                }
                let span = total_steps.saturating_sub(warmup_steps).max(1) as f64;
                let p = ((step - warmup_steps) as f64 / span).min(1.0);
                min_lr + 0.5 * (peak_lr - min_lr) * (1.0 + (std::f64::consts::PI * p).cos())
            }
        }
    }

    /// The highest learning rate of the schedule (`peak_lr`, or the constant rate).
    pub fn peak(&self) -> f64 {
        match *self {
            LrSchedule::Constant { lr } => lr,
            LrSchedule::WarmupCosine { peak_lr, .. } => peak_lr,
        }
    }

    /// Returns an error when a rate is negative or not finite, or the floor exceeds the peak.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |message: String| {
            Err(TrainError::Config {
                what: "learning-rate schedule",
                message,
            })
        };
        let ok = |x: f64| x.is_finite() && x >= 0.0;
        match *self {
            LrSchedule::Constant { lr } if !ok(lr) => bad(format!("lr {lr} is not a rate")),
            LrSchedule::WarmupCosine {
                peak_lr, min_lr, ..
            } if !ok(peak_lr) || !ok(min_lr) => {
                bad(format!("peak_lr {peak_lr} / min_lr {min_lr} are not rates"))
            }
            LrSchedule::WarmupCosine {
                peak_lr, min_lr, ..
            } if min_lr > peak_lr => bad(format!("min_lr {min_lr} is above peak_lr {peak_lr}")),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_is_the_highest_rate_of_the_schedule() {
        assert_eq!(LrSchedule::Constant { lr: 1e-3 }.peak(), 1e-3);
        let cosine = LrSchedule::WarmupCosine {
            peak_lr: 3e-3,
            min_lr: 3e-4,
            warmup_steps: 10,
            total_steps: 100,
        };
        assert_eq!(cosine.peak(), 3e-3);
        assert!((0..100).all(|s| cosine.lr(s) <= cosine.peak()));
    }

    #[test]
    fn warmup_rises_linearly_then_cosine_falls_to_the_floor() {
        let s = LrSchedule::WarmupCosine {
            peak_lr: 1e-3,
            min_lr: 1e-4,
            warmup_steps: 10,
            total_steps: 110,
        };
        assert!((s.lr(0) - 1e-4).abs() < 1e-15, "first step gets peak/W");
        assert!((s.lr(4) - 5e-4).abs() < 1e-15);
        assert!((s.lr(9) - 1e-3).abs() < 1e-15, "warmup ends at the peak");
        assert!((s.lr(10) - 1e-3).abs() < 1e-15, "cosine starts at the peak");
        // Halfway through the decay the rate is the midpoint of peak and floor.
        assert!((s.lr(60) - 5.5e-4).abs() < 1e-12, "{}", s.lr(60));
        assert!((s.lr(110) - 1e-4).abs() < 1e-15);
        assert!((s.lr(500) - 1e-4).abs() < 1e-15, "stays at the floor");
        for step in 10..110 {
            assert!(s.lr(step + 1) <= s.lr(step), "monotone decay at {step}");
        }
    }

    #[test]
    fn constant_schedule_ignores_the_step() {
        let s = LrSchedule::Constant { lr: 1e-5 };
        assert_eq!(s.lr(0), 1e-5);
        assert_eq!(s.lr(10_000), 1e-5);
    }

    #[test]
    fn schedules_serialise_with_a_kind_tag() {
        let s = LrSchedule::Constant { lr: 0.5 };
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"kind":"constant","lr":0.5}"#
        );
    }

    #[test]
    fn a_floor_above_the_peak_is_refused() {
        let s = LrSchedule::WarmupCosine {
            peak_lr: 1e-4,
            min_lr: 1e-3,
            warmup_steps: 0,
            total_steps: 5,
        };
        let err = s.validate().unwrap_err().to_string();
        assert!(
            err.contains("min_lr 0.001 is above peak_lr 0.0001"),
            "{err}"
        );
    }
}
