//! The embedded default model: its datasets (`make-datasets`) and its training
//! (`pretrain-tiny`).
//!
//! Every command's default `--model` is `models/tiny-arith` (a small Qwen3 trained from scratch
//! on the arithmetic task family) and its default dataset `datasets/arith/test.jsonl`; both
//! resolve from the workspace root (`common::default_model_dir`, `default_dataset_path`). The
//! recipe lives in `reasoning_arith::tiny`; see `docs/tiny-model.md`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use reasoning_arith::measure::{MeasureConfig, TinyReport, measure};
use reasoning_arith::task::{SplitConfig, make_splits, read_jsonl, records, to_jsonl};
use reasoning_arith::tiny::{PolishConfig, PretrainConfig, PretrainOutcome, pretrain};
use reasoning_distill::sft::SftRun;
use reasoning_model::DeviceSpec;
use reasoning_tokenizer::Tokenizer;
use reasoning_train::fs::{write_atomic, write_dir_atomic};
use serde::Serialize;
use serde_json::json;

use crate::common::{DEFAULT_MODEL_NAME, default_dataset_path, stop_on_ctrl_c, workspace_root};
use crate::run::{RunDir, Summary};

/// Returns `<workspace>/datasets`.
fn default_datasets_dir() -> PathBuf {
    workspace_root().join("datasets")
}

/// Regenerate the arithmetic datasets (the task family behind the embedded tiny model).
///
/// Writes `<out>/arith/train.jsonl` (20,000 problems), `val.jsonl` (200) and `test.jsonl`
/// (500), in MATH-500 layout (`problem`, `solution`, `answer`, `subject`, `level`,
/// `unique_id`), drawn from one seeded stream and deduplicated on the normalised expression so
/// no split shares a problem. With the defaults it reproduces the committed files byte for
/// byte. Writes no run folder (the output is the dataset itself); prints the `arith` folder
/// last. Under a second on a 2-core CPU.
///
///     cargo xtask make-datasets
#[derive(Args, Debug, Serialize)]
pub struct MakeDatasetsArgs {
    /// Seed of the generator.
    #[arg(long, default_value_t = SplitConfig::default().seed)]
    pub seed: u64,
    /// Folder that receives `arith/` [default: the workspace's datasets/].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Training problems.
    #[arg(long, default_value_t = SplitConfig::default().n_train)]
    pub n_train: usize,
    /// Validation problems.
    #[arg(long, default_value_t = SplitConfig::default().n_val)]
    pub n_val: usize,
    /// Test problems.
    #[arg(long, default_value_t = SplitConfig::default().n_test)]
    pub n_test: usize,
}

/// Runs `cargo xtask make-datasets`.
pub fn make_datasets(args: MakeDatasetsArgs) -> Result<()> {
    let config = SplitConfig {
        seed: args.seed,
        n_train: args.n_train,
        n_val: args.n_val,
        n_test: args.n_test,
        ..SplitConfig::default()
    };
    let splits = make_splits(&config)?;
    let dir = args.out.unwrap_or_else(default_datasets_dir).join("arith");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, problems) in [
        ("train", &splits.train),
        ("val", &splits.val),
        ("test", &splits.test),
    ] {
        let path = dir.join(format!("{name}.jsonl"));
        write_atomic(&path, to_jsonl(&records(problems, name)).as_bytes())?;
        println!("{}: {} problems", path.display(), problems.len());
    }
    println!("{}", dir.display());
    Ok(())
}

/// Train the embedded tiny reasoning model from scratch (the default `--model`).
///
/// Builds a byte-level BPE tokenizer on the training conversations, initialises a seeded
/// 4-layer Qwen3 and trains it with SFT (the chapter-8 loss: answer tokens only) on
/// `datasets/arith/train.jsonl`, 80% of problems in the `<think>` reasoning style and 20% in
/// the direct style, then a short third phase in which a quarter of the reasoning answers skip
/// their reasoning (an empty think block). Then measures it: greedy accuracy on the test split in both styles,
/// self-consistency with 5 samples at T=0.8/top-p 0.9 and at T=1, greedy and pass@8 on
/// training problems. Writes the run folder: config.json, tokenizer/, metrics.csv,
/// metrics.png, checkpoints/step-*/ (resumable with --resume), model/ (HF Qwen3 layout with a
/// generated README), report.json and summary.json; `--install` copies model/ into
/// models/tiny-arith. The default recipe takes about 14 minutes of training and 1 of
/// measuring on a quiet 2-core CPU (see docs/tiny-model.md for measured times).
///
///     cargo xtask pretrain-tiny --out runs/tiny --install
#[derive(Args, Debug, Serialize)]
pub struct PretrainTinyArgs {
    /// Seed of the initialisation, the answer-style draw and the data order.
    #[arg(long, default_value_t = PretrainConfig::default().seed)]
    pub seed: u64,
    /// Optimizer steps of phase 1, the drill on raw solution lines (0 skips it).
    #[arg(long, default_value_t = PretrainConfig::default().drill.map_or(0, |d| d.sft.total_steps))]
    pub drill_steps: u64,
    /// Optimizer steps of phase 2, SFT on the chat-formatted problems.
    #[arg(long, default_value_t = PretrainConfig::default().sft.total_steps)]
    pub steps: u64,
    /// Optimizer steps of phase 3, SFT at a constant learning rate in which a quarter of the
    /// reasoning answers skip their reasoning (0 skips the phase; see docs/tiny-model.md).
    #[arg(long, default_value_t = PretrainConfig::default().polish.map_or(0, |p| p.sft.total_steps))]
    pub polish_steps: u64,
    /// Phase 3: highest problem level kept [default: 5].
    #[arg(long)]
    pub polish_max_level: Option<u8>,
    /// Phase 3: constant learning rate [default: 1e-4].
    #[arg(long)]
    pub polish_lr: Option<f64>,
    /// Phase 3: fraction of reasoning-style examples rewritten with an empty think block
    /// [default: 0.25].
    #[arg(long)]
    pub polish_empty_think: Option<f64>,
    /// Folder holding train.jsonl, val.jsonl and test.jsonl [default: datasets/arith].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Run folder [default: runs/pretrain-tiny-<timestamp>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue from the latest checkpoint in the run folder (needs --out).
    #[arg(long, requires = "out")]
    pub resume: bool,
    /// Copy the trained model into models/tiny-arith (replacing the shipped one).
    #[arg(long)]
    pub install: bool,
    /// Skip the measurements after training.
    #[arg(long)]
    pub no_measure: bool,
    /// Compute device: cpu (burn-flex), ndarray or wgpu (cargo features).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Runs `cargo xtask pretrain-tiny`.
pub fn pretrain_tiny(args: PretrainTinyArgs) -> Result<()> {
    let data_dir = args
        .data
        .clone()
        .unwrap_or_else(|| default_datasets_dir().join("arith"));
    let mut config = PretrainConfig {
        seed: args.seed,
        ..PretrainConfig::default()
    };
    set_steps(&mut config.sft, args.steps, args.seed);
    if args.drill_steps == 0 {
        config.drill = None;
    } else if let Some(drill) = &mut config.drill {
        // One epoch of fresh sequences for the requested steps.
        drill.sequences = args.drill_steps as usize * drill.sft.batch_size;
        set_steps(&mut drill.sft, args.drill_steps, args.seed);
    }
    config.polish = match (args.polish_steps, config.polish.take()) {
        (0, _) => None,
        (steps, polish) => {
            let mut polish = polish.unwrap_or_else(|| PolishConfig::pilot(steps));
            set_steps(&mut polish.sft, steps, args.seed);
            if let Some(level) = args.polish_max_level {
                polish.max_level = level;
            }
            if let Some(lr) = args.polish_lr {
                polish.sft.schedule = reasoning_train::LrSchedule::Constant { lr };
            }
            if let Some(f) = args.polish_empty_think {
                polish.empty_think_fraction = f;
            }
            Some(polish)
        }
    };
    let run = RunDir::create(
        "pretrain-tiny",
        args.out.as_deref(),
        &json!({ "args": &args, "recipe": &config }),
    )?;
    let device = args
        .device
        .parse::<DeviceSpec>()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .device()?;
    let read = |name: &str| {
        let path = data_dir.join(format!("{name}.jsonl"));
        read_jsonl(&path).with_context(|| format!("cannot read the {name} split"))
    };
    let (train, val) = (read("train")?, read("val")?);
    let test_path = if args.data.is_some() {
        data_dir.join("test.jsonl")
    } else {
        default_dataset_path()
    };
    let test = read_jsonl(&test_path)?;

    let stop = stop_on_ctrl_c();
    let root = crate::dist::is_root();
    let bar = if root {
        ProgressBar::new(config.sft.total_steps)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} {bar:30} {pos}/{len} steps  {msg}  [{elapsed_precise}, eta {eta_precise}]",
        )
        .expect("valid progress template"),
    );
    let ranks = crate::dist::ranks();
    let sft_run = SftRun {
        dir: &run.path,
        extra_files: Vec::new(),
        resume: args.resume,
        stop: Some(&stop),
        collective: &*ranks,
    };
    let mut val_loss = f64::NAN;
    let outcome = pretrain(&config, &train, &val, &device, &sft_run, &mut |p| {
        let phase = match p.metric("phase") {
            Some(1.0) => "drill",
            Some(3.0) => "polish",
            _ => "sft",
        };
        if bar.prefix() != phase {
            bar.reset();
            bar.set_prefix(phase);
            bar.set_length(p.total_steps);
            val_loss = f64::NAN;
        }
        bar.set_position(p.step);
        if let Some(v) = p.metric("val_loss") {
            val_loss = v;
        }
        bar.set_message(format!(
            "loss {:.3}  val {:.3}  {:.0} tok/s",
            p.metric("loss").unwrap_or(f64::NAN),
            val_loss,
            p.metric("tokens_per_sec").unwrap_or(0.0)
        ));
    })?;
    bar.finish();
    if !root {
        return Ok(());
    }
    if outcome.sft.interrupted {
        eprintln!(
            "interrupted at step {}; continue with --resume --out {}",
            outcome.sft.steps,
            run.path.display()
        );
        run.finish();
        return Ok(());
    }

    // Measure the final model (greedy, sampled, pass@k) unless asked not to.
    let measured_started = std::time::Instant::now();
    let report = if args.no_measure {
        None
    } else {
        let tok = Tokenizer::load(&outcome.model_dir)?;
        eprintln!("measuring {} ...", outcome.model_dir.display());
        let report = measure(
            &outcome.sft.model,
            &tok,
            &test,
            &train,
            &MeasureConfig::default(),
        )?;
        crate::run::write_json_atomic(&run.file("report.json"), &report)?;
        Some(report)
    };
    let measure_seconds = measured_started.elapsed().as_secs_f64();
    let readme = model_readme(&config, &outcome, report.as_ref(), measure_seconds);
    write_atomic(&outcome.model_dir.join("README.md"), readme.as_bytes())?;

    let greedy = report.as_ref().map(|r| r.greedy_reasoning.accuracy);
    run.write_summary(
        &Summary {
            model: outcome.model_dir.display().to_string(),
            dataset: test_path.display().to_string(),
            n: report.as_ref().map_or(0, |r| r.greedy_reasoning.n),
            accuracy: greedy,
            seconds: None,
            seed: Some(args.seed),
        },
        json!({
            "drill_seconds": outcome.drill_seconds,
            "train_seconds": outcome.sft_seconds,
            "polish_seconds": outcome.polish_seconds,
            "total_train_seconds": outcome.drill_seconds + outcome.sft_seconds + outcome.polish_seconds,
            "measure_seconds": measure_seconds,
            "steps": outcome.sft.steps,
            "num_params": outcome.num_params,
            "final_train_loss": outcome.sft.train_loss,
            "final_val_loss": outcome.sft.val_loss,
            "report": report,
        }),
    )?;
    if args.install {
        let dest = workspace_root().join("models").join(DEFAULT_MODEL_NAME);
        install(&outcome.model_dir, &dest)?;
        eprintln!("installed into {}", dest.display());
    }
    run.finish();
    Ok(())
}

/// Sets a phase's step count (and the end of its cosine schedule) and seed.
fn set_steps(sft: &mut reasoning_distill::sft::SftConfig, steps: u64, seed: u64) {
    sft.total_steps = steps;
    sft.seed = seed;
    if let reasoning_train::LrSchedule::WarmupCosine { total_steps, .. } = &mut sft.schedule {
        *total_steps = steps;
    }
}

/// Copies a model folder's files into `dest`, replacing it atomically.
fn install(from: &Path, dest: &Path) -> Result<()> {
    let mut names = Vec::new();
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?
    {
        let entry = entry?;
        if entry.path().is_file() {
            names.push(entry.file_name());
        }
    }
    if names.is_empty() {
        bail!("{} holds no files to install", from.display());
    }
    write_dir_atomic(dest, |tmp| {
        for name in &names {
            std::fs::copy(from.join(name), tmp.join(name))
                .map_err(|e| reasoning_train::TrainError::io("copy", from.join(name), e))?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Formats a fraction as a percentage with one decimal.
fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// Writes the model card: how the model was trained and what it measured.
fn model_readme(
    config: &PretrainConfig,
    outcome: &PretrainOutcome,
    report: Option<&TinyReport>,
    measure_seconds: f64,
) -> String {
    let s = &config.size;
    let mut md = format!(
        "# tiny-arith: the embedded default model of reasoning-rs\n\n\
         A {params}-parameter Qwen3 (HF `Qwen3ForCausalLM` layout) trained from scratch on the \
         arithmetic task family of `reasoning_arith::task` (datasets/arith). It answers \
         the book's prompt (`render_prompt`) through its chat template, either reasoning step \
         by step inside `<think>...</think>` (the default, `enable_thinking=True`) or directly \
         (`enable_thinking=False`), and ends with `\\boxed{{N}}`. It is deliberately imperfect: \
         the chapters' methods (self-consistency, GRPO, distillation) have room to improve it.\n\n\
         ## How it was trained\n\n\
         - Command: `cargo xtask pretrain-tiny --seed {seed} --drill-steps {dsteps} --steps {steps}{pflag}` (recipe: \
         `reasoning_arith::tiny::PretrainConfig::default()`; docs/tiny-model.md).\n\
         - Architecture: {layers} layers, hidden {hidden}, {heads} query / {kv} key-value heads of \
         width {hd}, SwiGLU {ffn}, QK-norm, tied embeddings, vocabulary {vocab} (byte-level BPE \
         with Qwen3's pre-tokenizer, trained on the training conversations), RoPE θ 10⁴.\n\
         - Phase 1 (drill): {drill}.\n\
         - Phase 2 (SFT): the 20,000 training problems as chat examples, {reason:.0}% with \
         reasoning and the rest answered directly, loss on answer tokens only (chapter-8 SFT); \
         {steps} steps of {batch} examples, AdamW (β 0.9/0.999, ε 1e-8, weight decay {wd}), \
         warmup + cosine learning rate ({sched}), global gradient clipping at 1.0, seed {seed}.\n\
         {polish}\
         - Training time on the build machine's CPU (burn-flex, 2 cores): {drill_s:.0} s \
         (phase 1) + {train_s:.0} s (phase 2){polish_s} = {total_s:.0} s; \
         final training loss {loss:.4}, validation loss {val}.\n",
        polish_s = if config.polish.is_some() {
            format!(" + {:.0} s (phase 3)", outcome.polish_seconds)
        } else {
            String::new()
        },
        total_s = outcome.drill_seconds + outcome.sft_seconds + outcome.polish_seconds,
        pflag = config
            .polish
            .as_ref()
            .map_or(" --polish-steps 0".to_string(), |p| format!(" --polish-steps {}", p.sft.total_steps)),
        polish = config.polish.as_ref().map_or(String::new(), |p| format!(
            "- Phase 3: {} steps of {} chat examples drawn from the training problems of levels 1 to {} \
             (each in the answer style drawn for it in phase 2{}), constant learning rate {}.\n",
            p.sft.total_steps,
            p.sft.batch_size,
            p.max_level,
            if p.empty_think_fraction > 0.0 {
                format!(
                    ", except that {:.0}% of the reasoning-style ones skip their reasoning: \
                     an empty think block under the thinking prompt, `<think>\\n\\n</think>\\n\\n\\boxed{{N}}`",
                    100.0 * p.empty_think_fraction
                )
            } else {
                String::new()
            },
            p.sft.schedule.peak()
        )),
        drill_s = outcome.drill_seconds,
        drill = config
            .drill
            .as_ref()
            .map_or("none".to_string(), |d| format!(
                "{} steps of {} packed sequences of up to {} tokens of solution lines \
             (`a op b = c`) from the training split, loss on every token, peak learning rate {}",
                d.sft.total_steps,
                d.sft.batch_size,
                d.max_tokens,
                d.sft.schedule.peak()
            )),
        params = outcome.num_params,
        seed = config.seed,
        dsteps = config.drill.as_ref().map_or(0, |d| d.sft.total_steps),
        steps = config.sft.total_steps,
        layers = s.num_layers,
        hidden = s.hidden_size,
        heads = s.num_heads,
        kv = s.num_kv_heads,
        hd = s.head_dim,
        ffn = s.intermediate_size,
        vocab = config.vocab_size,
        reason = 100.0 * config.reasoning_fraction,
        batch = config.sft.batch_size,
        wd = config.sft.adamw.weight_decay,
        sched = serde_json::to_string(&config.sft.schedule).unwrap_or_default(),
        train_s = outcome.sft_seconds,
        loss = outcome.sft.train_loss,
        val = outcome
            .sft
            .val_loss
            .map_or("n/a".to_string(), |v| format!("{v:.4}")),
    );
    if let Some(r) = report {
        let m = MeasureConfig::default();
        md.push_str(&format!(
            "\n## Measured (datasets/arith, written by the same command, {measure_seconds:.0} s)\n\n\
             | measurement | problems | result |\n|---|---|---|\n\
             | greedy, reasoning style, test | {n} | {gr} |\n\
             | greedy, direct style, test | {n} | {gd} |\n\
             | T=0.8 top-p 0.9, reasoning, test: first sample / mean of {k} / majority of {k} / pass@{k} | {ns} | {a1} / {a2} / {a3} / {a4} |\n\
             | T=1.0, reasoning, test: first sample / mean of {k} / majority of {k} / pass@{k} | {ns} | {b1} / {b2} / {b3} / {b4} |\n\
             | greedy, reasoning style, train | {nt} | {tg} |\n\
             | pass@{pk} at T=1.0, reasoning style, train | {nt} | {tp} |\n\n\
             Greedy reasoning accuracy by level (1: one operation ... 4: three operations, 5: word \
             problems): {levels}. Mean response length (greedy, reasoning): {len:.1} tokens; \
             distinct answers among {k} samples at T=1: {distinct:.2} per problem.\n",
            n = r.greedy_reasoning.n,
            gr = pct(r.greedy_reasoning.accuracy),
            gd = pct(r.greedy_direct.accuracy),
            k = m.samples,
            ns = r.sampled_t08_p09.n,
            a1 = pct(r.sampled_t08_p09.accuracy),
            a2 = pct(r.sampled_t08_p09.sample_accuracy),
            a3 = pct(r.sampled_t08_p09.majority_accuracy),
            a4 = pct(r.sampled_t08_p09.pass_at_k),
            b1 = pct(r.sampled_t1.accuracy),
            b2 = pct(r.sampled_t1.sample_accuracy),
            b3 = pct(r.sampled_t1.majority_accuracy),
            b4 = pct(r.sampled_t1.pass_at_k),
            nt = r.train_greedy.n,
            tg = pct(r.train_greedy.accuracy),
            pk = m.pass_k,
            tp = pct(r.train_pass_k.pass_at_k),
            levels = r
                .greedy_reasoning
                .per_level
                .iter()
                .map(|(l, a)| format!("L{l} {}", pct(*a)))
                .collect::<Vec<_>>()
                .join(", "),
            len = r.greedy_reasoning.mean_tokens,
            distinct = r.sampled_t1.distinct_answers,
        ));
    }
    md.push_str(
        "\n## Files\n\n`config.json` and `model.safetensors` (f32) load with \
         `transformers.Qwen3ForCausalLM.from_pretrained`; `tokenizer.json`, \
         `tokenizer_config.json` (chat template with `enable_thinking`, eos `<|im_end|>`) and \
         `generation_config.json` with `AutoTokenizer`. `scripts/check_tiny_model.py` checks \
         that transformers and reasoning-rs generate the same tokens and logits.\n\n\
         Licence: Apache-2.0, like the repository; trained only on generated data.\n",
    );
    md
}
