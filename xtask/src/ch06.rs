//! Chapters 6 and 7: reinforcement learning with verifiable rewards (`train-grpo`) and the
//! book's metrics figure (`plot-metrics`). The algorithms live in `reasoning_grpo`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser};
use reasoning_grpo::advantage::AdvantageMode;
use reasoning_grpo::reward::RewardSpec;
use reasoning_grpo::{GrpoConfig, GrpoData, GrpoRun, Preset, train};
use reasoning_train::{AdamWConfig, LrSchedule, Panel, PlotSpec, Series, plot_metrics, read_csv};
use reasoning_verifier::datasets::{FieldMap, Record, load_records};
use serde::Serialize;
use serde_json::json;

use crate::common::{
    DatasetArgs, LogThrottle, ModelArgs, PromptArgs, duration, progress_bar, show_training_step,
    stop_on_ctrl_c, workspace_root,
};
use crate::run::{RunDir, Summary};

/// The headline run: every default of `train-grpo` comes from it, and no flags give it
/// unchanged (tested).
fn tiny() -> GrpoConfig {
    GrpoConfig::tiny_arith()
}

/// Train a model with GRPO on verifiable rewards (book chapters 6-7: section 6.9's training
/// loop and the section 7.3-7.7 variants as `--preset`).
///
/// Each step samples --num-rollouts answers to each of --prompts-per-step training problems
/// (T = 0.8, top-p 0.9), rewards an answer 1 when its `\boxed{}` grades correct, compares the
/// answers of a problem with each other (group-relative advantages) and takes one AdamW step
/// on the preset's loss. Held-out accuracy (greedy) is measured at the start, every
/// --eval-every steps and at the end. Writes a run folder: config.json, metrics.csv (one row
/// per step), metrics.png (the book's 2x2 figure), samples.jsonl (the first group's answers
/// every 10 steps), eval/step-*.jsonl (graded held-out answers), checkpoints/step-*/ (every
/// --checkpoint-every steps, at the end and on Ctrl-C; resumable with --resume), model/ (the
/// final model in HF layout, usable as --model) and summary.json. Prints the start and final
/// accuracy and the run folder last.
///
/// With no flags it trains the embedded tiny model on datasets/arith/train.jsonl and evaluates
/// on the 500 problems of datasets/arith/test.jsonl: 150 steps of 16 problems x 8 rollouts,
/// rewarded for a correct `\boxed{}` answer plus half the fraction of true reasoning lines
/// (`correct+steps`); docs/grpo.md has the measured runs and times. The book's own settings
/// for Qwen3-0.6B are `--preset 6-grpo --prompts-per-step 1 --lr 1e-5 --max-new-tokens 512`.
///
///     cargo xtask train-grpo
///     cargo xtask train-grpo --preset 7.4-clip-ratio --steps 30 --out runs/grpo-7.4
#[derive(Parser, Debug, Clone, Serialize)]
pub struct TrainGrpoArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Training problems with `problem` and `answer` fields (.json or .jsonl)
    /// [default: datasets/arith/train.jsonl].
    #[arg(long)]
    pub dataset_path: Option<String>,
    /// Held-out problems for the greedy accuracy [default: datasets/arith/test.jsonl].
    #[arg(long)]
    pub eval_path: Option<String>,
    /// Evaluate on the first N held-out problems (after --levels).
    #[arg(long, default_value_t = 500)]
    pub eval_limit: usize,
    /// Keep only problems of these levels (e.g. 1 or 1,2), in training and evaluation.
    #[arg(long, value_delimiter = ',')]
    pub levels: Vec<u8>,
    /// Train only on problems of these levels (after --levels); evaluation keeps every level
    /// of --levels.
    #[arg(long, value_delimiter = ',')]
    pub train_levels: Vec<u8>,
    #[command(flatten)]
    pub prompt: PromptArgs,
    /// Algorithm preset (book sections 6-grpo .. 7.6-format-reward, papers grpo, dr-grpo,
    /// dapo, gspo, cispo, olmo3, deepseek-v32, gdpo).
    #[arg(long, default_value_t = tiny().preset)]
    pub preset: Preset,
    /// Reward, overriding the preset's: correct, correct+format, correct+format-if-correct,
    /// correct+boxed, correct+steps (+ 0.5 x the fraction of true `a op b = c` reasoning
    /// lines), format (control), random (control) [default: correct+steps with the default
    /// preset on the embedded datasets/arith, else the preset's].
    #[arg(long)]
    pub reward: Option<String>,
    /// Weight of the reward's second component: the format bonus of correct+format (the
    /// book's --format_reward_weight, 1.0), the box bonus of correct+boxed (GDPO's
    /// --format_coeff, 0.1), the steps fraction of correct+steps (0.5).
    #[arg(long, alias = "format-coef")]
    pub format_reward_weight: Option<f64>,
    /// Training steps.
    #[arg(long, default_value_t = tiny().steps)]
    pub steps: u64,
    /// Training problems per step (the book: 1).
    #[arg(long, default_value_t = tiny().prompts_per_step)]
    pub prompts_per_step: usize,
    /// Rollouts per problem (book: 8).
    #[arg(long, default_value_t = tiny().num_rollouts)]
    pub num_rollouts: usize,
    /// Most new tokens per rollout (book: 512; the tiny model's answers are under 80).
    #[arg(long, default_value_t = tiny().max_new_tokens)]
    pub max_new_tokens: usize,
    /// Most new tokens per held-out answer [default: --max-new-tokens].
    #[arg(long)]
    pub eval_max_new_tokens: Option<usize>,
    /// Rollout temperature (book: 0.8).
    #[arg(long, default_value_t = tiny().temperature)]
    pub temperature: f32,
    /// Rollout top-p (book: 0.9).
    #[arg(long, default_value_t = tiny().top_p)]
    pub top_p: f32,
    /// Top-k of rollouts, applied with top-p (off by default, as in the book's chapters).
    #[arg(long)]
    pub top_k: Option<usize>,
    /// DeepSeek-V3.2's keep-sampling mask: train on the policy renormalised over the ids
    /// top-p/top-k kept when each rollout token was drawn [default: on for deepseek-v32 only].
    #[arg(long, value_name = "BOOL")]
    pub keep_sampling_mask: Option<bool>,
    /// Peak learning rate (book: 1e-5 for Qwen3-0.6B; the tiny model needs far more).
    #[arg(long, default_value_t = tiny().schedule.lr(0))]
    pub lr: f64,
    /// Linear warmup steps before the constant learning rate.
    #[arg(long, default_value_t = 0)]
    pub warmup_steps: u64,
    /// AdamW weight decay (torch's default 0.01, as the book).
    #[arg(long, default_value_t = tiny().adamw.weight_decay)]
    pub weight_decay: f64,
    /// KL coefficient β (0 builds no reference model) [default: 0.1 with the default preset
    /// dr-grpo, whose paper has none: without it the tiny model drifts away from what it knows
    /// and its accuracy falls (docs/grpo.md); the preset's own β with any other --preset].
    #[arg(long)]
    pub kl_coef: Option<f64>,
    /// Updates per step, overriding the preset's (the book's inner_epochs).
    #[arg(long)]
    pub inner_epochs: Option<usize>,
    /// Lower clip ε_low, overriding the preset's.
    #[arg(long)]
    pub clip_eps_low: Option<f64>,
    /// Upper clip ε_high, overriding the preset's.
    #[arg(long)]
    pub clip_eps_high: Option<f64>,
    /// Advantages, overriding the preset's: group-std (book), group-mean (Dr. GRPO), gdpo,
    /// process (DeepSeekMath's process supervision: each reasoning line's verdict and the
    /// answer's correctness normalised over the group, each token credited with the steps at
    /// and after it), process-mean (the same, centred but not divided by the std).
    #[arg(long)]
    pub advantage: Option<String>,
    /// Skip the optimizer step when every advantage is zero (the book's
    /// --skip-zero-advantage-updates).
    #[arg(long)]
    pub skip_zero_advantage: bool,
    /// Rollouts per forward/backward pass (0: the whole step at once); lowers peak memory.
    #[arg(long, default_value_t = 0)]
    pub micro_batch_size: usize,
    /// Micro-batches of an update computed at once, each on its own thread (with
    /// --micro-batch-size 0 the update is split into this many); 1 computes them in turn.
    /// Two use both cores of a small machine on the tiny model, whose ops are too small for
    /// burn to split (the default run: 9.3 instead of 12.9 minutes, the same rollouts and
    /// accuracies; docs/grpo.md).
    #[arg(long, default_value_t = tiny().workers)]
    pub workers: usize,
    /// Evaluate every N steps (0: only at the start and the end).
    #[arg(long, default_value_t = tiny().eval_every)]
    pub eval_every: u64,
    /// Held-out problems per generation batch.
    #[arg(long, default_value_t = tiny().eval_batch_size)]
    pub eval_batch_size: usize,
    /// Checkpoint every N steps (and always at the end and on Ctrl-C).
    #[arg(long, default_value_t = tiny().checkpoint_every)]
    pub checkpoint_every: u64,
    /// Log the first group's answers every N steps (book: 10).
    #[arg(long, default_value_t = tiny().sample_every)]
    pub sample_every: u64,
    /// Seed of the data order and the rollouts (book: 42).
    #[arg(long, default_value_t = tiny().seed)]
    pub seed: u64,
    /// Continue the run in this folder from its latest checkpoint, with the flags it was
    /// started with (flags given now are ignored).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Run folder [default: runs/train-grpo-<timestamp>].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The `--advantage` names.
fn parse_advantage(name: &str) -> Result<AdvantageMode> {
    let eps = 1e-4;
    Ok(match name {
        "group-std" => AdvantageMode::GroupStd { eps },
        "group-mean" => AdvantageMode::GroupMean,
        "gdpo" => AdvantageMode::Gdpo { eps },
        "process" => AdvantageMode::Process { eps, std: true },
        "process-mean" => AdvantageMode::Process { eps, std: false },
        _ => bail!(
            "unknown --advantage {name:?}; known: group-std, group-mean, gdpo, process, process-mean"
        ),
    })
}

impl TrainGrpoArgs {
    /// The run's configuration from the flags.
    fn config(&self, max_new_tokens: usize) -> Result<GrpoConfig> {
        // The headline preset keeps the headline run's KL anchor, and on the embedded task
        // family its reward; any other preset starts from its own values.
        let headline = tiny();
        let mut algorithm = self.preset.algorithm();
        if self.preset == headline.preset {
            algorithm.loss.kl_coef = headline.algorithm.loss.kl_coef;
            if self.dataset_path.is_none() {
                algorithm.reward = headline.algorithm.reward.clone();
            }
        }
        if let Some(name) = &self.reward {
            algorithm.reward = RewardSpec::parse(name, self.seed).with_context(|| {
                format!(
                    "unknown --reward {name:?}; known: {}",
                    RewardSpec::NAMES.join(", ")
                )
            })?;
        }
        if let Some(w) = self.format_reward_weight {
            if !w.is_finite() {
                bail!("--format-reward-weight must be a finite number, got {w}");
            }
            match &mut algorithm.reward {
                RewardSpec::CorrectAndFormat { format_weight, .. } => *format_weight = w,
                RewardSpec::CorrectAndBoxed { boxed_weight } => *boxed_weight = w,
                RewardSpec::CorrectAndSteps { steps_weight } => *steps_weight = w,
                other => bail!(
                    "--format-reward-weight weighs the second part of a two-part reward \
                     (correct+format, correct+format-if-correct, correct+boxed, correct+steps); \
                     the reward here is {other:?}"
                ),
            }
        }
        if let Some(b) = self.kl_coef {
            algorithm.loss.kl_coef = b;
        }
        if let Some(e) = self.inner_epochs {
            algorithm.inner_epochs = e;
        }
        if let Some(e) = self.clip_eps_low {
            algorithm.loss.eps_low = e;
        }
        if let Some(e) = self.clip_eps_high {
            algorithm.loss.eps_high = e;
        }
        if let Some(name) = &self.advantage {
            algorithm.advantage = parse_advantage(name)?;
        }
        algorithm.skip_zero_advantage |= self.skip_zero_advantage;
        if let Some(keep) = self.keep_sampling_mask {
            algorithm.keep_sampling_mask = keep;
        }
        let schedule = if self.warmup_steps > 0 {
            // Warmup, then a constant rate: a cosine whose floor is its peak.
            LrSchedule::WarmupCosine {
                peak_lr: self.lr,
                min_lr: self.lr,
                warmup_steps: self.warmup_steps,
                total_steps: self.steps,
            }
        } else {
            LrSchedule::Constant { lr: self.lr }
        };
        Ok(GrpoConfig {
            preset: self.preset,
            algorithm,
            steps: self.steps,
            prompts_per_step: self.prompts_per_step,
            num_rollouts: self.num_rollouts,
            max_new_tokens: self.max_new_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: self.top_k,
            schedule,
            adamw: AdamWConfig {
                weight_decay: self.weight_decay,
                ..AdamWConfig::default()
            },
            max_grad_norm: headline.max_grad_norm,
            micro_batch_size: self.micro_batch_size,
            workers: self.workers,
            eval_every: self.eval_every,
            eval_batch_size: self.eval_batch_size,
            eval_max_new_tokens: max_new_tokens,
            checkpoint_every: self.checkpoint_every,
            sample_every: self.sample_every,
            seed: self.seed,
        })
    }
}

/// Loads a dataset spec (file or hub id) and keeps the given levels.
fn load_split(spec: &str, levels: &[u8]) -> Result<Vec<Record>> {
    let path = PathBuf::from(spec);
    let mut records = if path.exists() {
        load_records(&path, &FieldMap::default())
            .with_context(|| format!("cannot load the dataset {spec}"))?
    } else {
        DatasetArgs {
            dataset_path: Some(spec.to_string()),
            limit: None,
        }
        .load()?
    };
    if !levels.is_empty() {
        records.retain(|r| r.level.is_some_and(|l| levels.contains(&l)));
    }
    if records.is_empty() {
        bail!("the dataset {spec} holds no problems of levels {levels:?}");
    }
    Ok(records)
}

/// The subcommand's own arguments as given on the command line (after `train-grpo`).
fn own_argv() -> Vec<String> {
    let all: Vec<String> = std::env::args().collect();
    match all.iter().position(|a| a == "train-grpo") {
        Some(i) => all[i + 1..].to_vec(),
        None => Vec::new(),
    }
}

/// Runs `cargo xtask train-grpo`.
pub fn train_grpo(args: TrainGrpoArgs) -> Result<()> {
    // A resumed run takes its flags from its config.json.
    let (args, argv) = match &args.resume {
        Some(dir) => {
            let path = dir.join("config.json");
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot resume: {} is missing", path.display()))?;
            let saved: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            let argv: Vec<String> = serde_json::from_value(saved["argv"].clone())
                .with_context(|| format!("{} has no \"argv\" list", path.display()))?;
            let mut parsed = TrainGrpoArgs::try_parse_from(
                std::iter::once("train-grpo".to_string()).chain(argv.iter().cloned()),
            )
            .with_context(|| format!("cannot parse the flags saved in {}", path.display()))?;
            parsed.resume = Some(dir.clone());
            parsed.out = Some(dir.clone());
            (parsed, argv)
        }
        None => (args, own_argv()),
    };
    let train_spec = args.dataset_path.clone().unwrap_or_else(|| {
        workspace_root()
            .join("datasets/arith/train.jsonl")
            .display()
            .to_string()
    });
    let eval_spec = args
        .eval_path
        .clone()
        .unwrap_or_else(|| crate::common::default_dataset_path().display().to_string());
    let mut train_set = load_split(&train_spec, &args.levels)?;
    if !args.train_levels.is_empty() {
        train_set.retain(|r| r.level.is_some_and(|l| args.train_levels.contains(&l)));
        if train_set.is_empty() {
            bail!(
                "the dataset {train_spec} holds no problems of levels {:?}",
                args.train_levels
            );
        }
    }
    let mut eval_set = load_split(&eval_spec, &args.levels)?;
    eval_set.truncate(args.eval_limit);
    let eval_max = args.eval_max_new_tokens.unwrap_or(args.max_new_tokens);
    let config = args.config(eval_max)?;
    config.validate()?;

    // The model on an autodiff device.
    let spec = args.model.spec();
    let lm = args.model.load_trainable("model")?;
    let builder = args.prompt.builder(false)?;

    let run = RunDir::create(
        "train-grpo",
        args.out.as_deref(),
        &json!({ "args": &args, "argv": argv, "model_name": lm.name, "seed": args.seed,
                 "grpo": &config, "train_problems": train_set.len(),
                 "eval_problems": eval_set.len() }),
    )?;
    let spec_dir = Path::new(&spec);
    // Rank 0 writes the run folder; other ranks of an `mpirun` job write nothing.
    let extra_files = if crate::dist::is_root() {
        crate::common::tokenizer_files(
            spec_dir.is_dir().then_some(spec_dir),
            &lm.tokenizer,
            &run.path.join("tokenizer"),
        )?
    } else {
        Vec::new()
    };

    let stop = stop_on_ctrl_c();
    let bar = progress_bar(config.steps, "train-grpo");
    let mut eval_shown = String::new();
    let mut throttle = LogThrottle::new(&bar);
    let ranks = crate::dist::ranks();
    let grpo_run = GrpoRun {
        dir: &run.path,
        extra_files,
        resume: args.resume.is_some(),
        stop: Some(&stop),
        save_model: true,
        collective: &*ranks,
    };
    let data = GrpoData {
        train: &train_set,
        eval: &eval_set,
        prompt: builder,
    };
    let outcome = train(
        lm.model,
        &lm.tokenizer,
        data,
        None,
        &config,
        &grpo_run,
        &mut |p| {
            if let Some(a) = p.metric("eval_acc") {
                eval_shown = format!("  eval {:.1}% @{}", 100.0 * a, p.step);
            }
            let message = format!(
                "reward {:.2}  zero-std {:.2}  len {:.0}  {:.0} tok/s{}",
                p.metric("reward_avg").unwrap_or(f64::NAN),
                p.metric("frac_zero_std").unwrap_or(f64::NAN),
                p.metric("avg_response_len").unwrap_or(f64::NAN),
                p.metric("tokens_per_sec").unwrap_or(0.0),
                eval_shown
            );
            show_training_step(&bar, &mut throttle, p, message);
        },
    )?;
    bar.finish_and_clear();
    if !crate::dist::is_root() {
        return Ok(());
    }
    let peak_rss_mb = reasoning_inference::stats::peak_rss_bytes().map(|b| b as f64 / 1048576.0);
    run.write_summary(
        &Summary {
            model: lm.name.clone(),
            dataset: train_spec.clone(),
            n: outcome.eval_n,
            accuracy: outcome.final_accuracy,
            seconds: Some(outcome.seconds),
            seed: Some(args.seed),
        },
        json!({
            "eval_dataset": eval_spec,
            "preset": args.preset,
            "start_accuracy": outcome.start_accuracy,
            "final_accuracy": outcome.final_accuracy,
            "eval_history": outcome.eval_history,
            "steps": outcome.steps,
            "interrupted": outcome.interrupted,
            "peak_rss_mb": peak_rss_mb,
            "model_dir": outcome.model_dir,
            "last_checkpoint": outcome.checkpoint,
        }),
    )?;
    let pct = |a: Option<f64>| a.map_or("-".to_string(), |a| format!("{:.1}%", 100.0 * a));
    if outcome.interrupted {
        eprintln!(
            "interrupted at step {}; continue with: cargo xtask train-grpo --resume {}",
            outcome.steps,
            run.path.display()
        );
    }
    println!(
        "held-out accuracy ({} problems, greedy): start {} -> final {} after {} steps in {}{}",
        outcome.eval_n,
        pct(outcome.start_accuracy),
        pct(outcome.final_accuracy),
        outcome.steps,
        duration(outcome.seconds),
        peak_rss_mb.map_or(String::new(), |m| format!(", peak RSS {m:.0} MB"))
    );
    run.finish();
    Ok(())
}

/// Redraw the book's 2x2 GRPO figure (loss, reward, response length, held-out accuracy) from a
/// train-grpo metrics.csv (book: `plot_metrics.py`), or any columns of any metrics CSV with
/// --columns. Writes the PNG (default: metrics.png next to the CSV) and prints its path. Under
/// a second.
///
///     cargo xtask plot-metrics --csv runs/train-grpo-<timestamp>/metrics.csv
///     cargo xtask plot-metrics --csv runs/distill-<timestamp>/metrics.csv --columns loss,lr --moving-average 5
#[derive(Args, Debug, Serialize)]
pub struct PlotMetricsArgs {
    /// The metrics file (train-grpo's, distill's, or any CSV with a `step` column).
    #[arg(long)]
    pub csv: PathBuf,
    /// Comma-separated columns, one panel each [default: the book's four GRPO panels].
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    /// Moving-average window in logged points, drawn over the raw values (1: raw only)
    /// [default: 10, the book's].
    #[arg(long)]
    pub moving_average: Option<usize>,
    /// The PNG to write [default: metrics.png beside the CSV].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl PlotMetricsArgs {
    /// The figure: the chosen columns two panels a row, or the book's GRPO figure.
    fn spec(&self) -> Result<PlotSpec> {
        let window = self.moving_average.unwrap_or(10);
        if window == 0 {
            bail!("--moving-average must be at least 1");
        }
        let mut spec = if self.columns.is_empty() {
            reasoning_grpo::metrics::grpo_plot()
        } else {
            let panels = self
                .columns
                .iter()
                .map(|c| Panel::new(c, c, vec![Series::new(c, window)]))
                .collect();
            PlotSpec::new("step", panels, 2)
        };
        if self.moving_average.is_some() {
            for series in spec.panels.iter_mut().flat_map(|p| p.series.iter_mut()) {
                series.window = window;
            }
        }
        Ok(spec)
    }
}

/// Runs `cargo xtask plot-metrics`.
pub fn plot_metrics_cmd(args: PlotMetricsArgs) -> Result<()> {
    let spec = args.spec()?;
    let table = read_csv(&args.csv)?;
    let png = args
        .out
        .clone()
        .unwrap_or_else(|| args.csv.with_file_name("metrics.png"));
    plot_metrics(&table, &spec, &png)?;
    println!("{}", png.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plot_args(argv: &[&str]) -> PlotMetricsArgs {
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: PlotMetricsArgs,
        }
        Cli::try_parse_from(argv).unwrap().args
    }

    #[test]
    fn plot_columns_become_panels_with_the_chosen_window() {
        let args = plot_args(&[
            "plot-metrics",
            "--csv",
            "m.csv",
            "--columns",
            "loss,lr,grad_norm",
            "--moving-average",
            "5",
        ]);
        let spec = args.spec().unwrap();
        assert_eq!(spec.panels.len(), 3);
        assert_eq!(spec.columns, 2);
        assert_eq!(spec.panels[2].series[0], Series::new("grad_norm", 5));
        let book = plot_args(&["plot-metrics", "--csv", "m.csv"]);
        assert_eq!(book.spec().unwrap(), reasoning_grpo::metrics::grpo_plot());
        let zero = plot_args(&["plot-metrics", "--csv", "m", "--moving-average", "0"]);
        assert!(zero.spec().is_err());
    }

    #[test]
    fn no_flags_give_the_libraries_headline_configuration_unchanged() {
        assert_eq!(config_of(&[]), GrpoConfig::tiny_arith());
    }

    #[test]
    fn every_preset_name_makes_a_valid_configuration() {
        for preset in Preset::ALL {
            let argv = ["train-grpo", "--preset", preset.name()];
            let args = TrainGrpoArgs::try_parse_from(argv).unwrap();
            args.config(96).unwrap().validate().unwrap();
        }
    }

    #[test]
    fn overrides_replace_the_presets_values() {
        let args = TrainGrpoArgs::try_parse_from([
            "train-grpo",
            "--preset",
            "7.4-clip-ratio",
            "--kl-coef",
            "0.01",
            "--inner-epochs",
            "1",
            "--clip-eps-high",
            "0.3",
            "--reward",
            "random",
        ])
        .unwrap();
        let c = args.config(96).unwrap();
        assert_eq!(c.algorithm.loss.kl_coef, 0.01);
        assert_eq!(c.algorithm.inner_epochs, 1);
        assert_eq!(c.algorithm.loss.eps_high, 0.3);
        assert!(matches!(c.algorithm.reward, RewardSpec::Random { .. }));
        let bad = TrainGrpoArgs::try_parse_from(["train-grpo", "--reward", "vibes"]).unwrap();
        assert!(bad.config(96).unwrap_err().to_string().contains("vibes"));
        let advantage = |name: &str| {
            let args = TrainGrpoArgs::try_parse_from(["train-grpo", "--advantage", name]).unwrap();
            args.config(96).map(|c| c.algorithm.advantage)
        };
        assert_eq!(
            advantage("process-mean").unwrap(),
            AdvantageMode::Process {
                eps: 1e-4,
                std: false
            }
        );
        assert_eq!(
            advantage("group-std").unwrap(),
            AdvantageMode::GroupStd { eps: 1e-4 }
        );
        assert!(
            advantage("vibes")
                .unwrap_err()
                .to_string()
                .contains("vibes")
        );
    }

    /// The run configuration `train-grpo` builds from `flags`.
    fn config_of(flags: &[&str]) -> GrpoConfig {
        let mut argv = vec!["train-grpo"];
        argv.extend(flags);
        TrainGrpoArgs::try_parse_from(argv)
            .unwrap()
            .config(96)
            .unwrap()
    }

    #[test]
    fn the_default_preset_gets_a_kl_anchor_and_other_presets_keep_their_own() {
        let c = config_of;
        assert_eq!(c(&[]).algorithm.loss.kl_coef, 0.1);
        assert_eq!(c(&["--kl-coef", "0"]).algorithm.loss.kl_coef, 0.0);
        assert_eq!(c(&["--preset", "7.5-kl"]).algorithm.loss.kl_coef, 0.001);
        assert_eq!(c(&["--preset", "6-grpo"]).algorithm.loss.kl_coef, 0.0);
    }

    #[test]
    fn the_update_runs_on_two_workers_unless_told_otherwise() {
        assert_eq!(config_of(&[]).workers, 2);
        assert_eq!(config_of(&["--workers", "1"]).workers, 1);
    }

    #[test]
    fn the_embedded_default_run_adds_the_steps_reward_and_nothing_else_does() {
        let reward = |flags: &[&str]| config_of(flags).algorithm.reward;
        let steps = RewardSpec::CorrectAndSteps { steps_weight: 0.5 };
        assert_eq!(reward(&[]), steps);
        assert_eq!(reward(&["--reward", "correct"]), RewardSpec::Correct);
        assert_eq!(reward(&["--dataset-path", "x.jsonl"]), RewardSpec::Correct);
        assert_eq!(reward(&["--preset", "6-grpo"]), RewardSpec::Correct);
    }

    #[test]
    fn top_k_reaches_the_rollouts_sampling() {
        assert_eq!(config_of(&[]).top_k, None);
        let c = config_of(&["--top-k", "20"]);
        assert_eq!(c.top_k, Some(20));
        c.validate().unwrap();
        let zero = config_of(&["--top-k", "0"]);
        assert!(zero.validate().is_err(), "top-k 0 keeps no token");
    }

    #[test]
    fn the_keep_sampling_mask_is_deepseek_v32s_and_switchable() {
        let keep = |flags: &[&str]| config_of(flags).algorithm.keep_sampling_mask;
        assert!(!keep(&[]));
        assert!(keep(&["--preset", "deepseek-v32"]));
        assert!(!keep(&[
            "--preset",
            "deepseek-v32",
            "--keep-sampling-mask",
            "false"
        ]));
        assert!(keep(&["--preset", "dapo", "--keep-sampling-mask", "true"]));
    }

    #[test]
    fn the_format_reward_weight_sets_the_second_component() {
        let reward = |flags: &[&str]| config_of(flags).algorithm.reward;
        assert_eq!(
            reward(&[
                "--reward",
                "correct+format",
                "--format-reward-weight",
                "0.3"
            ]),
            RewardSpec::CorrectAndFormat {
                format_weight: 0.3,
                conditional: false
            }
        );
        assert_eq!(
            reward(&["--preset", "gdpo", "--format-coef", "0.25"]),
            RewardSpec::CorrectAndBoxed { boxed_weight: 0.25 }
        );
        assert_eq!(
            reward(&["--format-reward-weight", "1"]),
            RewardSpec::CorrectAndSteps { steps_weight: 1.0 }
        );
        let args = TrainGrpoArgs::try_parse_from([
            "train-grpo",
            "--reward",
            "correct",
            "--format-reward-weight",
            "0.5",
        ])
        .unwrap();
        assert!(args.config(96).is_err());
    }
}
