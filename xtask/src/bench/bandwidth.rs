//! `bench bandwidth`: this machine's memory bandwidth, the floor under decoding.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use reasoning_model::{Config, DType};
use serde::Serialize;
use serde_json::json;

use crate::run::{RunDir, Summary, write_json_atomic};

use super::{compute_threads, machine_load};

/// Measure this machine's memory bandwidth: the speed limit of decoding, which reads every
/// weight once per step.
///
/// Two measurements over a buffer far larger than the caches (`--mib`, 512 MiB): *copy*
/// (`memcpy` of half the buffer into the other half on each of `--threads` threads; bytes read
/// plus bytes written per second, the STREAM convention) and *read* (each of `--threads`
/// threads sums its share of the buffer with `reasoning_model::kernels::stream_sum`, vector
/// loads into independent accumulators: bytes read per second, the access pattern of
/// decoding). Best of `--repeats`. Writes a run folder with results.json. Seconds.
///
///     cargo xtask bench bandwidth
#[derive(Args, Debug, Serialize)]
pub struct BandwidthArgs {
    /// Buffer size in MiB.
    #[arg(long, default_value_t = 512)]
    pub mib: usize,
    /// Threads of the copy (default: the cores burn-flex uses).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Measured passes (the best is reported).
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Run folder (default runs/bench-bandwidth-<timestamp>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Measured bandwidths in GB/s (10⁹ bytes per second).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Bandwidth {
    /// `memcpy`: (read + written bytes) / s.
    pub copy_gb_s: f64,
    /// Vectorised sum on every thread: read bytes / s.
    pub read_gb_s: f64,
    /// Threads used.
    pub threads: usize,
}

impl Bandwidth {
    /// The higher of the two figures: the strictest floor for a memory-bound step.
    pub fn best_gb_s(&self) -> f64 {
        self.copy_gb_s.max(self.read_gb_s)
    }
}

/// Measures copy and read bandwidth over `bytes` of memory (see [`BandwidthArgs`]).
pub fn measure_bandwidth(bytes: usize, threads: usize, repeats: usize) -> Bandwidth {
    let threads = threads.max(1);
    let floats = (bytes / 4).max(1 << 20);
    // Copy: each thread copies its half-chunk into its other half.
    let mut buffer = vec![1f32; floats];
    let chunk = floats.div_ceil(threads);
    let mut copy = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        std::thread::scope(|s| {
            for part in buffer.chunks_mut(chunk) {
                s.spawn(move || {
                    let half = part.len() / 2;
                    let (a, b) = part.split_at_mut(half);
                    b[..half].copy_from_slice(a);
                });
            }
        });
        copy = copy.min(start.elapsed().as_secs_f64());
    }
    drop(buffer);
    let copied_bytes = 2.0 * (floats / 2) as f64 * 4.0;
    // Read: every thread sums its share once, with vector loads into independent lanes.
    // (burn-flex's own sum, used here before, measured 22-36 GB/s on runs where decoding
    // itself streamed its weights at 32 GB/s: its reduction, not the memory, was the limit.)
    let buffer = vec![1f32; floats];
    let mut read = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        let total: f32 = std::thread::scope(|s| {
            let parts: Vec<_> = buffer
                .chunks(chunk)
                .map(|part| s.spawn(move || reasoning_model::kernels::stream_sum(part)))
                .collect();
            parts.into_iter().map(|p| p.join().unwrap_or(0.0)).sum()
        });
        read = read.min(start.elapsed().as_secs_f64());
        std::hint::black_box(total);
    }
    Bandwidth {
        copy_gb_s: copied_bytes / copy / 1e9,
        read_gb_s: floats as f64 * 4.0 / read / 1e9,
        threads,
    }
}

/// Runs `cargo xtask bench bandwidth`.
pub fn bandwidth(args: BandwidthArgs) -> Result<()> {
    let load_before = machine_load();
    let threads = args.threads.unwrap_or_else(compute_threads);
    let run = RunDir::create("bench-bandwidth", args.out.as_deref(), &args)?;
    let bw = measure_bandwidth(args.mib << 20, threads, args.repeats);
    let results = json!({
        "bandwidth": bw,
        "mib": args.mib,
        "load_average_before": load_before,
        "load_average_after": machine_load(),
    });
    write_json_atomic(&run.file("results.json"), &results)?;
    run.write_summary(
        &Summary {
            model: "none".into(),
            dataset: format!("{} MiB buffer", args.mib),
            n: args.repeats,
            ..Summary::default()
        },
        results,
    )?;
    println!(
        "memory bandwidth ({threads} threads): copy {:.1} GB/s, read {:.1} GB/s",
        bw.copy_gb_s, bw.read_gb_s
    );
    run.finish();
    Ok(())
}

/// Bytes of weights one decoding step reads: every linear layer's matrix and the output head
/// (the embedding table itself when tied), plus the norms; the embedding lookup reads one row
/// per token, which is negligible. The KV cache is not counted.
pub fn decode_weight_bytes(config: &Config, dtype: DType) -> f64 {
    let (h, q, kv, ffn) = (
        config.hidden_size,
        config.num_attention_heads * config.head_dim,
        config.num_key_value_heads * config.head_dim,
        config.intermediate_size,
    );
    let per_layer = h * q + 2 * h * kv + q * h + 3 * h * ffn + 2 * h;
    let head = config.vocab_size * h;
    ((config.num_hidden_layers * per_layer + head + h) * dtype.size()) as f64
}

// ---------------------------------------------------------------------------------------------
// CPU backends.
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_reads_every_smollm2_weight_once() {
        // 134,515,008 parameters; the tied embedding is read as the head, and the embedding
        // lookup of one row is not counted, so weight bytes = parameters × 4.
        let bytes = decode_weight_bytes(&Config::smollm2_135m(), DType::F32);
        assert_eq!(bytes, 134_515_008.0 * 4.0);
        let qwen = decode_weight_bytes(&Config::qwen3_0_6b(), DType::BF16);
        // Qwen3-0.6B: 596,049,920 parameters, of which the per-head q/k norms (2 · 128 per
        // layer) are not counted here.
        assert_eq!(qwen, (596_049_920.0 - 28.0 * 256.0) * 2.0);
    }

    #[test]
    fn bandwidth_is_measured_positive_on_a_small_buffer() {
        let bw = measure_bandwidth(8 << 20, 2, 1);
        assert!(bw.copy_gb_s > 0.0 && bw.read_gb_s > 0.0, "{bw:?}");
        assert_eq!(bw.best_gb_s(), bw.copy_gb_s.max(bw.read_gb_s));
    }
}
