//! Command-line pieces every experiment shares: which model (and device, dtype), which
//! dataset, which prompt; loading them; progress bars; the evaluation loop with its run folder,
//! records and summary row.
//!
//! Defaults: `--model` is the embedded model (`models/<name>/`, see [`default_model_dir`]) and
//! `--dataset-path` its held-out split (`datasets/arith/test.jsonl`), both found from the
//! workspace root so commands work from any folder.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand_chacha::ChaCha8Rng;
use reasoning_inference::eval::{EvalProgress, EvalRecord, EvalSummary, RecordLog, evaluate};
use reasoning_inference::{LoadedModel, PromptBuilder, PromptFormat, PromptStyle, sample_stream};
use reasoning_model::hub::{self, RepoType};
use reasoning_model::{DType, DeviceSpec};
use reasoning_train::Progress;
use reasoning_verifier::datasets::{FieldMap, Record, load_records};
use serde::Serialize;
use serde_json::{Value, json};

use crate::run::{RunDir, Summary};

/// The workspace root (the folder above `xtask/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Name of the embedded model's folder under `models/`.
pub const DEFAULT_MODEL_NAME: &str = "tiny-arith";

/// The embedded default model: `models/tiny-arith/`, or else the only folder under `models/`
/// that holds a `config.json`.
pub fn default_model_dir() -> PathBuf {
    let models = workspace_root().join("models");
    let named = models.join(DEFAULT_MODEL_NAME);
    if named.join("config.json").is_file() {
        return named;
    }
    let found: Vec<PathBuf> = std::fs::read_dir(&models)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.join("config.json").is_file())
                .collect()
        })
        .unwrap_or_default();
    match found.as_slice() {
        [only] => only.clone(),
        _ => named,
    }
}

/// The embedded model's held-out problems: `datasets/arith/test.jsonl`.
pub fn default_dataset_path() -> PathBuf {
    workspace_root()
        .join("datasets")
        .join("arith")
        .join("test.jsonl")
}

/// Which model to run, where, and in which precision.
#[derive(Args, Debug, Clone, Serialize)]
pub struct ModelArgs {
    /// The model: an HF folder, a .gguf file, one of the book's .pth checkpoints or a hub id
    /// such as Qwen/Qwen3-0.6B (default: the embedded model in models/).
    #[arg(long)]
    pub model: Option<String>,
    #[command(flatten)]
    #[serde(flatten)]
    pub load: LoadArgs,
}

/// How a model is loaded: its tokenizer, the device and the weight precision. The flags that
/// follow the model's own (`--model`, `--teacher`, `--student`).
#[derive(Args, Debug, Clone, Serialize)]
pub struct LoadArgs {
    /// Read the tokenizer from here instead of from the model's folder or file.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// cpu (burn-flex), ndarray or wgpu (the last two need their cargo features).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Weight precision: f32 or bf16.
    #[arg(long, default_value = "f32")]
    pub dtype: String,
    /// For one of the book's .pth checkpoints: the architecture preset to check its shapes
    /// against (qwen3-0.6b ... qwen3-32b); inferred from the shapes when omitted.
    #[arg(long = "config", value_name = "PRESET")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_config: Option<String>,
}

impl LoadArgs {
    /// The `--config` preset, parsed.
    pub fn preset(&self) -> Result<Option<reasoning_model::Config>> {
        self.model_config
            .as_deref()
            .map(reasoning_model::Config::preset)
            .transpose()
            .context("--config")
    }
}

impl ModelArgs {
    /// The model spec after defaults: the `--model` value, or the embedded model's folder.
    pub fn spec(&self) -> String {
        self.model
            .clone()
            .unwrap_or_else(|| default_model_dir().display().to_string())
    }

    /// Loads the model and its tokenizer.
    pub fn load(&self) -> Result<LoadedModel> {
        let spec = self.spec();
        if self.model.is_none() && !Path::new(&spec).exists() {
            bail!(
                "the embedded model {spec} is missing (it is made by `cargo xtask pretrain-tiny`); \
                 pass --model with an HF folder, a .gguf file or a hub id"
            );
        }
        self.load_on(false, "model")
    }

    /// Loads the model and its tokenizer onto the autodiff version of the device, for training;
    /// a failure names the model as `role` ("model", "student").
    pub fn load_trainable(&self, role: &str) -> Result<LoadedModel> {
        self.load_on(true, role)
    }

    /// Opens the device (its autodiff version when `autodiff`) and loads the model there.
    fn load_on(&self, autodiff: bool, role: &str) -> Result<LoadedModel> {
        let spec = self.spec();
        let load = &self.load;
        let device = load
            .device
            .parse::<DeviceSpec>()?
            .device()
            .context("cannot open the device")?;
        let device = if autodiff { device.autodiff() } else { device };
        let dtype: DType = load.dtype.parse()?;
        let preset = load.preset()?;
        LoadedModel::load_with_config(
            &spec,
            load.tokenizer.as_deref(),
            preset.as_ref(),
            &device,
            dtype,
        )
        .with_context(|| format!("cannot load the {role} {spec}"))
    }
}

/// Which problems to evaluate.
#[derive(Args, Debug, Clone, Serialize)]
pub struct DatasetArgs {
    /// Problems with `problem` and `answer` fields (.json or .jsonl), or a hub dataset id such as
    /// HuggingFaceH4/MATH-500 (default: the embedded model's test split).
    #[arg(long)]
    pub dataset_path: Option<String>,
    /// Evaluate only the first N problems.
    #[arg(long)]
    pub limit: Option<usize>,
}

impl DatasetArgs {
    /// The dataset spec after defaults.
    pub fn spec(&self) -> String {
        self.dataset_path
            .clone()
            .unwrap_or_else(|| default_dataset_path().display().to_string())
    }

    /// Loads the problems (the first `--limit` of them).
    pub fn load(&self) -> Result<Vec<Record>> {
        let spec = self.spec();
        let path = dataset_file(&spec)?;
        let mut records = load_records(&path, &FieldMap::default())
            .with_context(|| format!("cannot load the dataset {spec}"))?;
        if records.is_empty() {
            bail!("the dataset {spec} holds no problems");
        }
        if let Some(limit) = self.limit {
            records.truncate(limit);
        }
        Ok(records)
    }
}

/// A local file as it is; a hub dataset id (`owner/name`) becomes its cached `test.jsonl`
/// (downloaded through the HF cache when online; offline, the error says so).
fn dataset_file(spec: &str) -> Result<PathBuf> {
    let path = Path::new(spec);
    if path.exists() {
        return Ok(path.to_path_buf());
    }
    let looks_like_id = spec.split('/').count() == 2
        && !spec.starts_with('.')
        && !spec.ends_with(".json")
        && !spec.ends_with(".jsonl");
    if !looks_like_id {
        bail!("dataset {spec}: no such file (and not a hub id of the form owner/name)");
    }
    let mut first = None;
    for file in ["test.jsonl", "data/test.jsonl"] {
        match hub::download_file(spec, RepoType::Dataset, file) {
            Ok(p) => return Ok(p),
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    let cause = first.map_or_else(|| "no file".to_string(), |e| e.to_string());
    bail!(
        "cannot fetch the hub dataset {spec} (test.jsonl): {cause}\n\
         alternatively pass a local .json or .jsonl file with problem and answer fields \
         (MATH-500: $REASONING_ASSETS/datasets/math500_test.json)"
    )
}

/// How problems become prompts.
#[derive(Args, Debug, Clone, Serialize)]
pub struct PromptArgs {
    /// The prompt: book (the chapter-3 render_prompt) or cot (plus "Explain step by step.").
    #[arg(long, default_value = "book")]
    pub prompt: String,
    /// auto (the chat template when the tokenizer has one), chat, or raw text.
    #[arg(long, default_value = "auto")]
    pub template: String,
    /// Chat templates with a thinking switch (Qwen3, the embedded model): thinking on.
    #[arg(long, conflicts_with = "no_think")]
    pub think: bool,
    /// Chat templates with a thinking switch: thinking off (an empty think block).
    #[arg(long)]
    pub no_think: bool,
    /// Text appended to every prompt before the chat template (the book's --prompt_suffix,
    /// exercise 4.1), e.g. "\n\nExplain step by step."; the escapes \n and \t become a
    /// newline and a tab.
    #[arg(long, default_value = "")]
    pub prompt_suffix: String,
}

/// `text` with the escapes `\n`, `\t` and `\\` turned into a newline, a tab and a backslash.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some('n')) => out.push('\n'),
            ('\\', Some('t')) => out.push('\t'),
            ('\\', Some('\\')) => out.push('\\'),
            _ => {
                out.push(c);
                continue;
            }
        }
        chars.next();
    }
    out
}

impl PromptArgs {
    /// The prompt builder, with `cot` forcing the CoT style (the strategies' `--cot` flag).
    pub fn builder(&self, cot: bool) -> Result<PromptBuilder> {
        let style: PromptStyle = self.prompt.parse()?;
        Ok(PromptBuilder {
            style: if cot { PromptStyle::Cot } else { style },
            suffix: unescape(&self.prompt_suffix),
            format: self.template.parse::<PromptFormat>()?,
            thinking: match (self.think, self.no_think) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
        })
    }
}

/// What an evaluation command starts from: which model answers which problems, and how the
/// problems become prompts (`evaluate`, `self-consistency`, `best-of-n`, `self-refine`).
#[derive(Args, Debug, Clone, Serialize)]
pub struct EvalArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub dataset: DatasetArgs,
    #[command(flatten)]
    pub prompt: PromptArgs,
}

impl EvalArgs {
    /// Loads the problems, then the model, then makes the prompt builder (`cot` forces the CoT
    /// style, as in [`PromptArgs::builder`]).
    pub fn load(&self, cot: bool) -> Result<(Vec<Record>, LoadedModel, PromptBuilder)> {
        let problems = self.dataset.load()?;
        let lm = self.model.load()?;
        let builder = self.prompt.builder(cot)?;
        Ok((problems, lm, builder))
    }
}

/// A progress bar on stderr with ETA and a message slot (hidden when stderr is not a
/// terminal; [`run_evaluation`] then logs a line every 30 seconds instead).
pub fn progress_bar(total: u64, label: &str) -> ProgressBar {
    if !crate::dist::is_root() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} {elapsed_precise} ETA {eta_precise} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}

/// When a progress bar is hidden (stderr is not a terminal, e.g. a log file), commands log one
/// progress line every 30 seconds and one at the end instead; [`LogThrottle::due`] says when.
pub struct LogThrottle {
    hidden: bool,
    last: std::time::Instant,
}

impl LogThrottle {
    /// A throttle for `bar` (never due while the bar is drawn).
    pub fn new(bar: &ProgressBar) -> Self {
        Self {
            hidden: bar.is_hidden(),
            last: std::time::Instant::now(),
        }
    }

    /// Whether to log a line now (`finished`: the last update); restarts the 30-second clock.
    pub fn due(&mut self, finished: bool) -> bool {
        if !self.hidden || !(finished || self.last.elapsed().as_secs() >= 30) {
            return false;
        }
        self.last = std::time::Instant::now();
        true
    }
}

/// Shows a trainer's progress report `p` with `message`: on the bar, and while the bar is
/// hidden as a log line (step, elapsed time, ETA) every 30 seconds and at the last step.
pub fn show_training_step(
    bar: &ProgressBar,
    throttle: &mut LogThrottle,
    p: &Progress,
    message: String,
) {
    if throttle.due(p.step == p.total_steps) {
        eprintln!(
            "step {}/{} {message} elapsed {} eta {}",
            p.step,
            p.total_steps,
            duration(p.elapsed.as_secs_f64()),
            p.eta.map_or("?".into(), |e| duration(e.as_secs_f64()))
        );
    }
    bar.set_position(p.step);
    bar.set_message(message);
}

/// A flag that Ctrl-C sets, so that a trainer stops after its current step with a checkpoint.
pub fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // One handler per process; a second registration would fail and is not needed.
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed));
    stop
}

/// Formats seconds as `1h 02m 03s`, `02m 03s` or `3.2s`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    let (h, m, sec) = (s / 3600, s % 3600 / 60, s % 60);
    if h > 0 {
        format!("{h}h {m:02}m {sec:02}s")
    } else if m > 0 {
        format!("{m:02}m {sec:02}s")
    } else {
        format!("{seconds:.1}s")
    }
}

/// An evaluation's identity for its run folder and summary.
pub struct EvalRun<'a> {
    /// The run folder.
    pub run: &'a RunDir,
    /// Shown in the summary row and written as `method`.
    pub method: String,
    /// The model's display name.
    pub model: String,
    /// The dataset spec.
    pub dataset: String,
    /// The seed written to summary.json.
    pub seed: u64,
    /// Problems per call of `solve`.
    pub batch_size: usize,
}

impl<'a> EvalRun<'a> {
    /// The identity of an evaluation of `lm` on the problems of `eval`'s dataset, written into
    /// `run`.
    pub fn new(
        run: &'a RunDir,
        method: String,
        lm: &LoadedModel,
        eval: &EvalArgs,
        seed: u64,
        batch_size: usize,
    ) -> Self {
        Self {
            run,
            method,
            model: lm.name.clone(),
            dataset: eval.dataset.spec(),
            seed,
            batch_size,
        }
    }
}

/// A run's records file reopened for resuming: the records of this run's items (by index),
/// and those of other items, which stay in the file but out of this run's results.
pub struct Resumed<R> {
    pub log: RecordLog<R>,
    pub done: Vec<R>,
    pub others: Vec<R>,
}

impl<R: Serialize + serde::de::DeserializeOwned> Resumed<R> {
    /// Opens (or creates) `path` and splits its records by whether `index(record)` is wanted.
    pub fn open(path: &Path, wanted: &HashSet<usize>, index: impl Fn(&R) -> usize) -> Result<Self> {
        let (log, records) = RecordLog::<R>::open(path)?;
        let (done, others) = records
            .into_iter()
            .partition(|r| wanted.contains(&index(r)));
        Ok(Self { log, done, others })
    }

    /// The indices of the items that already have a record.
    pub fn done_indices(&self, index: impl Fn(&R) -> usize) -> HashSet<usize> {
        self.done.iter().map(index).collect()
    }
}

/// Creates the run folder of an evaluation of `lm`: `config.json` holds the command's `args`
/// plus the model's display name as `model_name`.
pub fn eval_run_dir(
    command: &str,
    out: Option<&Path>,
    args: &impl Serialize,
    lm: &LoadedModel,
) -> Result<RunDir> {
    run_dir_named(command, out, args, &lm.name)
}

/// [`eval_run_dir`] for a model known by name only (a server's).
pub fn run_dir_named(
    command: &str,
    out: Option<&Path>,
    args: &impl Serialize,
    model_name: &str,
) -> Result<RunDir> {
    let mut config = serde_json::to_value(args)?;
    config["model_name"] = json!(model_name);
    RunDir::create(command, out, &config)
}

/// The prompt ids of a batch of problems, as `builder` renders them for `lm`'s tokenizer.
pub fn problem_prompts(
    builder: &PromptBuilder,
    lm: &LoadedModel,
    items: &[(usize, &Record)],
) -> reasoning_inference::Result<Vec<Vec<u32>>> {
    items
        .iter()
        .map(|(_, p)| builder.problem_ids(&lm.tokenizer, &p.problem))
        .collect()
}

/// The random streams of a batch's samples, `n` per problem in order: sample j of problem i
/// draws from stream (seed, i, j), so results do not depend on batching.
pub fn sample_streams(seed: u64, items: &[(usize, &Record)], n: usize) -> Vec<ChaCha8Rng> {
    items
        .iter()
        .flat_map(|(i, _)| (0..n as u64).map(move |j| sample_stream(seed, *i as u64, j)))
        .collect()
}

/// Evaluates `problems` into `run`'s `records.jsonl` (resuming what it holds), with a progress
/// bar showing the running accuracy; writes `summary.json`, prints the summary row and the run
/// folder. `extra` adds fields to the summary.
pub fn run_evaluation(
    eval: EvalRun<'_>,
    problems: &[Record],
    extra: Value,
    solve: impl FnMut(&[(usize, &Record)]) -> reasoning_inference::Result<Vec<EvalRecord>>,
) -> Result<EvalSummary> {
    let records_path = eval.run.file("records.jsonl");
    let (mut log, resumed) = RecordLog::<EvalRecord>::open(&records_path)?;
    let resumed_count = resumed
        .iter()
        .filter(|r| (1..=problems.len()).contains(&r.index))
        .count();
    let bar = progress_bar(problems.len() as u64, &eval.method);
    let mut throttle = LogThrottle::new(&bar);
    let records = evaluate(
        problems,
        &mut log,
        resumed,
        eval.batch_size,
        solve,
        |p: &EvalProgress| {
            let message = format!(
                "acc {:.1}% ({}/{}) avg {:.0} tok",
                100.0 * p.summary.accuracy,
                p.summary.correct,
                p.summary.n,
                p.summary.avg_generated_tokens
            );
            if throttle.due(p.done == p.total) {
                let elapsed = eval.run.seconds();
                let eta = if p.new > 0 {
                    elapsed / p.new as f64 * (p.total - p.done) as f64
                } else {
                    0.0
                };
                eprintln!(
                    "{}: {}/{} {} elapsed {} ETA {}",
                    eval.method,
                    p.done,
                    p.total,
                    message,
                    duration(elapsed),
                    duration(eta)
                );
            }
            bar.set_position(p.done as u64);
            bar.set_message(message);
        },
    );
    bar.finish_and_clear();
    let records = records?;
    let summary = EvalSummary::of(&records);
    let seconds = eval.run.seconds();
    let mut fields = json!({
        "method": eval.method,
        "correct": summary.correct,
        "avg_generated_tokens": summary.avg_generated_tokens,
        "resumed_records": resumed_count,
    });
    if let (Value::Object(map), Value::Object(more)) = (&mut fields, extra) {
        map.extend(more);
    }
    eval.run.write_summary(
        &Summary {
            model: eval.model.clone(),
            dataset: eval.dataset.clone(),
            n: summary.n,
            accuracy: Some(summary.accuracy),
            seconds: Some(seconds),
            seed: Some(eval.seed),
        },
        fields,
    )?;
    println!(
        "{:<40} {:>9} {:>10} {:>11}",
        "method", "accuracy", "time", "avg tokens"
    );
    println!(
        "{:<40} {:>8.1}% {:>10} {:>11.1}",
        eval.method,
        100.0 * summary.accuracy,
        duration(seconds),
        summary.avg_generated_tokens
    );
    println!(
        "model {}, dataset {}, {} problems ({} correct{})",
        eval.model,
        eval.dataset,
        summary.n,
        summary.correct,
        if resumed_count > 0 {
            format!(", {resumed_count} resumed")
        } else {
            String::new()
        }
    );
    eval.run.finish();
    Ok(summary)
}

/// The tokenizer files that make a folder a model folder: those present in `dir` when the
/// tokenizer came from a folder, else written from the loaded tokenizer (a GGUF vocabulary, a
/// bare tokenizer.json) into `out`: `tokenizer.json`, `tokenizer_config.json` with the chat
/// template and special tokens, `generation_config.json` with the stop ids.
pub fn tokenizer_files(
    dir: Option<&Path>,
    tok: &reasoning_tokenizer::Tokenizer,
    out: &Path,
) -> Result<Vec<PathBuf>> {
    let names = [
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
        "chat_template.jinja",
    ];
    if let Some(dir) = dir {
        return Ok(names
            .iter()
            .map(|n| dir.join(n))
            .filter(|p| p.is_file())
            .collect());
    }
    std::fs::create_dir_all(out)?;
    let text = tok
        .as_tokenizers()
        .to_string(false)
        .map_err(|e| anyhow::anyhow!("cannot serialise the tokenizer: {e}"))?;
    crate::run::write_json_atomic(
        &out.join("tokenizer.json"),
        &serde_json::from_str::<Value>(&text)?,
    )?;
    let eos = tok
        .eos_token_ids()
        .first()
        .and_then(|&id| tok.id_to_token(id));
    let bos = tok.bos_token_id().and_then(|id| tok.id_to_token(id));
    crate::run::write_json_atomic(
        &out.join("tokenizer_config.json"),
        &json!({
            "chat_template": tok.chat_template().map(|t| t.source().to_string()),
            "eos_token": eos,
            "bos_token": bos,
        }),
    )?;
    crate::run::write_json_atomic(
        &out.join("generation_config.json"),
        &json!({ "eos_token_id": tok.eos_token_ids() }),
    )?;
    Ok(names[..3].iter().map(|n| out.join(n)).collect())
}

/// A client of the OpenAI-compatible server at `url` (`http://HOST:PORT/v1`) for `model`, or
/// the first model the server lists; the API key is read from the environment variable
/// `key_env` (never printed). `flag` names the option that picks a model, for the error.
pub fn remote_client(
    url: &str,
    model: Option<&str>,
    key_env: &str,
    flag: &str,
) -> Result<reasoning_serve::client::Client> {
    use reasoning_serve::client::Client;
    let base = url.trim_end_matches('/').to_string();
    let key = std::env::var(key_env).ok();
    let model = match model {
        Some(m) => m.to_string(),
        None => Client::new(&base, "")
            .with_api_key(key.clone())
            .models()
            .with_context(|| format!("cannot list the models of {base}"))?
            .into_iter()
            .next()
            .with_context(|| format!("{base} lists no model; pass {flag}"))?,
    };
    Ok(Client::new(base, model).with_api_key(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_the_books_eta() {
        assert_eq!(duration(3.24), "3.2s");
        assert_eq!(duration(125.0), "02m 05s");
        assert_eq!(duration(3723.0), "1h 02m 03s");
    }

    #[test]
    fn a_missing_local_dataset_that_is_no_hub_id_names_itself() {
        let err = dataset_file("no/such/file.jsonl").unwrap_err().to_string();
        assert!(err.contains("no/such/file.jsonl"), "{err}");
    }

    #[test]
    fn prompt_suffix_escapes_become_characters() {
        assert_eq!(
            unescape("\\n\\nExplain step by step."),
            "\n\nExplain step by step."
        );
        assert_eq!(unescape("a\\tb\\\\n c\\"), "a\tb\\n c\\");
        assert_eq!(unescape("plain"), "plain");
    }

    #[test]
    fn prompt_flags_build_the_pipeline() {
        let args = PromptArgs {
            prompt: "book".into(),
            template: "raw".into(),
            think: false,
            no_think: true,
            prompt_suffix: "\\n\\nExplain step by step.".into(),
        };
        let b = args.builder(true).unwrap();
        assert_eq!(b.suffix, "\n\nExplain step by step.");
        assert_eq!(b.style, PromptStyle::Cot);
        assert_eq!(b.format, PromptFormat::Raw);
        assert_eq!(b.thinking, Some(false));
        let bad = PromptArgs {
            prompt: "poem".into(),
            ..args
        };
        assert!(bad.builder(false).is_err());
    }
}
