//! `bench sft-step` and `bench grpo-step`: the time of one training step (chapters 8 and 6).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use burn::module::Module;
use burn::optim::GradientsParams;
use clap::Args;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reasoning_distill::sft::{SftBatch, SftExample, batch_loss, collate};
use reasoning_grpo::step::{OldLogprobs, UpdateInputs, update_policy};
use reasoning_grpo::{Group, GrpoConfig, RewardScore, Rollout};
use reasoning_inference::{Control, Decoding, GenerationConfig, SamplingParams, generate_batch};
use reasoning_model::Model;
use reasoning_train::{AdamW, AdamWConfig, clip_grad_norm};
use serde::Serialize;
use serde_json::{Value, json};

use crate::common::ModelArgs;
use crate::run::{RunDir, Summary, write_json_atomic};

use super::{compute_threads, machine_load, median, peak_mb};

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
        "dtype": args.model.load.dtype,
        "batch": refs.len(),
        "seq": args.seq,
        "prompt_tokens": args.prompt_tokens,
        "tokens": batch.tokens,
        "answer_tokens": batch.answer_tokens,
        "step_seconds": step_seconds,
        "tokens_per_s": batch.tokens as f64 / step_seconds,
        "steps": steps,
        "losses": losses,
    });
    let summary = Summary {
        model: name.clone(),
        dataset: format!("synthetic: {} x {} random ids", refs.len(), args.seq),
        n: steps.len(),
        seed: Some(args.seed),
        ..Summary::default()
    };
    write_results(&run, results, load_before, &summary)?;
    println!(
        "{name}: one SFT step ({} x {} tokens) in {step_seconds:.2} s, peak RSS {}",
        refs.len(),
        args.seq,
        peak_text()
    );
    run.finish();
    Ok(())
}

/// Completes a step measurement's `results` with the peak resident memory, the compute threads
/// and the machine's load (`load_before` the measurement and now), then writes results.json and
/// summary.json (`summary` plus the results).
fn write_results(
    run: &RunDir,
    mut results: Value,
    load_before: Option<f64>,
    summary: &Summary,
) -> Result<()> {
    if let Value::Object(fields) = &mut results {
        fields.insert("peak_rss_mb".into(), json!(peak_mb()));
        fields.insert("threads".into(), json!(compute_threads()));
        fields.insert("load_average_before".into(), json!(load_before));
        fields.insert("load_average_after".into(), json!(machine_load()));
    }
    write_json_atomic(&run.file("results.json"), &results)?;
    run.write_summary(summary, results)
}

/// The peak resident memory for a printed line: `123 MB`, or `n/a`.
fn peak_text() -> String {
    peak_mb().map_or("n/a".into(), |m| format!("{m:.0} MB"))
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
                    support: Vec::new(),
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
        "dtype": args.model.load.dtype,
        "num_samples": g,
        "prompt_tokens": prompt.len(),
        "new_tokens": args.new_tokens,
        "step_seconds": step_seconds,
        "rollout_seconds": pick(|r| r.1),
        "update_seconds": pick(|r| r.2),
        "steps": runs.iter().map(|r| r.0).collect::<Vec<_>>(),
    });
    let summary = Summary {
        model: name.clone(),
        dataset: format!("synthetic: one prompt of {} random ids", prompt.len()),
        n: runs.len(),
        seed: Some(args.seed),
        ..Summary::default()
    };
    write_results(&run, results, load_before, &summary)?;
    println!(
        "{name}: one GRPO step (G = {g}, {} new tokens) in {step_seconds:.2} s \
         (rollouts {:.2} s, update {:.2} s), peak RSS {}",
        args.new_tokens,
        pick(|r| r.1),
        pick(|r| r.2),
        peak_text()
    );
    run.finish();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Memory bandwidth.
// ---------------------------------------------------------------------------------------------
