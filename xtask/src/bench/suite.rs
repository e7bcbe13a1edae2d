//! `bench suite`: the performance suite of docs/performance.md, optionally beside the PyTorch
//! reference, with ratios.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;
use reasoning_model::Config;
use serde::Serialize;
use serde_json::{Value, json};

use crate::common::workspace_root;
use crate::run::{RunDir, Summary, write_json_atomic};

use super::bandwidth::{Bandwidth, decode_weight_bytes, measure_bandwidth};
use super::machine_load;

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
    /// Device of our side: cpu (burn-flex), ndarray or wgpu (each of the last two needs its
    /// cargo feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Also run the PyTorch reference (scripts/bench_pytorch.py) and report ratios.
    #[arg(long)]
    pub compare_pytorch: bool,
    /// The Python interpreter for --compare-pytorch.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Device of the PyTorch side: cpu, or cuda to compare `--device wgpu` with PyTorch on the
    /// same GPU.
    #[arg(long, default_value = "cpu")]
    pub pytorch_device: String,
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
pub(super) fn default_smollm2() -> PathBuf {
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

impl Row {
    /// Returns the row of `key` in our result `o` and PyTorch's `p` (when compared), with both
    /// peak memories; a time (`unit` "s") has speed-up PyTorch / ours, a rate ours / PyTorch.
    /// Target and note are empty.
    fn measured(
        case: &str,
        what: String,
        unit: &str,
        key: &str,
        o: &Value,
        p: Option<&Value>,
    ) -> Result<Row> {
        let ours = num(o, key)?;
        let pytorch = p.map(|p| num(p, key)).transpose()?;
        let peak = |v: Option<&Value>| v.and_then(|v| v.get("peak_rss_mb")).and_then(Value::as_f64);
        Ok(Row {
            case: case.into(),
            what,
            unit: unit.into(),
            ours,
            pytorch,
            speedup: pytorch.map(|v| if unit == "s" { v / ours } else { ours / v }),
            target: String::new(),
            peak_mb_ours: peak(Some(o)),
            peak_mb_pytorch: peak(p),
            note: String::new(),
        })
    }
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
        .arg("--device")
        .arg(&suite.pytorch_device)
        .env("OMP_NUM_THREADS", suite.threads.to_string());
    let stdout = run_child(cmd, "pytorch")?;
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .with_context(|| format!("{} printed no JSON line", script.display()))?;
    serde_json::from_str(line).context("the PyTorch script's JSON line does not parse")
}

/// With `--compare-pytorch`, runs the PyTorch side of a case (see [`pytorch`]); else `None`.
fn compare(suite: &SuiteArgs, args: &[String]) -> Result<Option<Value>> {
    suite
        .compare_pytorch
        .then(|| pytorch(suite, args))
        .transpose()
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
        if dtype == "bf16" && args.device != "cpu" {
            // burn-ndarray has no bf16; neither has WGSL, the shader language of burn-wgpu.
            eprintln!("[bench suite] {case}: skipped, {} has no bf16", args.device);
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
            // The shape both sides share, then each side's own flags.
            let shape = vec![
                "generate".to_string(),
                "--batch".into(),
                s(&batch),
                "--prompt-tokens".into(),
                s(&args.prompt_tokens),
                "--new-tokens".into(),
                s(&args.new_tokens),
            ];
            let mut ours_args = shape.clone();
            ours_args.extend([
                "--repeats".into(),
                rep.clone(),
                "--dtype".into(),
                dtype.into(),
                "--device".into(),
                args.device.clone(),
            ]);
            let mut py_args = shape;
            py_args.extend(["--dtype".into(), dtype.into()]);
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
            let p = compare(&args, &py_args)?;
            let decode = num(&o, "decode_tokens_per_s")?;
            // Seconds per step at the bandwidth limit: every weight read once per step.
            let limit = case_bandwidth.map(|bw| {
                let step_floor = weight_bytes / (bw.best_gb_s() * 1e9);
                let step = batch as f64 / decode;
                (step_floor, step_floor / step)
            });
            let mut push = |what: &str, key: &str, target: &str, note: String| -> Result<()> {
                let what = format!("{label} {dtype} batch {batch}: {what}");
                rows.push(Row {
                    target: target.into(),
                    note,
                    ..Row::measured(&id, what, "tokens/s", key, &o, p.as_ref())?
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
        let p = compare(
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
        )?;
        for (what, key) in [
            ("8 samples one at a time", "sequential_tokens_per_s"),
            ("8 samples as one batch", "batched_tokens_per_s"),
        ] {
            let what = format!("SmolLM2-135M f32: {what}");
            rows.push(Row::measured(&id, what, "tokens/s", key, &o, p.as_ref())?);
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

    // Each step case's shape, which both sides share, then each side's own flags.
    for (case, shape, what) in [
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
            format!("one GRPO step, G = 8, {} new tokens", args.new_tokens),
        ),
    ] {
        if !selected(case) {
            continue;
        }
        let mut rust_args = shape.clone();
        rust_args.extend([
            "--model".into(),
            gguf.clone(),
            "--repeats".into(),
            rep.clone(),
            "--device".into(),
            args.device.clone(),
        ]);
        let mut py_args = shape;
        py_args.extend(["--gguf".into(), gguf.clone()]);
        let o = ours(&rust_args, &cases.join(case), threads)?;
        let p = compare(&args, &py_args)?;
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
        let what = format!("SmolLM2-135M f32: {what}");
        rows.push(Row {
            target: "time <= PyTorch's".into(),
            note: format!(
                "{split}; load {}",
                fmt_load(o.get("load_average_before").and_then(Value::as_f64))
            ),
            ..Row::measured(case, what, "s", "step_seconds", &o, p.as_ref())?
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
        "pytorch_device": args.pytorch_device,
    });
    write_json_atomic(&run.file("results.json"), &results)?;
    let md = format!(
        "# bench suite\n\n`cargo xtask bench suite{}`; {} threads; device {} (PyTorch: {}).\n\
         Speed-up: ours / PyTorch for rates, PyTorch / ours for step times (> 1: ours is faster).\n\n{table}",
        if args.compare_pytorch {
            " --compare-pytorch"
        } else {
            ""
        },
        args.threads,
        args.device,
        args.pytorch_device,
    );
    reasoning_train::fs::write_atomic(&run.file("results.md"), md.as_bytes())?;
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

/// A load average for a table note.
pub(super) fn fmt_load(load: Option<f64>) -> String {
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
