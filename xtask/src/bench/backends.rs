//! `bench backends`: burn's CPU backends side by side on the same models.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reasoning_inference::{Control, GenerationConfig, generate_batch};
use reasoning_model::{DType, Model};
use serde::Serialize;
use serde_json::json;

use crate::run::{RunDir, Summary, write_json_atomic};

use super::suite::{default_smollm2, fmt_load};
use super::{compute_threads, machine_load, median};

/// Compare burn's CPU backends on the same models: prefill and greedy decode tokens/s of
/// SmolLM2-135M (the GGUF, f32) and of the tiny model's architecture (`reasoning-arith`'s
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
    reasoning_train::fs::write_atomic(&run.file("results.md"), table.as_bytes())?;
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
