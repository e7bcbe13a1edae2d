//! Chapter 8: distillation. `distill-data` samples reasoning traces from a teacher and keeps
//! the verified ones; `distill` fine-tunes a student on them. The algorithms live in
//! `reasoning_distill::{teacher, data, sft}`; see docs/distillation.md for measured runs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use clap::Args;
use reasoning_distill::DistillError;
use reasoning_distill::data::{
    DistillRecord, LengthStats, TargetFormat, build_examples, filter_by_max_len, length_stats,
    load_distill_records, split_train_val,
};
use reasoning_distill::sft::{SftConfig, SftData, SftRun, train_sft};
use reasoning_distill::teacher::{
    SampledAnswer, SampledBatch, TeacherConfig, TraceLog, TraceSummary, generate_traces,
    model_sampler,
};
use reasoning_inference::eval::{EvalRecord, EvalSummary, evaluate_greedy};
use reasoning_inference::{GenerationConfig, LoadedModel, PromptBuilder};
use reasoning_model::DType;
use reasoning_model::hub::{self, ModelPath};
use reasoning_tokenizer::Tokenizer;
use reasoning_train::{AdamWConfig, LrSchedule};
use reasoning_verifier::datasets::Record;
use serde::Serialize;
use serde_json::{Value, json};

use crate::common::{
    DatasetArgs, LoadArgs, LogThrottle, ModelArgs, PromptArgs, default_dataset_path, duration,
    progress_bar, show_training_step, stop_on_ctrl_c, workspace_root,
};
use crate::run::{RunDir, Summary, write_json_atomic};

/// The embedded model's training split: `datasets/arith/train.jsonl`.
fn default_train_path() -> String {
    workspace_root()
        .join("datasets/arith/train.jsonl")
        .display()
        .to_string()
}

/// Generate distillation data: reasoning traces from a teacher, graded by the verifier (book
/// chapter 8, `ch08/02_generate_distillation_data`; with --only-correct, rejection sampling).
///
/// Samples --num-samples answers to each problem (all samples of a problem share one prefill;
/// --batch-size problems per batch), grades each answer's `\boxed{}` against the reference,
/// and appends the kept traces to traces.jsonl in the book's format (`problem`,
/// `gtruth_answer`, `message_thinking`, `message_content`, plus `index`, `sample`,
/// `extracted`, `correct`, `tokens`) and one line per problem to progress.jsonl. At the end
/// it writes traces.json (the book's JSON array) and summary.json (`kept`, `generated`,
/// `correct`, `pass_at_k`; `accuracy` is the fraction of samples that graded correct). A
/// rerun with the same --out skips the problems already done, and gives the same traces as
/// an uninterrupted run. With the embedded tiny model as teacher, 5,000 training problems x 8
/// samples take about 3 minutes on a 2-core CPU (docs/distillation.md).
///
///     cargo xtask distill-data --num-samples 8 --only-correct --limit 5000 --out runs/traces
#[derive(Args, Debug, Clone, Serialize)]
pub struct DistillDataArgs {
    /// The teacher: an HF folder, a .gguf file, a hub id (default: the embedded model), or an
    /// OpenAI-compatible server's URL (`http://HOST:PORT/v1`, as the book's chapter 8 asks
    /// Ollama or OpenRouter).
    #[arg(long)]
    pub teacher: Option<String>,
    /// With a URL teacher: the model to ask for [default: the first the server lists].
    #[arg(long)]
    pub teacher_model: Option<String>,
    /// With a URL teacher: the environment variable holding the API key (sent as a bearer
    /// token, never written anywhere).
    #[arg(long, default_value = "OPENAI_API_KEY")]
    pub api_key_env: String,
    #[command(flatten)]
    #[serde(flatten)]
    pub load: LoadArgs,
    /// Problems with `problem` and `answer` fields (.json or .jsonl) or a hub dataset id
    /// [default: datasets/arith/train.jsonl, the training split].
    #[arg(long)]
    pub dataset_path: Option<String>,
    /// Use only the first N problems.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Samples per problem.
    #[arg(long, default_value_t = 4)]
    pub num_samples: usize,
    /// Keep only traces whose boxed answer grades correct (rejection sampling).
    #[arg(long)]
    pub only_correct: bool,
    /// Also require every reasoning line to be a true `a op b = c` equation (a process check
    /// for the arithmetic task: rejects right answers reached through wrong steps).
    #[arg(long)]
    pub check_steps: bool,
    /// Keep every copy of a problem's identical traces (default: each distinct trace once).
    #[arg(long)]
    pub keep_duplicates: bool,
    /// Sampling temperature (0: greedy, one sample).
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f32,
    /// Nucleus mass (1 disables top-p).
    #[arg(long, default_value_t = 0.9)]
    pub top_p: f32,
    /// Most new tokens per answer (the book's API teachers: 2048; the tiny model's answers
    /// are under 80).
    #[arg(long, default_value_t = 128)]
    pub max_new_tokens: usize,
    /// Problems per generation batch.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    #[command(flatten)]
    pub prompt: PromptArgs,
    /// Seed of the per-sample random streams.
    #[arg(long, default_value_t = 123)]
    pub seed: u64,
    /// Run folder [default: runs/distill-data-<timestamp>]; an existing one is resumed.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl DistillDataArgs {
    fn teacher_config(&self) -> Result<TeacherConfig> {
        let config = TeacherConfig {
            num_samples: self.num_samples,
            temperature: self.temperature,
            top_p: (self.top_p < 1.0).then_some(self.top_p),
            max_new_tokens: self.max_new_tokens,
            only_correct: self.only_correct,
            check_arithmetic_steps: self.check_steps,
            unique: !self.keep_duplicates,
            batch_size: self.batch_size,
            seed: self.seed,
            prompt: self.prompt.builder(false)?,
        };
        config.validate()?;
        Ok(config)
    }
}

/// Everything that decides which traces a run writes (not how fast): a resumed run must match.
fn trace_identity(args: &DistillDataArgs, config: &TeacherConfig, teacher: &str) -> Value {
    json!({
        "teacher": teacher,
        "dataset": args.dataset_path.clone().unwrap_or_else(default_train_path),
        "num_samples": config.num_samples,
        "temperature": config.temperature,
        "top_p": config.top_p,
        "max_new_tokens": config.max_new_tokens,
        "only_correct": config.only_correct,
        "unique": config.unique,
        "check_arithmetic_steps": config.check_arithmetic_steps,
        "seed": config.seed,
        "prompt": config.prompt,
    })
}

/// A local or remote teacher's sampler.
type Teacher<'a> = dyn FnMut(&[(usize, &Record)]) -> SampledBatch + 'a;

/// A teacher behind an OpenAI-compatible URL: one chat request per problem with its `K`
/// samples as choices (`n`), the problem's prompt text as the user turn. The request's seed is
/// `seed ⊕ splitmix64(i) ⊕ splitmix64(0)` for problem `i`, so that on this project's server
/// (choice `j` draws from `sample_stream(request seed, 0, j)`) sample `j` draws from
/// `sample_stream(seed, i, j)`, as the local teacher's does: the same traces either way. A
/// reply's `reasoning_content` (or `reasoning`) becomes the think block.
fn remote_sampler<'a>(
    client: &'a reasoning_serve::client::Client,
    config: &'a TeacherConfig,
) -> impl FnMut(&[(usize, &Record)]) -> SampledBatch + 'a {
    use reasoning_inference::splitmix64;
    move |group| {
        let k = config.num_samples;
        std::thread::scope(|s| {
            let calls: Vec<_> = group
                .iter()
                .map(|&(i, record)| {
                    let settings = reasoning_serve::client::ChatSettings {
                        max_tokens: config.max_new_tokens,
                        temperature: config.temperature,
                        top_p: config.top_p.unwrap_or(1.0),
                        seed: Some(config.seed ^ splitmix64(i as u64) ^ splitmix64(0)),
                        enable_thinking: config.prompt.thinking,
                        n: k,
                        ignore_eos: false,
                    };
                    let text = config.prompt.text(&record.problem);
                    s.spawn(move || client.chat_choices(&[("user", text.as_str())], &settings))
                })
                .collect();
            calls
                .into_iter()
                .map(|call| {
                    let replies = call
                        .join()
                        .map_err(|_| DistillError::Teacher("a request panicked".into()))?
                        .map_err(|e| DistillError::Teacher(e.to_string()))?;
                    if replies.len() != k {
                        return Err(DistillError::Teacher(format!(
                            "asked for {k} choices, got {}",
                            replies.len()
                        )));
                    }
                    Ok(replies
                        .into_iter()
                        .map(|reply| {
                            // A closed think block: an answer follows it, or the reply ended
                            // on a stop id; a reply cut inside its thinking stays open, as the
                            // local teacher's text would.
                            let closed = !reply.content.is_empty() || reply.finish_reason == "stop";
                            let text = match (&reply.reasoning, closed) {
                                (Some(r), true) => {
                                    format!("<think>\n{r}\n</think>\n\n{}", reply.content)
                                }
                                (Some(r), false) => format!("<think>\n{r}"),
                                (None, _) => reply.content.clone(),
                            };
                            SampledAnswer {
                                text,
                                tokens: reply.completion_tokens.unwrap_or(0),
                                finished: reply.finish_reason == "stop",
                            }
                        })
                        .collect())
                })
                .collect()
        })
    }
}

/// Runs `cargo xtask distill-data`.
pub fn distill_data(args: DistillDataArgs) -> Result<()> {
    let config = args.teacher_config()?;
    let model_args = ModelArgs {
        model: args.teacher.clone(),
        load: args.load.clone(),
    };
    let dataset_spec = args.dataset_path.clone().unwrap_or_else(default_train_path);
    let problems = DatasetArgs {
        dataset_path: Some(dataset_spec.clone()),
        limit: args.limit,
    }
    .load()?;
    let identity = trace_identity(&args, &config, &model_args.spec());

    // A rerun into an existing folder resumes it, but only with the same generation settings.
    if let Some(out) = &args.out {
        let saved = out.join("config.json");
        if saved.is_file() {
            let text = std::fs::read_to_string(&saved)
                .with_context(|| format!("cannot read {}", saved.display()))?;
            let old: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", saved.display()))?;
            if old.get("identity") != Some(&identity) {
                bail!(
                    "{} was made with other generation settings: {} (now {}); use another --out",
                    out.display(),
                    old.get("identity").unwrap_or(&Value::Null),
                    identity
                );
            }
        }
    }
    let remote = args
        .teacher
        .as_deref()
        .filter(|t| t.starts_with("http://") || t.starts_with("https://"))
        .map(|url| {
            crate::common::remote_client(
                url,
                args.teacher_model.as_deref(),
                &args.api_key_env,
                "--teacher-model",
            )
        })
        .transpose()?;
    let lm = match &remote {
        Some(_) => None,
        None => Some(model_args.load()?),
    };
    let teacher_name = match (&lm, &remote) {
        (Some(lm), _) => lm.name.clone(),
        (None, Some(c)) => format!("{} at {}", c.model(), c.base()),
        (None, None) => unreachable!("a teacher is local or remote"),
    };
    let run = RunDir::create(
        "distill-data",
        args.out.as_deref(),
        &json!({ "args": &args, "teacher_config": &config, "identity": identity,
                 "seed": args.seed, "problems": problems.len() }),
    )?;
    let (mut log, resumed) = TraceLog::open(&run.path)?;
    let resumed_problems = resumed
        .done
        .iter()
        .filter(|d| (1..=problems.len()).contains(&d.index))
        .count();

    let bar = progress_bar(problems.len() as u64, "distill-data");
    let mut throttle = LogThrottle::new(&bar);
    let sampler: Box<Teacher<'_>> = match (&lm, &remote) {
        (Some(lm), _) => Box::new(model_sampler(lm, &config)),
        (None, Some(client)) => Box::new(remote_sampler(client, &config)),
        (None, None) => unreachable!("a teacher is local or remote"),
    };
    let summary = generate_traces(&problems, &config, &mut log, &resumed, sampler, |p| {
        let s = &p.summary;
        let message = format!(
            "kept {} of {}  sample acc {:.1}%  pass@{} {:.1}%",
            s.kept,
            s.generated,
            100.0 * s.sample_accuracy(),
            config.num_samples,
            100.0 * s.pass_at_k()
        );
        if throttle.due(p.done == p.total) {
            eprintln!(
                "distill-data: {}/{} {message} elapsed {}",
                p.done,
                p.total,
                duration(run.seconds())
            );
        }
        bar.set_position(p.done as u64);
        bar.set_message(message);
    })?;
    bar.finish_and_clear();

    // The book's JSON array of the kept traces (of the problems in this run's range).
    let (_, all) = TraceLog::open(&run.path)?;
    let in_range = |i: usize| (1..=problems.len()).contains(&i);
    let book: Vec<DistillRecord> = all
        .traces
        .iter()
        .filter(|t| in_range(t.index))
        .map(|t| t.record.clone())
        .collect();
    write_json_atomic(&run.file("traces.json"), &book)?;
    write_data_summary(
        &run,
        &teacher_name,
        &dataset_spec,
        &args,
        &summary,
        resumed_problems,
    )?;
    println!(
        "{} problems x {} samples from {}: {} generated, {} correct ({:.1}%), pass@{} {:.1}%, {} traces kept{}",
        summary.problems,
        config.num_samples,
        teacher_name,
        summary.generated,
        summary.correct,
        100.0 * summary.sample_accuracy(),
        config.num_samples,
        100.0 * summary.pass_at_k(),
        summary.kept,
        if resumed_problems > 0 {
            format!(" ({resumed_problems} problems resumed)")
        } else {
            String::new()
        }
    );
    run.finish();
    Ok(())
}

fn write_data_summary(
    run: &RunDir,
    teacher: &str,
    dataset: &str,
    args: &DistillDataArgs,
    s: &TraceSummary,
    resumed_problems: usize,
) -> Result<()> {
    run.write_summary(
        &Summary {
            model: teacher.to_string(),
            dataset: dataset.to_string(),
            n: s.problems,
            accuracy: Some(s.sample_accuracy()),
            seconds: None,
            seed: Some(args.seed),
        },
        json!({
            "kept": s.kept,
            "generated": s.generated,
            "correct": s.correct,
            "solved": s.solved,
            "pass_at_k": s.pass_at_k(),
            "num_samples": args.num_samples,
            "only_correct": args.only_correct,
            "check_steps": args.check_steps,
            "temperature": shortest(args.temperature),
            "top_p": shortest(args.top_p),
            "resumed_problems": resumed_problems,
            "traces": run.file("traces.jsonl"),
        }),
    )
}

/// An `f32` flag as the `f64` with the same shortest decimal text (0.8, not 0.800000011920929).
fn shortest(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

/// Distill a student from reasoning traces: supervised fine-tuning on the answer tokens (book
/// chapter 8, `ch08/04_train_with_distillation/distill.py` and `distill_batched.py`).
///
/// Loads --data (the book's format, JSON or JSONL, e.g. the traces.jsonl or traces.json of
/// `distill-data`), builds examples (chat-templated `render_prompt(problem)` with thinking on,
/// then `<think>{thinking}</think>\n\n{content}` and the end-of-turn id), prints their length
/// statistics, drops (never truncates) those over --max-len tokens, holds out --val-size of
/// them (seeded shuffle), and trains: AdamW, constant learning rate, gradient clipping at 1.0,
/// per-example mean loss over answer tokens, a fresh shuffle each epoch. Validation loss and a
/// checkpoint after every epoch; greedy held-out accuracy before and after training on
/// --eval-path (default: the test split, 500 problems).
///
/// Writes a run folder: config.json, metrics.csv and metrics.png (one row per step),
/// checkpoints/step-*/ (HF layout with tokenizer: usable as --model; --resume continues from
/// the latest), eval/start.jsonl and eval/final.jsonl (graded answers), model/ (the final
/// student, HF layout) and summary.json (`start_accuracy`, `final_accuracy`,
/// `final_val_loss`). The book's defaults (lr 1e-5, batch 1, 3 epochs) suit a 0.6B model;
/// the 1.7M-parameter tiny model needs a far larger rate: `--lr 1e-3 --batch-size 16` (3
/// epochs over 2,557 traces: about 4 minutes on a 2-core CPU with both evaluations,
/// docs/distillation.md).
///
///     cargo xtask distill --data runs/traces/traces.jsonl --target-format qwen3 --lr 1e-3 --batch-size 16
#[derive(Args, Debug, Clone, Serialize)]
#[command(mut_arg("dtype", |a| a.help("Weight precision for training: f32 (bf16 is for inference)")))]
pub struct DistillArgs {
    /// The student: an HF folder or hub id (default: the embedded model).
    #[arg(long)]
    pub student: Option<String>,
    #[command(flatten)]
    #[serde(flatten)]
    pub load: LoadArgs,
    /// Distillation records (`problem`, `gtruth_answer`, `message_thinking`,
    /// `message_content`), a JSON array or JSON Lines.
    #[arg(long)]
    pub data: PathBuf,
    /// Target layout: book (`<think>{t}</think>\n\n{c}`), qwen3 (`<think>\n{t}\n</think>\n\n{c}`,
    /// Qwen3's chat template and the tiny model's training format) or plain (`{t}\n\n{c}`, no
    /// think tags: exercise 8.2).
    #[arg(long, default_value = "book")]
    pub target_format: String,
    /// Use only the first N records.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Passes over the training examples (book: 3).
    #[arg(long, default_value_t = 3)]
    pub epochs: u64,
    /// Learning rate (book: 1e-5 for Qwen3-0.6B; the tiny model needs about 1e-3).
    #[arg(long, default_value_t = 1e-5)]
    pub lr: f64,
    /// Linear warmup steps before the constant rate.
    #[arg(long, default_value_t = 0)]
    pub warmup_steps: u64,
    /// Examples per optimizer step (book: 1; distill_batched.py: 4).
    #[arg(long, default_value_t = 1)]
    pub batch_size: usize,
    /// Examples per forward pass [default: --batch-size].
    #[arg(long)]
    pub micro_batch_size: Option<usize>,
    /// AdamW weight decay (torch's default 0.01, as the book).
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    /// Drop examples longer than this many tokens, prompt included (book: 2048).
    #[arg(long, default_value_t = 2048)]
    pub max_len: usize,
    /// Validation examples, taken after a seeded shuffle (book: 25).
    #[arg(long, default_value_t = 25)]
    pub val_size: usize,
    /// Validation loss every N steps [default: once per epoch].
    #[arg(long)]
    pub eval_every: Option<u64>,
    /// Held-out problems for the greedy accuracy [default: datasets/arith/test.jsonl].
    #[arg(long)]
    pub eval_path: Option<String>,
    /// Evaluate on the first N held-out problems.
    #[arg(long, default_value_t = 500)]
    pub eval_limit: usize,
    /// Most new tokens per held-out answer.
    #[arg(long, default_value_t = 128)]
    pub eval_max_new_tokens: usize,
    /// Held-out problems per generation batch.
    #[arg(long, default_value_t = 64)]
    pub eval_batch_size: usize,
    #[command(flatten)]
    pub prompt: PromptArgs,
    /// Seed of the split and the data order (book: 123).
    #[arg(long, default_value_t = 123)]
    pub seed: u64,
    /// Run folder [default: runs/distill-<timestamp>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue from the latest checkpoint in --out (same flags).
    #[arg(long, requires = "out")]
    pub resume: bool,
    /// Only load the data, print its length statistics and the length filter's count, and
    /// write them to summary.json (needs only the tokenizer: --tokenizer or the student's).
    #[arg(long)]
    pub stats_only: bool,
}

impl DistillArgs {
    /// The trainer's settings for `n_train` training examples.
    fn sft_config(&self, n_train: usize) -> Result<SftConfig> {
        if self.batch_size == 0 || self.epochs == 0 {
            bail!(
                "--batch-size {} and --epochs {} must be positive",
                self.batch_size,
                self.epochs
            );
        }
        let steps_per_epoch = (n_train / self.batch_size) as u64;
        if steps_per_epoch == 0 {
            bail!(
                "{n_train} training examples cannot fill one batch of {}",
                self.batch_size
            );
        }
        let total_steps = steps_per_epoch * self.epochs;
        let schedule = if self.warmup_steps > 0 {
            LrSchedule::WarmupCosine {
                peak_lr: self.lr,
                min_lr: self.lr,
                warmup_steps: self.warmup_steps,
                total_steps,
            }
        } else {
            LrSchedule::Constant { lr: self.lr }
        };
        Ok(SftConfig {
            total_steps,
            batch_size: self.batch_size,
            micro_batch_size: self.micro_batch_size.unwrap_or(self.batch_size),
            workers: 1,
            schedule,
            adamw: AdamWConfig {
                weight_decay: self.weight_decay,
                ..AdamWConfig::default()
            },
            max_grad_norm: Some(1.0),
            eval_every: self.eval_every.unwrap_or(steps_per_epoch),
            checkpoint_every: steps_per_epoch,
            seed: self.seed,
            group_by_length: false,
        })
    }
}

/// The tokenizer files of an HF model folder, copied into every checkpoint.
const TOKENIZER_FILES: [&str; 4] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
    "chat_template.jinja",
];

/// Runs `cargo xtask distill`.
pub fn distill(args: DistillArgs) -> Result<()> {
    let format: TargetFormat = args.target_format.parse()?;
    let student = ModelArgs {
        model: args.student.clone(),
        load: args.load.clone(),
    };
    let spec = student.spec();

    // Step 1: records -> examples -> length filter -> split (the book's order).
    let mut records = load_distill_records(&args.data)
        .with_context(|| format!("cannot load the distillation data {}", args.data.display()))?;
    if let Some(limit) = args.limit {
        records.truncate(limit);
    }
    if records.is_empty() {
        bail!("{} holds no records", args.data.display());
    }
    if args.stats_only {
        let tok_path = match &args.load.tokenizer {
            Some(path) => path.clone(),
            None => student_folder(&spec)?,
        };
        let tok = Tokenizer::load(&tok_path)
            .with_context(|| format!("cannot load the tokenizer {}", tok_path.display()))?;
        let run = RunDir::create(
            "distill",
            args.out.as_deref(),
            &json!({ "args": &args, "seed": args.seed }),
        )?;
        let data = prepare(&tok, &records, format, args.max_len)?;
        run.write_summary(
            &Summary {
                model: tok_path.display().to_string(),
                dataset: args.data.display().to_string(),
                n: records.len(),
                accuracy: None,
                seconds: None,
                seed: Some(args.seed),
            },
            json!({ "stats_only": true, "kept": data.examples.len(), "dropped": data.dropped,
                    "max_len": args.max_len, "length_stats": data.stats_all,
                    "answer_length_stats": data.stats_answer, "target_format": format }),
        )?;
        run.finish();
        return Ok(());
    }
    let student_dir = student_folder(&spec)?;
    let lm = student.load_trainable("student")?;
    let Prepared {
        examples,
        dropped,
        stats_all,
        stats_answer,
    } = prepare(&lm.tokenizer, &records, format, args.max_len)?;
    let (train_ex, val_ex) = split_train_val(examples, args.val_size, args.seed)?;
    let config = args.sft_config(train_ex.len())?;

    let eval_spec = args
        .eval_path
        .clone()
        .unwrap_or_else(|| default_dataset_path().display().to_string());
    let eval_set = DatasetArgs {
        dataset_path: Some(eval_spec.clone()),
        limit: Some(args.eval_limit),
    }
    .load()?;
    let builder = args.prompt.builder(false)?;

    let run = RunDir::create(
        "distill",
        args.out.as_deref(),
        &json!({ "args": &args, "sft": &config, "seed": args.seed, "student": lm.name,
                 "records": records.len(), "dropped": dropped, "train_examples": train_ex.len(),
                 "val_examples": val_ex.len(), "eval_problems": eval_set.len() }),
    )?;
    let eval_dir = run.file("eval");
    let root = crate::dist::is_root();
    if root {
        std::fs::create_dir_all(&eval_dir)?;
    }

    // Step 2: the student's held-out accuracy before training (read back on --resume); rank 0
    // alone evaluates in an `mpirun` job.
    let start_path = eval_dir.join("start.jsonl");
    let saved = if args.resume && root {
        read_eval(&start_path)?
    } else {
        None
    };
    let start = match saved {
        Some(records) if records.len() == eval_set.len() => records,
        _ if !root => Vec::new(),
        _ => {
            eprintln!(
                "evaluating the student on {} held-out problems ...",
                eval_set.len()
            );
            let records = heldout(&lm, &eval_set, &builder, &args)?;
            write_eval(&start_path, &records)?;
            records
        }
    };
    let start_summary = EvalSummary::of(&start);
    if root {
        eprintln!(
            "start: {:.1}% ({}/{})",
            100.0 * start_summary.accuracy,
            start_summary.correct,
            start_summary.n
        );
    }

    // Step 3: train.
    let extra_files: Vec<PathBuf> = TOKENIZER_FILES
        .iter()
        .map(|n| student_dir.join(n))
        .filter(|p| p.is_file())
        .collect();
    let stop = stop_on_ctrl_c();
    let pad_id = lm
        .tokenizer
        .pad_token_id()
        .or_else(|| lm.tokenizer.eos_token_ids().first().copied())
        .unwrap_or(0);
    let ranks = crate::dist::ranks();
    let bar = progress_bar(config.total_steps, "distill");
    let mut throttle = LogThrottle::new(&bar);
    let mut val_shown = f64::NAN;
    let outcome = train_sft(
        lm.model,
        SftData {
            train: &train_ex,
            val: &val_ex,
            pad_id,
        },
        &config,
        &SftRun {
            dir: &run.path,
            extra_files: extra_files.clone(),
            resume: args.resume,
            stop: Some(&stop),
            collective: &*ranks,
        },
        &mut |p| {
            if let Some(v) = p.metric("val_loss") {
                val_shown = v;
            }
            let message = format!(
                "epoch {}  loss {:.3}  val {}  {:.0} tok/s",
                p.epoch + 1,
                p.metric("loss").unwrap_or(f64::NAN),
                if val_shown.is_nan() {
                    "-".to_string()
                } else {
                    format!("{val_shown:.3}")
                },
                p.metric("tokens_per_sec").unwrap_or(0.0)
            );
            show_training_step(&bar, &mut throttle, p, message);
        },
    )?;
    bar.finish_and_clear();
    if !root {
        return Ok(());
    }
    if outcome.interrupted {
        eprintln!(
            "interrupted at step {}; continue with the same flags plus --resume --out {}",
            outcome.steps,
            run.path.display()
        );
        run.finish();
        return Ok(());
    }

    // Step 4: the final student: saved as an HF folder, then evaluated.
    let model = outcome.model.valid();
    let model_dir = run.file("model");
    reasoning_train::fs::write_dir_atomic(&model_dir, |tmp| {
        model
            .save_hf(tmp, DType::F32)
            .map_err(|e| reasoning_train::TrainError::Config {
                what: "final model",
                message: e.to_string(),
            })?;
        for file in &extra_files {
            if let Some(name) = file.file_name() {
                std::fs::copy(file, tmp.join(name))
                    .map_err(|e| reasoning_train::TrainError::io("copy", file, e))?;
            }
        }
        Ok(())
    })?;
    let trained = LoadedModel::assemble(model, lm.tokenizer.clone(), lm.name.clone())?;
    eprintln!("evaluating the distilled student ...");
    let final_records = heldout(&trained, &eval_set, &builder, &args)?;
    write_eval(&eval_dir.join("final.jsonl"), &final_records)?;
    let final_summary = EvalSummary::of(&final_records);

    run.write_summary(
        &Summary {
            model: lm.name.clone(),
            dataset: args.data.display().to_string(),
            n: final_summary.n,
            accuracy: Some(final_summary.accuracy),
            seconds: Some(outcome.seconds),
            seed: Some(args.seed),
        },
        json!({
            "eval_dataset": eval_spec,
            "start_accuracy": start_summary.accuracy,
            "final_accuracy": final_summary.accuracy,
            "final_val_loss": outcome.val_loss,
            "final_train_loss": outcome.train_loss,
            "steps": outcome.steps,
            "epochs": args.epochs,
            "records": records.len(),
            "dropped": dropped,
            "train_examples": train_ex.len(),
            "val_examples": val_ex.len(),
            "length_stats": stats_all,
            "answer_length_stats": stats_answer,
            "target_format": format,
            "model_dir": model_dir,
            "last_checkpoint": outcome.checkpoint,
        }),
    )?;
    println!(
        "held-out accuracy ({} problems, greedy): start {:.1}% -> final {:.1}% after {} steps \
         ({} epochs, {} examples) in {}; val loss {}",
        final_summary.n,
        100.0 * start_summary.accuracy,
        100.0 * final_summary.accuracy,
        outcome.steps,
        args.epochs,
        train_ex.len(),
        duration(outcome.seconds),
        outcome
            .val_loss
            .map_or("-".to_string(), |v| format!("{v:.4}"))
    );
    run.finish();
    Ok(())
}

/// The student's HF folder (a GGUF student cannot be saved back as one).
fn student_folder(spec: &str) -> Result<PathBuf> {
    match hub::resolve(spec).with_context(|| format!("cannot find the student {spec}"))? {
        ModelPath::HfDir(dir) => Ok(dir),
        ModelPath::Pth(path) => bail!(
            "the student {} is a .pth checkpoint; distill trains and saves HF folders: convert \
             it first with `cargo xtask convert --from {} --to DIR --tokenizer TOKENIZER_DIR` \
             and pass DIR as --student",
            path.display(),
            path.display()
        ),
        ModelPath::Gguf(path) => bail!(
            "the student {} is a GGUF file; distill trains and saves HF folders (config.json, \
             model.safetensors, tokenizer.json): pass one as --student",
            path.display()
        ),
    }
}

/// Examples after the length filter, with the statistics taken before it.
struct Prepared {
    examples: Vec<reasoning_distill::sft::SftExample>,
    dropped: usize,
    stats_all: Option<LengthStats>,
    stats_answer: Option<LengthStats>,
}

/// Builds the examples, prints their length statistics (whole and answer only, before the
/// filter, as the book's `compute_length`) and drops those over `max_len`.
fn prepare(
    tok: &Tokenizer,
    records: &[DistillRecord],
    format: TargetFormat,
    max_len: usize,
) -> Result<Prepared> {
    let examples = build_examples(tok, records, format)?;
    let stats_all = length_stats(&examples, false);
    let stats_answer = length_stats(&examples, true);
    print_stats("whole example", stats_all.as_ref());
    print_stats("answer only", stats_answer.as_ref());
    let (examples, dropped) = filter_by_max_len(examples, max_len);
    eprintln!(
        "{} examples kept, {dropped} dropped as longer than {max_len} tokens",
        examples.len()
    );
    Ok(Prepared {
        examples,
        dropped,
        stats_all,
        stats_answer,
    })
}

/// Prints the book's `compute_length` lines.
fn print_stats(label: &str, stats: Option<&LengthStats>) {
    if let Some(s) = stats {
        eprintln!(
            "{label}: average {:.0} tokens, shortest {} (index {}), longest {} (index {})",
            s.mean, s.min, s.min_index, s.max, s.max_index
        );
    }
}

/// Greedy held-out answers of `lm`, graded.
fn heldout(
    lm: &LoadedModel,
    problems: &[Record],
    builder: &PromptBuilder,
    args: &DistillArgs,
) -> Result<Vec<EvalRecord>> {
    let tok = &lm.tokenizer;
    let prompts = problems
        .iter()
        .map(|p| builder.problem_ids(tok, &p.problem))
        .collect::<reasoning_inference::Result<Vec<_>>>()?;
    let generation = GenerationConfig::greedy(args.eval_max_new_tokens, tok.eos_token_ids())
        .with_vocab_limit(tok.vocab_size());
    let model = lm.model.valid();
    let eval = evaluate_greedy(
        &model,
        tok,
        problems,
        &prompts,
        &generation,
        args.eval_batch_size,
    )?;
    Ok(eval.records)
}

/// Writes graded records as JSON Lines, atomically.
fn write_eval(path: &Path, records: &[EvalRecord]) -> Result<()> {
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r)?);
        text.push('\n');
    }
    reasoning_train::fs::write_atomic(path, text.as_bytes())?;
    Ok(())
}

/// Reads graded records written by [`write_eval`], if the file exists.
fn read_eval(path: &Path) -> Result<Option<Vec<EvalRecord>>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path)?;
    let records = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| format!("{}:{}", path.display(), i + 1))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(records))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        distill: DistillArgs,
    }

    #[test]
    fn the_book_recipe_is_the_default_and_epochs_set_the_steps() {
        let cli = Cli::try_parse_from(["distill", "--data", "x.json"]).unwrap();
        let a = cli.distill;
        assert_eq!(
            (a.epochs, a.batch_size, a.lr, a.max_len, a.val_size),
            (3, 1, 1e-5, 2048, 25)
        );
        let c = a.sft_config(100).unwrap();
        assert_eq!(c.total_steps, 300);
        assert_eq!((c.eval_every, c.checkpoint_every), (100, 100));
        assert_eq!(c.schedule, LrSchedule::Constant { lr: 1e-5 });
        let big = DistillArgs {
            batch_size: 16,
            ..a.clone()
        };
        // 100 / 16 = 6 full batches per epoch; the partial one is dropped.
        assert_eq!(big.sft_config(100).unwrap().total_steps, 18);
        assert!(
            big.sft_config(10)
                .unwrap_err()
                .to_string()
                .contains("10 training examples")
        );
    }
}
