//! `cargo xtask bench <what>`: measurements that are not accuracy experiments.
//!
//! - `bench generate`: prefill and decode tokens/s and peak memory (book chapter 2's
//!   `generate_stats`), see `ch02.rs`.
//! - `bench sample`: N samples of one prompt, batched with a shared prefill versus one at a
//!   time (book chapter 4, appendix E), see `ch04.rs`.
//!
//! Each writes a run folder with `results.json` next to the usual config and summary. Add new
//! measurements as further variants of [`BenchCommand`]; [`machine_load`] and [`median`] are
//! shared.

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::{ch02, ch04};

/// Benchmarks (see the subcommands).
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchCommand,
}

/// What to measure.
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Prefill and decode throughput and peak memory (chapter 2).
    Generate(ch02::BenchGenerateArgs),
    /// N samples of one prompt: batched with a shared prefill versus one at a time (chapter 4).
    Sample(ch04::BenchSampleArgs),
}

/// Runs `cargo xtask bench <what>`.
pub fn run(args: BenchArgs) -> Result<()> {
    match args.what {
        BenchCommand::Generate(a) => ch02::bench_generate(a),
        BenchCommand::Sample(a) => ch04::bench_sample(a),
    }
}

/// The 1-minute load average (`/proc/loadavg`), to judge how busy the shared machine was.
pub fn machine_load() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The median of some measurements (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
