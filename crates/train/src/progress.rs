//! Progress reports sent by trainers to a caller-supplied callback (libraries never print).

use std::time::{Duration, Instant};

/// One progress report, sent after each optimizer step (and after each evaluation).
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Optimizer steps done.
    pub step: u64,
    /// Optimizer steps of the whole run.
    pub total_steps: u64,
    /// Current epoch (0-based).
    pub epoch: u64,
    /// Time spent in this session (since start or resume).
    pub elapsed: Duration,
    /// Estimated time to the end of the run, from this session's pace.
    pub eta: Option<Duration>,
    /// Named values of this step (`loss`, `lr`, `grad_norm`, `val_loss`, ...).
    pub metrics: Vec<(&'static str, f64)>,
}

impl Progress {
    /// Returns the value of a named metric.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
}

/// Measures the pace of a run to estimate the time left.
#[derive(Debug, Clone)]
pub struct EtaClock {
    start: Instant,
    start_step: u64,
}

impl EtaClock {
    /// Starts the clock at `step` (0 for a fresh run, the checkpoint's step on resume).
    pub fn start(step: u64) -> Self {
        Self {
            start: Instant::now(),
            start_step: step,
        }
    }

    /// Returns the time since the clock started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Returns the time left to reach `total` steps at the average pace since the start, or
    /// `None` before the first step of this session.
    pub fn eta(&self, step: u64, total: u64) -> Option<Duration> {
        let done = step.checked_sub(self.start_step).filter(|d| *d > 0)?;
        let per_step = self.elapsed().as_secs_f64() / done as f64;
        Some(Duration::from_secs_f64(
            per_step * total.saturating_sub(step) as f64,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_is_unknown_before_the_first_step_and_zero_at_the_end() {
        let clock = EtaClock::start(10);
        assert_eq!(clock.eta(10, 100), None);
        assert_eq!(clock.eta(20, 20), Some(Duration::ZERO));
    }
}
