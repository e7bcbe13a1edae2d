//! `cargo xtask bench <what>`: measurements that are not accuracy experiments.
//!
//! - `bench generate`: prefill and decode tokens/s and peak memory (book chapter 2's
//!   `generate_stats`), see `ch02.rs`.
//! - `bench sample`: N samples of one prompt, batched with a shared prefill versus one at a
//!   time (book chapter 4, appendix E), see `ch04.rs`.
//! - `bench sft-step`, `bench grpo-step`: the time of one training step (chapters 8 and 6).
//! - `bench bandwidth`: this machine's memory bandwidth, the floor under decoding.
//! - `bench suite`: all of the above for SmolLM2-135M and Qwen3-0.6B's architecture, each in
//!   its own process (so each reports its own peak memory), optionally beside the PyTorch
//!   reference (`scripts/bench_pytorch.py`), with ratios; results.json and results.md.
//!
//! Each writes a run folder with `results.json` next to the usual config and summary. Add new
//! measurements as further variants of [`BenchCommand`]; [`machine_load`] and [`median`] are
//! shared.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::optim::GradientsParams;
use clap::{Args, Subcommand};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reasoning_distill::sft::{SftBatch, SftExample, batch_loss, collate};
use reasoning_grpo::step::{OldLogprobs, UpdateInputs, update_policy};
use reasoning_grpo::{Group, GrpoConfig, RewardScore, Rollout};
use reasoning_inference::stats::peak_rss_bytes;
use reasoning_inference::{Control, Decoding, GenerationConfig, SamplingParams, generate_batch};
use reasoning_model::runtime::in_pool;
use reasoning_model::{Config, DType, Model};
use reasoning_train::{AdamW, AdamWConfig, clip_grad_norm};
use serde::Serialize;
use serde_json::{Value, json};

use crate::common::{ModelArgs, workspace_root};
use crate::run::{RunDir, Summary, write_json_atomic};
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

/// Time one supervised fine-tuning step (book chapter 8): forward over a batch, masked
/// next-token cross-entropy over the answer tokens, backward, global-norm clipping to 1.0 and
/// an AdamW update (lr 1e-5, torch defaults otherwise).
///
/// The batch is `--batch` sequences of `--seq` seeded random ids whose first
/// `--prompt-tokens` are the prompt (not scored), as `reasoning-distill`'s trainer builds them.
/// Reports the median of `--repeats` steps after one warm-up step (which allocates the
/// optimizer state) and the peak resident memory. Writes a run folder with results.json. About
/// a minute for SmolLM2-135M at the defaults on a 2-core CPU.
///
///     cargo xtask bench sft-step --model ../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf
#[derive(Args, Debug, Serialize)]
pub struct SftStepArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Sequences per step.
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Tokens per sequence (prompt and answer).
    #[arg(long, default_value_t = 256)]
    pub seq: usize,
    /// Prompt tokens at the start of each sequence (not scored).
    #[arg(long, default_value_t = 64)]
    pub prompt_tokens: usize,
    /// Measured steps (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Seed of the random ids.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Run folder (default runs/bench-sft-step-<timestamp>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Loads `--model` (or a random preset) onto the autodiff version of its device, in training
/// mode, with a display name.
fn trainable_model(args: &ModelArgs) -> Result<(Model, String)> {
    let lm = args.load()?;
    let device = lm.model.device().autodiff();
    Ok((lm.model.fork(&device).train(), lm.name))
}

/// One optimizer step on `batch`; returns the loss.
fn update(model: Model, optim: &mut AdamW, batch: &SftBatch) -> (Model, f64) {
    let loss = batch_loss(&model, batch);
    let value = f64::from(loss.clone().into_scalar::<f32>());
    let mut grads = GradientsParams::from_grads(loss.backward(), &model);
    clip_grad_norm(&model, &mut grads, 1.0);
    (optim.step(1e-5, model, grads), value)
}

/// Runs `cargo xtask bench sft-step`.
pub fn sft_step(args: SftStepArgs) -> Result<()> {
    let load_before = machine_load();
    if args.prompt_tokens == 0 || args.prompt_tokens >= args.seq {
        bail!(
            "--prompt-tokens {} must be at least 1 and below --seq {}",
            args.prompt_tokens,
            args.seq
        );
    }
    let run = RunDir::create("bench-sft-step", args.out.as_deref(), &args)?;
    let (mut model, name) = trainable_model(&args.model)?;
    let device = model.device();
    let vocab = model.config().vocab_size as u32;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let examples: Vec<SftExample> = (0..args.batch.max(1))
        .map(|_| {
            let ids: Vec<u32> = (0..args.seq).map(|_| rng.random_range(0..vocab)).collect();
            let (prompt, answer) = ids.split_at(args.prompt_tokens);
            SftExample::new(prompt.to_vec(), answer.to_vec())
        })
        .collect::<Result<_, _>>()?;
    let refs: Vec<&SftExample> = examples.iter().collect();
    let batch = collate(&refs, 0, 1.0 / refs.len() as f64, &device);
    let mut optim = AdamW::new(AdamWConfig::default())?;
    let mut losses = Vec::new();
    let mut steps = Vec::new();
    for i in 0..=args.repeats.max(1) {
        let start = Instant::now();
        let (next, loss) = update(model, &mut optim, &batch);
        model = next;
        if i > 0 {
            steps.push(start.elapsed().as_secs_f64());
            losses.push(loss);
        }
    }
    let step_seconds = median(&steps);
    let results = json!({
        "model": name,
        "dtype": args.model.dtype,
        "batch": refs.len(),
        "seq": args.seq,
        "prompt_tokens": args.prompt_tokens,
        "tokens": batch.tokens,
        "answer_tokens": batch.answer_tokens,
        "step_seconds": step_seconds,
        "tokens_per_s": batch.tokens as f64 / step_seconds,
        "steps": steps,
        "losses": losses,
        "peak_rss_mb": peak_mb(),
        "threads": compute_threads(),
        "load_average_before": load_before,
        "load_average_after": machine_load(),
    });
    write_json_atomic(&run.file("results.json"), &results)?;
    run.write_summary(
        &Summary {
            model: name.clone(),
            dataset: format!("synthetic: {} x {} random ids", refs.len(), args.seq),
            n: steps.len(),
            seed: Some(args.seed),
            ..Summary::default()
        },
        results,
    )?;
    println!(
        "{name}: one SFT step ({} x {} tokens) in {step_seconds:.2} s, peak RSS {}",
        refs.len(),
        args.seq,
        peak_mb().map_or("n/a".into(), |m| format!("{m:.0} MB"))
    );
    run.finish();
    Ok(())
}

/// Time one GRPO step (book chapter 6): sample `--num-samples` rollouts of one prompt
/// (temperature 0.8, top-p 0.9, a shared prefill, `--new-tokens` each, no stop), then one
/// policy update by `reasoning_grpo::step::update_policy`, the trainer's own, with the book's
/// loss: one packed forward of the rollouts with gradients, loss `-(1/G) Σ_i A_i Σ_t log p`,
/// backward, global-norm clipping to 1.0, AdamW (lr 1e-5). (The update also computes the
/// rollouts' entropy for the logs, one more pass over the logits, which the book's chapter-6
/// script does not.)
///
/// The prompt is `--prompt-tokens` seeded random ids and the advantages are fixed at ±1
/// (alternating), so the step does the work of a real one without a dataset or verifier (the
/// reward costs microseconds). Reports the median step, rollout and update seconds of
/// `--repeats` steps after one warm-up step, and the peak resident memory. Writes a run folder
/// with results.json. About two minutes for SmolLM2-135M at the defaults on a 2-core CPU.
///
///     cargo xtask bench grpo-step --model ../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf
#[derive(Args, Debug, Serialize)]
pub struct GrpoStepArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Rollouts per prompt (the book's G = 8).
    #[arg(long, default_value_t = 8)]
    pub num_samples: usize,
    /// Prompt length in tokens.
    #[arg(long, default_value_t = 64)]
    pub prompt_tokens: usize,
    /// Tokens generated per rollout.
    #[arg(long, default_value_t = 128)]
    pub new_tokens: usize,
    /// Measured steps (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Seed of the prompt and of the sampling streams.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Run folder (default runs/bench-grpo-step-<timestamp>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `cargo xtask bench grpo-step`.
pub fn grpo_step(args: GrpoStepArgs) -> Result<()> {
    let load_before = machine_load();
    let g = args.num_samples.max(1);
    let run = RunDir::create("bench-grpo-step", args.out.as_deref(), &args)?;
    let (mut model, name) = trainable_model(&args.model)?;
    let vocab = model.config().vocab_size as u32;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let prompt: Vec<u32> = (0..args.prompt_tokens.max(1))
        .map(|_| rng.random_range(0..vocab))
        .collect();
    let params = SamplingParams {
        temperature: 0.8,
        top_p: Some(0.9),
        top_k: None,
        min_p: None,
    };
    let config = GenerationConfig::greedy(args.new_tokens.max(1), &[])
        .with_decoding(Decoding::Sample(params));
    let advantages: Vec<f64> = (0..g)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    // The book's chapter-6 settings, as one update of G rollouts of `--new-tokens` each.
    let grpo = GrpoConfig {
        max_new_tokens: args.new_tokens.max(1),
        ..GrpoConfig::default()
    };
    let mut optim = AdamW::new(AdamWConfig::default())?;
    let mut runs = Vec::new();
    for step in 0..=args.repeats.max(1) {
        let start = Instant::now();
        // Step 1: rollouts from an inference copy of the policy.
        let mut streams: Vec<ChaCha8Rng> = (0..g as u64)
            .map(|j| reasoning_inference::sample_stream(args.seed, step as u64, j))
            .collect();
        let out = generate_batch(
            &model.valid(),
            std::slice::from_ref(&prompt),
            g,
            &config,
            &mut streams,
            |_| Control::Continue,
        )?;
        let rollout_seconds = start.elapsed().as_secs_f64();
        // Step 2: the library's update with the book's chapter-6 loss,
        // -(1/G) Σ_i A_i Σ_t log p(o_it): one packed forward of all G rollouts with
        // gradients, the loss, backward, global-norm clipping, AdamW.
        let group = Group {
            record: 0,
            prompt: prompt.clone(),
            rollouts: out
                .generations
                .into_iter()
                .zip(&advantages)
                .map(|(r, &advantage)| Rollout {
                    ids: r.ids,
                    text: String::new(),
                    finish: r.finish,
                    score: RewardScore::default(),
                    reward: advantage,
                    advantage,
                    steps: Vec::new(),
                    token_advantages: Vec::new(),
                })
                .collect(),
        };
        let groups = [group];
        let inputs = UpdateInputs::new(&groups, 1e-5, 0);
        model = update_policy(
            model,
            &mut optim,
            &grpo,
            inputs,
            &mut OldLogprobs::default(),
        )?
        .0;
        let step_seconds = start.elapsed().as_secs_f64();
        if step > 0 {
            runs.push((
                step_seconds,
                rollout_seconds,
                step_seconds - rollout_seconds,
            ));
        }
    }
    let pick = |f: fn(&(f64, f64, f64)) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    let step_seconds = pick(|r| r.0);
    let results = json!({
        "model": name,
        "dtype": args.model.dtype,
        "num_samples": g,
        "prompt_tokens": prompt.len(),
        "new_tokens": args.new_tokens,
        "step_seconds": step_seconds,
        "rollout_seconds": pick(|r| r.1),
        "update_seconds": pick(|r| r.2),
        "steps": runs.iter().map(|r| r.0).collect::<Vec<_>>(),
        "peak_rss_mb": peak_mb(),
        "threads": compute_threads(),
        "load_average_before": load_before,
        "load_average_after": machine_load(),
    });
    write_json_atomic(&run.file("results.json"), &results)?;
    run.write_summary(
        &Summary {
            model: name.clone(),
            dataset: format!("synthetic: one prompt of {} random ids", prompt.len()),
            n: runs.len(),
            seed: Some(args.seed),
            ..Summary::default()
        },
        results,
    )?;
    println!(
        "{name}: one GRPO step (G = {g}, {} new tokens) in {step_seconds:.2} s \
         (rollouts {:.2} s, update {:.2} s), peak RSS {}",
        args.new_tokens,
        pick(|r| r.1),
        pick(|r| r.2),
        peak_mb().map_or("n/a".into(), |m| format!("{m:.0} MB"))
    );
    run.finish();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Memory bandwidth.
// ---------------------------------------------------------------------------------------------

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

/// Compare burn's CPU backends on the same models: prefill and greedy decode tokens/s of
/// SmolLM2-135M (the GGUF, f32) and of the tiny model's architecture (`reasoning-distill`'s
/// default `TinySize`, 4 layers of width 192, vocabulary 1,000, seeded random weights) on each
/// `--devices` entry (`cpu` is burn-flex; `ndarray` needs `--features ndarray`, which rebuilds
/// burn: use a separate target dir, e.g. `CARGO_TARGET_DIR=../target-ndarray cargo xtask
/// --features ndarray ...`).
///
/// Our hand-written kernels (burn-flex only) are switched off for this comparison, so both
/// backends run burn's own ops; `--with-kernels` keeps them on. Medians of `--repeats` after a
/// warm-up. Writes a run folder with results.json and results.md. About 2 minutes per backend
/// on a 2-core CPU.
///
///     cargo xtask bench backends --devices cpu
#[derive(Args, Debug, Serialize)]
pub struct BackendsArgs {
    /// Devices to compare (comma-separated): cpu (burn-flex), ndarray.
    #[arg(long, value_delimiter = ',', default_value = "cpu")]
    pub devices: Vec<String>,
    /// SmolLM2-135M GGUF (default: as `bench suite`).
    #[arg(long)]
    pub smollm2: Option<PathBuf>,
    /// Prompt length.
    #[arg(long, default_value_t = 128)]
    pub prompt_tokens: usize,
    /// Decoded tokens.
    #[arg(long, default_value_t = 64)]
    pub new_tokens: usize,
    /// Measured runs (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Keep our burn-flex kernels on (default: burn's ops only, on every backend).
    #[arg(long)]
    pub with_kernels: bool,
    /// Run folder (default runs/bench-backends-<timestamp>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Prefill and decode tokens/s of `model` on random prompts (median of `repeats`).
fn generation_speed(
    model: &Model,
    prompt_tokens: usize,
    new_tokens: usize,
    repeats: usize,
) -> Result<(f64, f64)> {
    let vocab = model.config().vocab_size as u32;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let prompt: Vec<u32> = (0..prompt_tokens.max(1))
        .map(|_| rng.random_range(0..vocab))
        .collect();
    let config = GenerationConfig::greedy(new_tokens + 1, &[]);
    let warm = GenerationConfig::greedy(2, &[]);
    generate_batch(
        model,
        &[prompt[..prompt.len().min(8)].to_vec()],
        1,
        &warm,
        &mut [],
        |_| Control::Continue,
    )?;
    let (mut prefill, mut decode) = (Vec::new(), Vec::new());
    for _ in 0..repeats.max(1) {
        let out = generate_batch(
            model,
            std::slice::from_ref(&prompt),
            1,
            &config,
            &mut [],
            |_| Control::Continue,
        )?;
        prefill.push(out.stats.prefill_tokens_per_s());
        decode.push(out.stats.decode_tokens_per_s(1));
    }
    Ok((median(&prefill), median(&decode)))
}

/// Runs `cargo xtask bench backends`.
pub fn backends(args: BackendsArgs) -> Result<()> {
    use reasoning_arith::tiny::{TinySize, tiny_config};
    use reasoning_model::DeviceSpec;

    reasoning_model::kernels::set_enabled(args.with_kernels);
    let run = RunDir::create("bench-backends", args.out.as_deref(), &args)?;
    let smollm2 = args.smollm2.clone().unwrap_or_else(default_smollm2);
    let mut rows = Vec::new();
    for name in &args.devices {
        let spec: DeviceSpec = name.parse()?;
        let device = spec
            .device()
            .with_context(|| format!("cannot open the device {name}"))?;
        let tiny = Model::init(&tiny_config(&TinySize::default(), 1000, 1), &device, 0);
        let load = machine_load();
        let (p, d) = generation_speed(&tiny, args.prompt_tokens, args.new_tokens, args.repeats)?;
        rows.push(json!({"device": name, "model": "tiny (4 x 192, random)", "prefill_tokens_per_s": p, "decode_tokens_per_s": d, "load_average": load}));
        drop(tiny);
        if smollm2.is_file() {
            let model = Model::load(&smollm2, &device, DType::F32)
                .with_context(|| format!("cannot load {}", smollm2.display()))?;
            let load = machine_load();
            let (p, d) =
                generation_speed(&model, args.prompt_tokens, args.new_tokens, args.repeats)?;
            rows.push(json!({"device": name, "model": "SmolLM2-135M f32", "prefill_tokens_per_s": p, "decode_tokens_per_s": d, "load_average": load}));
        }
    }
    let mut table = format!(
        "| device | model | prefill {} tokens, tokens/s | decode {} tokens, tokens/s | load |\n|---|---|---|---|---|\n",
        args.prompt_tokens, args.new_tokens
    );
    for r in &rows {
        table.push_str(&format!(
            "| {} | {} | {:.1} | {:.1} | {} |\n",
            r["device"].as_str().unwrap_or("?"),
            r["model"].as_str().unwrap_or("?"),
            r["prefill_tokens_per_s"].as_f64().unwrap_or(f64::NAN),
            r["decode_tokens_per_s"].as_f64().unwrap_or(f64::NAN),
            fmt_load(r["load_average"].as_f64()),
        ));
    }
    let results = json!({"rows": rows, "kernels": args.with_kernels, "threads": compute_threads()});
    write_json_atomic(&run.file("results.json"), &results)?;
    write_text_atomic(&run.file("results.md"), &table)?;
    run.write_summary(
        &Summary {
            model: "SmolLM2-135M, tiny".into(),
            dataset: "synthetic prompts".into(),
            n: rows.len(),
            ..Summary::default()
        },
        results,
    )?;
    println!("{table}");
    run.finish();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The suite.
// ---------------------------------------------------------------------------------------------

/// Run the performance suite of docs/performance.md, optionally beside the PyTorch reference.
///
/// Cases (`--only` picks some, comma-separated):
/// - `bandwidth`: memory bandwidth (`bench bandwidth`);
/// - `smollm2-f32`, `qwen3-f32`, `qwen3-bf16`: prefill (`--prompt-tokens`, 512) and greedy
///   decode (`--new-tokens`, 128) tokens/s and peak memory at each `--batches` size (1 and 8),
///   for SmolLM2-135M (the GGUF, dequantised to f32) and Qwen3-0.6B's architecture with seeded
///   random weights (`bench generate`); decode is also set against the bandwidth limit
///   (weight bytes per step / measured bandwidth);
/// - `sample`: 8 sampled continuations of one prompt, batched vs one at a time (`bench sample`);
/// - `sft-step`, `grpo-step`: one training step of SmolLM2-135M (`bench sft-step`,
///   `bench grpo-step`).
///
/// Each case runs in its own process, so its peak resident memory is its own. With
/// `--compare-pytorch` each case also runs `scripts/bench_pytorch.py` with the same shapes and
/// `--threads` (HF transformers on the same GGUF for SmolLM2; a plain PyTorch Qwen3 with a
/// preallocated KV cache), and the table shows ours / PyTorch. Install its dependencies with
/// `python3 -m pip install -r scripts/requirements-bench.txt`.
///
/// Writes a run folder with results.json (every case's figures, the machine's load before and
/// after each), results.md (the table), summary.json, and each case's own run folder under
/// cases/. About 25 minutes on a 2-core CPU at `--repeats 3`, about 50 with
/// `--compare-pytorch`; run it when the machine is otherwise idle (the load is recorded).
///
///     cargo xtask bench suite --compare-pytorch
#[derive(Args, Debug, Serialize)]
pub struct SuiteArgs {
    /// SmolLM2-135M GGUF (default: $REASONING_ASSETS/models/SmolLM2-135M-Instruct.Q4_1.gguf,
    /// else ../shared/models/ beside the workspace).
    #[arg(long)]
    pub smollm2: Option<PathBuf>,
    /// Run only these cases (comma-separated): bandwidth, smollm2-f32, qwen3-f32, qwen3-bf16,
    /// sample, sft-step, grpo-step.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Batch sizes of the generation cases.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    pub batches: Vec<usize>,
    /// Prompt length of the generation cases.
    #[arg(long, default_value_t = 512)]
    pub prompt_tokens: usize,
    /// Decoded tokens of the generation cases (and per sample / rollout elsewhere).
    #[arg(long, default_value_t = 128)]
    pub new_tokens: usize,
    /// Measured runs per case (medians are reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Device of our side: cpu (burn-flex) or ndarray (needs the cargo feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Also run the PyTorch reference (scripts/bench_pytorch.py) and report ratios.
    #[arg(long)]
    pub compare_pytorch: bool,
    /// The Python interpreter for --compare-pytorch.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Threads of both sides (RAYON_NUM_THREADS for ours, torch.set_num_threads for PyTorch).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Run folder (default runs/bench-suite-<timestamp>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Every case name, in running order.
const CASES: [&str; 7] = [
    "bandwidth",
    "smollm2-f32",
    "qwen3-f32",
    "qwen3-bf16",
    "sample",
    "sft-step",
    "grpo-step",
];

/// The SmolLM2 GGUF the suite uses by default.
fn default_smollm2() -> PathBuf {
    let name = Path::new("models").join("SmolLM2-135M-Instruct.Q4_1.gguf");
    match std::env::var_os("REASONING_ASSETS") {
        Some(dir) => PathBuf::from(dir).join(name),
        None => workspace_root()
            .parent()
            .map_or_else(|| PathBuf::from("shared"), |p| p.join("shared"))
            .join(name),
    }
}

/// One row of the suite's table.
#[derive(Debug, Clone, Serialize)]
struct Row {
    case: String,
    what: String,
    unit: String,
    ours: f64,
    pytorch: Option<f64>,
    /// ours / PyTorch for rates, PyTorch / ours for times (so > 1 is always "we are faster").
    speedup: Option<f64>,
    target: String,
    peak_mb_ours: Option<f64>,
    peak_mb_pytorch: Option<f64>,
    note: String,
}

/// Runs one child process and returns its stdout; the error names the command.
fn run_child(mut cmd: Command, what: &str) -> Result<String> {
    let shown = format!("{cmd:?}");
    eprintln!("[bench suite] {what}: {shown}");
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {shown}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {shown}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `cargo xtask bench <args>` as a child writing into `dir`, and reads its results.json.
fn ours(args: &[String], dir: &Path, threads: usize) -> Result<Value> {
    let exe = std::env::current_exe().context("cannot find the xtask binary")?;
    let mut cmd = Command::new(exe);
    cmd.arg("bench")
        .args(args)
        .arg("--out")
        .arg(dir)
        .env("RAYON_NUM_THREADS", threads.to_string());
    run_child(cmd, "ours")?;
    let path = dir.join("results.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// Runs `scripts/bench_pytorch.py <args>` and parses the JSON on its last stdout line.
fn pytorch(suite: &SuiteArgs, args: &[String]) -> Result<Value> {
    let script = workspace_root().join("scripts").join("bench_pytorch.py");
    let mut cmd = Command::new(&suite.python);
    cmd.arg(&script)
        .args(args)
        .arg("--threads")
        .arg(suite.threads.to_string())
        .arg("--repeats")
        .arg(suite.repeats.to_string())
        .env("OMP_NUM_THREADS", suite.threads.to_string());
    let stdout = run_child(cmd, "pytorch")?;
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .with_context(|| format!("{} printed no JSON line", script.display()))?;
    serde_json::from_str(line).context("the PyTorch script's JSON line does not parse")
}

/// Reads a number field of a JSON result.
fn num(v: &Value, key: &str) -> Result<f64> {
    v.get(key)
        .and_then(Value::as_f64)
        .with_context(|| format!("result has no number field {key}: {v}"))
}

/// Runs `cargo xtask bench suite`.
pub fn suite(args: SuiteArgs) -> Result<()> {
    for name in &args.only {
        if !CASES.contains(&name.as_str()) {
            bail!("--only {name}: expected some of {}", CASES.join(", "));
        }
    }
    let selected = |c: &str| args.only.is_empty() || args.only.iter().any(|o| o == c);
    let smollm2 = args.smollm2.clone().unwrap_or_else(default_smollm2);
    let needs_smollm2 = ["smollm2-f32", "sample", "sft-step", "grpo-step"]
        .iter()
        .any(|c| selected(c));
    if needs_smollm2 && !smollm2.is_file() {
        bail!(
            "the SmolLM2 GGUF {} does not exist; pass --smollm2 or set REASONING_ASSETS",
            smollm2.display()
        );
    }
    let run = RunDir::create("bench-suite", args.out.as_deref(), &args)?;
    let cases = run.path.join("cases");
    let gguf = smollm2.display().to_string();
    let s = |v: &dyn ToString| v.to_string();
    let (rep, threads) = (s(&args.repeats), args.threads);
    let mut rows: Vec<Row> = Vec::new();
    let mut raw = serde_json::Map::new();
    let mut bandwidth: Option<Bandwidth> = None;

    if selected("bandwidth")
        || ["smollm2-f32", "qwen3-f32", "qwen3-bf16"]
            .iter()
            .any(|c| selected(c))
    {
        let load = machine_load();
        let bw = measure_bandwidth(512 << 20, threads, 5);
        raw.insert(
            "bandwidth".into(),
            json!({"bandwidth": bw, "load_average": load}),
        );
        rows.push(Row {
            case: "bandwidth".into(),
            what: format!("memory bandwidth, read, {threads} threads"),
            unit: "GB/s".into(),
            ours: bw.read_gb_s,
            pytorch: None,
            speedup: None,
            target: String::new(),
            peak_mb_ours: None,
            peak_mb_pytorch: None,
            note: format!("copy {:.1} GB/s; load {}", bw.copy_gb_s, fmt_load(load)),
        });
        bandwidth = Some(bw);
    }

    // Generation: prefill and decode per model, dtype and batch.
    let generation = [
        ("smollm2-f32", "SmolLM2-135M", "f32"),
        ("qwen3-f32", "Qwen3-0.6B (random)", "f32"),
        ("qwen3-bf16", "Qwen3-0.6B (random)", "bf16"),
    ];
    for (case, label, dtype) in generation {
        if !selected(case) {
            continue;
        }
        if dtype == "bf16" && args.device == "ndarray" {
            eprintln!("[bench suite] {case}: skipped, burn-ndarray has no bf16");
            continue;
        }
        let config = if case.starts_with("smollm2") {
            Config::smollm2_135m()
        } else {
            Config::qwen3_0_6b()
        };
        let weight_bytes = decode_weight_bytes(&config, dtype.parse()?);
        for &batch in &args.batches {
            let id = format!("{case}-b{batch}");
            let mut ours_args = vec![
                "generate".to_string(),
                "--batch".into(),
                s(&batch),
                "--prompt-tokens".into(),
                s(&args.prompt_tokens),
                "--new-tokens".into(),
                s(&args.new_tokens),
                "--repeats".into(),
                rep.clone(),
                "--dtype".into(),
                dtype.into(),
                "--device".into(),
                args.device.clone(),
            ];
            let mut py_args = vec![
                "generate".to_string(),
                "--batch".into(),
                s(&batch),
                "--prompt-tokens".into(),
                s(&args.prompt_tokens),
                "--new-tokens".into(),
                s(&args.new_tokens),
                "--dtype".into(),
                dtype.into(),
            ];
            if case.starts_with("smollm2") {
                ours_args.extend(["--model".into(), gguf.clone()]);
                py_args.extend(["--gguf".into(), gguf.clone()]);
            } else {
                ours_args.extend(["--random-weights".into(), "qwen3-0.6b".into()]);
                py_args.extend(["--random".into(), "qwen3-0.6b".into()]);
            }
            // The machine's bandwidth moves with its other tenants (22-36 GB/s over one day's
            // runs), so each case's limit uses a measurement taken just before it.
            let case_bandwidth = bandwidth.map(|_| measure_bandwidth(512 << 20, threads, 3));
            let o = ours(&ours_args, &cases.join(&id), threads)?;
            let p = if args.compare_pytorch {
                Some(pytorch(&args, &py_args)?)
            } else {
                None
            };
            let decode = num(&o, "decode_tokens_per_s")?;
            // Seconds per step at the bandwidth limit: every weight read once per step.
            let limit = case_bandwidth.map(|bw| {
                let step_floor = weight_bytes / (bw.best_gb_s() * 1e9);
                let step = batch as f64 / decode;
                (step_floor, step_floor / step)
            });
            let mut push = |what: &str, key: &str, target: &str, note: String| -> Result<()> {
                let ours_v = num(&o, key)?;
                let py_v = p.as_ref().map(|p| num(p, key)).transpose()?;
                rows.push(Row {
                    case: id.clone(),
                    what: format!("{label} {dtype} batch {batch}: {what}"),
                    unit: "tokens/s".into(),
                    ours: ours_v,
                    pytorch: py_v,
                    speedup: py_v.map(|v| ours_v / v),
                    target: target.into(),
                    peak_mb_ours: o.get("peak_rss_mb").and_then(Value::as_f64),
                    peak_mb_pytorch: p
                        .as_ref()
                        .and_then(|p| p.get("peak_rss_mb"))
                        .and_then(Value::as_f64),
                    note,
                });
                Ok(())
            };
            push(
                &format!("prefill {} tokens", args.prompt_tokens),
                "prefill_tokens_per_s",
                ">= 1.0x",
                format!(
                    "load {} / {}",
                    fmt_load(o.get("load_average_before").and_then(Value::as_f64)),
                    fmt_load(
                        p.as_ref()
                            .and_then(|p| p.get("load_average"))
                            .and_then(Value::as_f64)
                    )
                ),
            )?;
            let note = match limit {
                Some((floor, frac)) => format!(
                    "{:.0} MB weights/step; bandwidth {:.1} GB/s just before: limit {:.1} ms/step; \
                     {:.0}% of it",
                    weight_bytes / 1e6,
                    case_bandwidth.map_or(0.0, |bw| bw.best_gb_s()),
                    floor * 1e3,
                    frac * 100.0
                ),
                None => String::new(),
            };
            // The bandwidth target is batch 1's: a batch of 8 reads each weight once for 8
            // tokens, so it is bound by arithmetic, and its fraction is shown for reference.
            let target = if batch == 1 {
                ">= 1.5x, >= 70% of bandwidth limit"
            } else {
                ">= 1.5x"
            };
            push(
                &format!("decode {} tokens", args.new_tokens),
                "decode_tokens_per_s",
                target,
                note,
            )?;
            raw.insert(id, json!({"ours": o, "pytorch": p, "weight_bytes_per_step": weight_bytes, "bandwidth": case_bandwidth, "bandwidth_limit": limit.map(|(f, r)| json!({"step_seconds": f, "fraction": r}))}));
        }
    }

    if selected("sample") {
        let id = "sample".to_string();
        let o = ours(
            &[
                "sample".into(),
                "--model".into(),
                gguf.clone(),
                "--num-samples".into(),
                "8".into(),
                "--max-new-tokens".into(),
                s(&args.new_tokens),
                "--ignore-eos".into(),
                "--temperature".into(),
                "0.8".into(),
                "--repeats".into(),
                rep.clone(),
                "--device".into(),
                args.device.clone(),
            ],
            &cases.join(&id),
            threads,
        )?;
        let prompt_tokens = num(&o, "prompt_tokens")? as usize;
        let p = if args.compare_pytorch {
            Some(pytorch(
                &args,
                &[
                    "sample".into(),
                    "--gguf".into(),
                    gguf.clone(),
                    "--num-samples".into(),
                    "8".into(),
                    "--prompt-tokens".into(),
                    s(&prompt_tokens),
                    "--new-tokens".into(),
                    s(&args.new_tokens),
                ],
            )?)
        } else {
            None
        };
        for (what, key, target) in [
            ("8 samples one at a time", "sequential_tokens_per_s", ""),
            ("8 samples as one batch", "batched_tokens_per_s", ""),
        ] {
            let ours_v = num(&o, key)?;
            let py_v = p.as_ref().map(|p| num(p, key)).transpose()?;
            rows.push(Row {
                case: id.clone(),
                what: format!("SmolLM2-135M f32: {what}"),
                unit: "tokens/s".into(),
                ours: ours_v,
                pytorch: py_v,
                speedup: py_v.map(|v| ours_v / v),
                target: target.into(),
                peak_mb_ours: o.get("peak_rss_mb").and_then(Value::as_f64),
                peak_mb_pytorch: p
                    .as_ref()
                    .and_then(|p| p.get("peak_rss_mb"))
                    .and_then(Value::as_f64),
                note: String::new(),
            });
        }
        let ratio = num(&o, "speedup")?;
        rows.push(Row {
            case: id.clone(),
            what: "SmolLM2-135M f32: batched / sequential throughput".into(),
            unit: "x".into(),
            ours: ratio,
            pytorch: p.as_ref().map(|p| num(p, "speedup")).transpose()?,
            speedup: None,
            target: ">= 4x (ours)".into(),
            peak_mb_ours: None,
            peak_mb_pytorch: None,
            note: format!(
                "prompt {prompt_tokens} tokens, {} new per sample; identical samples: {}",
                args.new_tokens,
                o.get("identical_samples").unwrap_or(&Value::Null)
            ),
        });
        raw.insert(id, json!({"ours": o, "pytorch": p}));
    }

    for (case, rust_args, py_args, what) in [
        (
            "sft-step",
            vec![
                "sft-step".to_string(),
                "--batch".into(),
                "4".into(),
                "--seq".into(),
                "256".into(),
                "--prompt-tokens".into(),
                "64".into(),
            ],
            vec![
                "sft-step".to_string(),
                "--batch".into(),
                "4".into(),
                "--seq".into(),
                "256".into(),
                "--prompt-tokens".into(),
                "64".into(),
            ],
            "one SFT step, 4 x 256 tokens".to_string(),
        ),
        (
            "grpo-step",
            vec![
                "grpo-step".to_string(),
                "--num-samples".into(),
                "8".into(),
                "--prompt-tokens".into(),
                "64".into(),
                "--new-tokens".into(),
                s(&args.new_tokens),
            ],
            vec![
                "grpo-step".to_string(),
                "--num-samples".into(),
                "8".into(),
                "--prompt-tokens".into(),
                "64".into(),
                "--new-tokens".into(),
                s(&args.new_tokens),
            ],
            format!("one GRPO step, G = 8, {} new tokens", args.new_tokens),
        ),
    ] {
        if !selected(case) {
            continue;
        }
        let mut rust_args = rust_args;
        rust_args.extend([
            "--model".into(),
            gguf.clone(),
            "--repeats".into(),
            rep.clone(),
            "--device".into(),
            args.device.clone(),
        ]);
        let mut py_args = py_args;
        py_args.extend(["--gguf".into(), gguf.clone()]);
        let o = ours(&rust_args, &cases.join(case), threads)?;
        let p = if args.compare_pytorch {
            Some(pytorch(&args, &py_args)?)
        } else {
            None
        };
        let ours_v = num(&o, "step_seconds")?;
        let py_v = p.as_ref().map(|p| num(p, "step_seconds")).transpose()?;
        let split = match (
            o.get("rollout_seconds"),
            p.as_ref().and_then(|p| p.get("rollout_seconds")),
        ) {
            (Some(a), Some(b)) => format!(
                "rollouts {:.2} / {:.2} s",
                a.as_f64().unwrap_or(f64::NAN),
                b.as_f64().unwrap_or(f64::NAN)
            ),
            (Some(a), None) => format!("rollouts {:.2} s", a.as_f64().unwrap_or(f64::NAN)),
            _ => String::new(),
        };
        rows.push(Row {
            case: case.into(),
            what: format!("SmolLM2-135M f32: {what}"),
            unit: "s".into(),
            ours: ours_v,
            pytorch: py_v,
            speedup: py_v.map(|v| v / ours_v),
            target: "time <= PyTorch's".into(),
            peak_mb_ours: o.get("peak_rss_mb").and_then(Value::as_f64),
            peak_mb_pytorch: p
                .as_ref()
                .and_then(|p| p.get("peak_rss_mb"))
                .and_then(Value::as_f64),
            note: format!(
                "{split}; load {}",
                fmt_load(o.get("load_average_before").and_then(Value::as_f64))
            ),
        });
        raw.insert(case.into(), json!({"ours": o, "pytorch": p}));
    }

    let table = markdown_table(&rows, args.compare_pytorch);
    let results = json!({
        "rows": rows,
        "cases": raw,
        "threads": args.threads,
        "device": args.device,
        "compare_pytorch": args.compare_pytorch,
    });
    write_json_atomic(&run.file("results.json"), &results)?;
    let md = format!(
        "# bench suite\n\n`cargo xtask bench suite{}`; {} threads; device {}.\n\
         Speed-up: ours / PyTorch for rates, PyTorch / ours for step times (> 1: ours is faster).\n\n{table}",
        if args.compare_pytorch {
            " --compare-pytorch"
        } else {
            ""
        },
        args.threads,
        args.device,
    );
    write_text_atomic(&run.file("results.md"), &md)?;
    run.write_summary(
        &Summary {
            model: "SmolLM2-135M, Qwen3-0.6B (random weights)".into(),
            dataset: "synthetic prompts".into(),
            n: rows.len(),
            ..Summary::default()
        },
        json!({"rows": rows.len()}),
    )?;
    println!("{table}");
    run.finish();
    Ok(())
}

/// Writes `text` to `path` through a temporary file and a rename.
fn write_text_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("md.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// A load average for a table note.
fn fmt_load(load: Option<f64>) -> String {
    load.map_or("n/a".into(), |l| format!("{l:.1}"))
}

/// The suite's rows as a markdown table.
fn markdown_table(rows: &[Row], compare: bool) -> String {
    let mut out = String::new();
    let num = |v: f64| {
        if v >= 100.0 {
            format!("{v:.0}")
        } else if v >= 10.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.2}")
        }
    };
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("-".to_string(), f);
    if compare {
        out.push_str("| measurement | unit | ours | PyTorch | speed-up | target | peak MB (ours / PyTorch) | notes |\n");
        out.push_str("|---|---|---|---|---|---|---|---|\n");
    } else {
        out.push_str("| measurement | unit | ours | peak MB | notes |\n|---|---|---|---|---|\n");
    }
    for r in rows {
        let peak = |v: Option<f64>| opt(v, &|m| format!("{m:.0}"));
        if compare {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} / {} | {} |\n",
                r.what,
                r.unit,
                num(r.ours),
                opt(r.pytorch, &num),
                opt(r.speedup, &|x| format!("{x:.2}x")),
                r.target,
                peak(r.peak_mb_ours),
                peak(r.peak_mb_pytorch),
                r.note
            ));
        } else {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                r.what,
                r.unit,
                num(r.ours),
                peak(r.peak_mb_ours),
                r.note
            ));
        }
    }
    out
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

    #[test]
    fn markdown_table_shows_ratios_only_when_comparing() {
        let row = Row {
            case: "x".into(),
            what: "decode".into(),
            unit: "tokens/s".into(),
            ours: 30.0,
            pytorch: Some(20.0),
            speedup: Some(1.5),
            target: ">= 1.5x".into(),
            peak_mb_ours: Some(600.0),
            peak_mb_pytorch: None,
            note: "n".into(),
        };
        let with = markdown_table(std::slice::from_ref(&row), true);
        assert!(
            with.contains("| decode | tokens/s | 30.0 | 20.0 | 1.50x | >= 1.5x | 600 / - | n |"),
            "{with}"
        );
        let without = markdown_table(&[row], false);
        assert!(
            !without.contains("1.50x")
                && without.contains("| decode | tokens/s | 30.0 | 600 | n |"),
            "{without}"
        );
    }
}
