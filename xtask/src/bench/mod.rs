//! `cargo xtask bench <what>`: measurements that are not accuracy experiments.
//!
//! - `bench generate`: prefill and decode tokens/s and peak memory (book chapter 2's
//!   `generate_stats`), see `ch02.rs`.
//! - `bench sample`: N samples of one prompt, batched with a shared prefill versus one at a
//!   time (book chapter 4, appendix E), see `ch04.rs`.
//! - `bench sft-step`, `bench grpo-step`: the time of one training step (chapters 8 and 6).
//! - `bench bandwidth`: this machine's memory bandwidth, the floor under decoding.
//! - `bench serve`: chat requests to `serve` one at a time against all at once.
//! - `bench ranks`: training steps on MPI ranks against one process (feature `mpi`).
//! - `bench suite`: all of the above for SmolLM2-135M and Qwen3-0.6B's architecture, each in
//!   its own process (so each reports its own peak memory), optionally beside the PyTorch
//!   reference (`scripts/bench_pytorch.py`), with ratios; results.json and results.md.
//!
//! Each writes a run folder with `results.json` next to the usual config and summary. Add new
//! measurements as further variants of [`BenchCommand`]; [`machine_load`] and [`median`] are
//! shared. The training steps are in `steps.rs`, the others in files named after them.

use anyhow::Result;
use clap::{Args, Subcommand};
use reasoning_inference::stats::peak_rss_bytes;
use reasoning_model::runtime::in_pool;

use crate::{ch02, ch04};

mod backends;
mod bandwidth;
mod ranks;
mod serve;
mod steps;
mod suite;

pub use backends::{BackendsArgs, backends};
pub use bandwidth::{BandwidthArgs, bandwidth};
pub use ranks::{RanksArgs, ranks};
pub use serve::{ServeBenchArgs, serve};
pub use steps::{GrpoStepArgs, SftStepArgs, grpo_step, sft_step};
pub use suite::{SuiteArgs, suite};

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
    /// Time of one supervised fine-tuning step (chapter 8).
    SftStep(SftStepArgs),
    /// Time of one GRPO step: G sampled rollouts plus the policy update (chapter 6).
    GrpoStep(GrpoStepArgs),
    /// Memory bandwidth of this machine (copy and read), the floor under decoding.
    Bandwidth(BandwidthArgs),
    /// The whole suite, optionally against the PyTorch reference (docs/performance.md).
    Suite(SuiteArgs),
    /// Prefill and decode of SmolLM2-135M and the tiny model on each CPU backend (flex, ndarray).
    Backends(BackendsArgs),
    /// Chat requests to `serve` one at a time against all at once (continuous batching).
    Serve(ServeBenchArgs),
    /// Training steps on MPI ranks against one process, same global batch (feature `mpi`).
    Ranks(RanksArgs),
}

/// Runs `cargo xtask bench <what>`.
pub fn run(args: BenchArgs) -> Result<()> {
    match args.what {
        BenchCommand::Generate(a) => in_pool(|| ch02::bench_generate(a)),
        BenchCommand::Sample(a) => in_pool(|| ch04::bench_sample(a)),
        BenchCommand::SftStep(a) => sft_step(a),
        BenchCommand::GrpoStep(a) => grpo_step(a),
        BenchCommand::Bandwidth(a) => bandwidth(a),
        BenchCommand::Suite(a) => suite(a),
        BenchCommand::Backends(a) => backends(a),
        BenchCommand::Serve(a) => serve(a),
        BenchCommand::Ranks(a) => ranks(a),
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

/// Peak resident memory of this process in MiB.
fn peak_mb() -> Option<f64> {
    peak_rss_bytes().map(|b| b as f64 / (1024.0 * 1024.0))
}

/// Threads burn-flex (rayon) computes with: `RAYON_NUM_THREADS`, else the available cores.
fn compute_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

// ---------------------------------------------------------------------------------------------
// Training steps.
// ---------------------------------------------------------------------------------------------

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
