//! The GPU test set: the same model code on burn-wgpu, checked against the CPU (burn-flex) and
//! against HF transformers.
//!
//! Every test needs the `wgpu` feature and says that it skipped without it. Build that in its
//! own target folder, so the default build keeps its burn (docs/model.md, "Devices"):
//!
//! ```text
//! CARGO_TARGET_DIR=target/wgpu cargo test -p xtask --features wgpu --test gpu
//! ```
//!
//! On a machine without a GPU, wgpu runs on Mesa's software Vulkan driver (lavapipe, Debian's
//! `mesa-vulkan-drivers`), which is how CI runs it: slow, but the same shaders a GPU runs.
//!
//! - The tiny reference checkpoints: logits equal to transformers' within 1e-4, and greedy
//!   continuations through the KV cache identical.
//! - SmolLM2-135M (Q4_1 GGUF, dequantised to f32; needs `REASONING_ASSETS`): last-position
//!   logits within the CPU test's tolerance of transformers', greedy continuations identical.
//! - A bf16 model on wgpu is refused at load with a clear error (WGSL has no bf16).
//! - Every inference command (generate, chat, evaluate, self-consistency, best-of-n,
//!   self-refine, mmlu's methods, serve) on the embedded model: the same records as on the CPU.
//! - One SFT step (`distill`) and one GRPO step (`train-grpo --preset deepseek-v32`): the same
//!   loss and gradient norm as on the CPU, and the same parameter change; a 5-step
//!   `train-grpo --device wgpu` (the default preset) finishes with finite metrics.
//! - By hand (`-- --ignored`, several minutes each): one step of every GRPO preset against the
//!   CPU, and `pretrain-tiny`'s three phases.

mod common;
// The model crate's fixture helpers (reference logits, cached greedy decoding), shared rather
// than copied; its `fixture()` path is the model crate's, so this file passes full paths.
#[path = "../../crates/model/tests/common/mod.rs"]
mod model_common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use model_common::{Reference, cached_greedy, ids, max_abs_diff, reference_logits_diff, values};
use reasoning_model::{DType, Device, DeviceSpec, KvCache, Model, ModelError};
use serde_json::Value;

/// The model crate's fixture folder.
fn model_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/model/tests/fixtures")
        .join(name)
}

/// The wgpu device, or `None` (after saying why `test` skips) in a build without the feature.
fn wgpu(test: &str) -> Option<Device> {
    match DeviceSpec::Wgpu.device() {
        Ok(device) => Some(device),
        Err(e) => {
            println!("{test}: skipped, {e}");
            None
        }
    }
}

/// Runs `xtask` with `args` (inheriting `REASONING_ASSETS`).
fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `xtask args... --device device --out dir` and returns the run folder.
fn run_on(device: &str, dir: &Path, args: &[&str]) -> PathBuf {
    let out = dir.join(format!("{}-{device}", args[0]));
    let mut all = args.to_vec();
    all.extend(["--device", device, "--out", out.to_str().unwrap()]);
    common::ok(&xtask(&all));
    out
}

/// A JSON Lines file, one value per line.
fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Drops the fields that legitimately differ between two runs (timings).
fn without_timings(mut v: Value) -> Value {
    if let Value::Object(map) = &mut v {
        map.retain(|k, _| !k.contains("seconds") && !k.contains("per_sec") && k != "elapsed");
        for value in map.values_mut() {
            *value = without_timings(value.take());
        }
    }
    v
}

/// The largest difference between two JSON values that have the same shape: 0 where they are
/// equal, the numeric gap where numbers differ; panics (naming `path`) on any other difference.
fn json_gap(a: &Value, b: &Value, path: &str) -> f64 {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => (x.as_f64().unwrap() - y.as_f64().unwrap()).abs(),
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{path}: lengths differ");
            x.iter()
                .zip(y)
                .enumerate()
                .map(|(i, (x, y))| json_gap(x, y, &format!("{path}[{i}]")))
                .fold(0.0, f64::max)
        }
        (Value::Object(x), Value::Object(y)) => {
            let keys = |m: &serde_json::Map<String, Value>| m.keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(x), keys(y), "{path}: fields differ");
            x.iter()
                .map(|(k, v)| json_gap(v, &y[k], &format!("{path}.{k}")))
                .fold(0.0, f64::max)
        }
        _ => {
            assert_eq!(a, b, "{path}");
            0.0
        }
    }
}

/// How two runs' parameter changes from `start` compare.
struct UpdateGap {
    /// max |Δθ_a|: about the learning rate for Adam's first step.
    size: f32,
    /// max |Δθ_a - Δθ_b|.
    max: f32,
    /// Σ|Δθ_a - Δθ_b| / Σ|Δθ_a|.
    relative_l1: f64,
    /// The fraction of parameters whose changes differ by more than 1% of `size`.
    disagree: f64,
}

fn update_gap(
    start: &BTreeMap<String, Vec<f32>>,
    a: &BTreeMap<String, Vec<f32>>,
    b: &BTreeMap<String, Vec<f32>>,
) -> UpdateGap {
    let deltas = |run: &BTreeMap<String, Vec<f32>>| -> Vec<f32> {
        start
            .iter()
            .flat_map(|(name, s)| s.iter().zip(&run[name]).map(|(s, x)| x - s))
            .collect()
    };
    let (da, db) = (deltas(a), deltas(b));
    let size = da.iter().fold(0f32, |m, d| m.max(d.abs()));
    let gaps: Vec<f32> = da.iter().zip(&db).map(|(x, y)| (x - y).abs()).collect();
    UpdateGap {
        size,
        max: gaps.iter().copied().fold(0.0, f32::max),
        relative_l1: gaps.iter().map(|&g| g as f64).sum::<f64>()
            / da.iter().map(|d| d.abs() as f64).sum::<f64>(),
        disagree: gaps.iter().filter(|&&g| g > 0.01 * size).count() as f64 / gaps.len() as f64,
    }
}

#[test]
fn tiny_reference_checkpoints_give_transformers_logits_and_greedy_ids() {
    let Some(device) = wgpu("tiny_reference_checkpoints_give_transformers_logits_and_greedy_ids")
    else {
        return;
    };
    for (path, reference) in [
        ("qwen3-tied", "qwen3-tied"),
        ("llama-tied", "llama-tied"),
        ("llama-tied.gguf", "llama-tied"),
        ("qwen3-untied-bf16", "qwen3-untied-bf16"),
    ] {
        let model = Model::load(&model_fixture(path), &device, DType::F32)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let r = Reference::read(&model_fixture(reference));
        let diff = reference_logits_diff(&model, &r, &device);
        println!("{path}: max |Δlogit| vs transformers on wgpu = {diff:.2e}");
        assert!(diff < 1e-4, "{path}: max |Δlogit| = {diff}");
        let prompt_len = r.input_ids[0].len();
        let (generated, _) = cached_greedy(&model, &r, &device);
        for (b, row) in generated.iter().enumerate() {
            assert_eq!(row[..], r.greedy_ids[b][prompt_len..], "{path}, row {b}");
        }
    }
}

#[test]
fn bf16_on_wgpu_is_refused_at_load_with_a_clear_error() {
    let Some(device) = wgpu("bf16_on_wgpu_is_refused_at_load_with_a_clear_error") else {
        return;
    };
    let err = Model::load(&model_fixture("qwen3-tied"), &device, DType::BF16).unwrap_err();
    assert!(matches!(err, ModelError::DTypeUnsupported { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("bf16") && text.contains("f32"), "{text}");

    let out = xtask(&[
        "generate", "--prompt", "1 + 1", "--device", "wgpu", "--dtype", "bf16",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("has no bf16 tensors"), "{stderr}");
}

#[test]
fn smollm2_gguf_gives_transformers_logits_and_greedy_text() {
    let Some(device) = wgpu("smollm2_gguf_gives_transformers_logits_and_greedy_text") else {
        return;
    };
    let Some(assets) =
        model_common::assets("smollm2_gguf_gives_transformers_logits_and_greedy_text")
    else {
        return;
    };
    #[derive(serde::Deserialize)]
    struct Case {
        input_ids: Vec<i64>,
        top_ids: Vec<usize>,
        top_logits: Vec<f32>,
        greedy_ids: Vec<i64>,
    }
    #[derive(serde::Deserialize)]
    struct ReferenceFile {
        cases: Vec<Case>,
    }
    let path = assets.join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let model = Model::load(&path, &device, DType::F32).unwrap();
    let text = std::fs::read_to_string(model_fixture("smollm2_reference.json")).unwrap();
    let reference: ReferenceFile = serde_json::from_str(&text).unwrap();
    // Two of the four chat prompts keep the test near a minute on the software driver.
    for (c, case) in reference.cases.iter().take(2).enumerate() {
        let prompt = model_common::tokens(std::slice::from_ref(&case.input_ids), &device);
        let mut cache = KvCache::new(model.config(), 1, 128, &device);
        let mut logits = model.forward_cached(prompt, &mut cache);
        let last = values(logits.clone());
        let want: Vec<f32> = case.top_ids.iter().map(|&i| last[i]).collect();
        let diff = max_abs_diff(&want, &case.top_logits);
        println!("SmolLM2 case {c}: max |Δlogit| vs transformers on wgpu = {diff:.2e}");
        // The CPU test's tolerance (crates/model/tests/smollm2.rs).
        assert!(diff < 5e-4, "case {c}: {diff}");
        let mut generated = Vec::new();
        for _ in 0..case.greedy_ids.len() {
            let next = logits.argmax(1);
            generated.extend(ids(next.clone()));
            logits = model.forward_cached(next, &mut cache);
        }
        assert_eq!(generated, case.greedy_ids, "case {c}");
    }
}

/// A handful of MMLU questions in cais/mmlu's schema (written by hand for this test).
fn mmlu_file(dir: &Path) -> PathBuf {
    let path = dir.join("mmlu.jsonl");
    let rows = [
        ("What is 2 + 3?", ["4", "5", "6", "7"], 1),
        ("What is 10 - 4?", ["6", "4", "14", "5"], 0),
        ("What is 3 * 3?", ["6", "8", "12", "9"], 3),
        ("What is 8 / 2?", ["2", "6", "4", "16"], 2),
    ];
    let mut f = std::fs::File::create(&path).unwrap();
    for (q, choices, answer) in rows {
        let row = serde_json::json!({
            "subject": "elementary_mathematics", "question": q, "choices": choices,
            "answer": answer,
        });
        writeln!(f, "{row}").unwrap();
    }
    path
}

#[test]
fn every_inference_command_gives_the_cpu_records_on_wgpu() {
    if wgpu("every_inference_command_gives_the_cpu_records_on_wgpu").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mmlu = mmlu_file(dir.path());
    let mmlu = mmlu.to_str().unwrap();
    let judge = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/tiny-arith");
    let judged = dir.path().join("0/evaluate-cpu/records.jsonl");
    // Each command, and the file of records its two runs must share.
    let commands = [
        ("evaluate --limit 4 --max-new-tokens 48", "records.jsonl"),
        (
            "self-consistency --limit 2 --num-samples 3 --max-new-tokens 48",
            "records.jsonl",
        ),
        (
            "best-of-n --limit 2 --num-samples 3 --max-new-tokens 48",
            "records.jsonl",
        ),
        (
            "self-refine --limit 2 --iterations 1 --max-new-tokens 48",
            "records.jsonl",
        ),
        (
            &format!("mmlu --data {mmlu} --subjects all --method letter"),
            "records.jsonl",
        ),
        (
            &format!("mmlu --data {mmlu} --subjects all --method logprob"),
            "records.jsonl",
        ),
        (
            &format!("mmlu --data {mmlu} --subjects all --method teacher-forcing"),
            "records.jsonl",
        ),
        (
            &format!(
                "judge --judge {} --input {} --max-new-tokens 24",
                judge.display(),
                judged.display()
            ),
            "verdicts.jsonl",
        ),
        (
            "distill-data --limit 2 --num-samples 2 --max-new-tokens 48",
            "traces.jsonl",
        ),
    ];
    for (i, (command, records)) in commands.iter().enumerate() {
        let args: Vec<&str> = command.split_whitespace().collect();
        let sub = dir.path().join(i.to_string());
        let (cpu, gpu) = (run_on("cpu", &sub, &args), run_on("wgpu", &sub, &args));
        let (a, b) = (jsonl(&cpu.join(records)), jsonl(&gpu.join(records)));
        assert!(!a.is_empty(), "{command}: no records");
        let gap = json_gap(
            &Value::Array(a.into_iter().map(without_timings).collect()),
            &Value::Array(b.into_iter().map(without_timings).collect()),
            args[0],
        );
        println!("{command}: the same records, largest numeric gap {gap:.2e}");
        assert!(gap < 1e-4, "{command}: {gap}");
    }

    let generate = |device: &str| {
        common::ok(&xtask(&[
            "generate",
            "--prompt",
            "Evaluate 3 + 4.",
            "--chat",
            "--max-new-tokens",
            "32",
            "--device",
            device,
            "--json",
        ]))
    };
    let (a, b) = (generate("cpu"), generate("wgpu"));
    let generated = |s: &str| -> Value {
        let v: Value = serde_json::from_str(s.lines().last().unwrap()).unwrap();
        serde_json::json!([v["generated_ids"], v["text"]])
    };
    assert_eq!(generated(&a), generated(&b), "generate --json: {a}\n{b}");

    let chat = |device: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["chat", "--max-new-tokens", "24", "--device", device])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"Evaluate 2 + 2.\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "chat on {device}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let reply = |s: &str| {
        s.lines()
            .filter(|l| !l.contains("tokens/s"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        reply(&chat("cpu")),
        reply(&chat("wgpu")),
        "chat replies differ"
    );
}

#[test]
fn the_server_answers_on_wgpu_as_on_the_cpu() {
    if wgpu("the_server_answers_on_wgpu_as_on_the_cpu").is_none() {
        return;
    }
    let reply = |device: &str| {
        let (mut child, url) = common::serve(&["--device", device]);
        let body = serde_json::json!({
            "messages": [{"role": "user", "content": "Evaluate 5 + 6."}],
            "max_tokens": 32, "temperature": 0,
        });
        let answer: Value = ureq::post(&format!("{url}/v1/chat/completions"))
            .send_json(body)
            .unwrap()
            .into_json()
            .unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        answer["choices"][0]["message"].clone()
    };
    assert_eq!(reply("cpu"), reply("wgpu"));
}

/// Checks one training step on the CPU and on wgpu: the same metrics row (loss, gradient norm,
/// rewards) within `tol` (relative), and the same parameter change within 1% of its size.
fn same_step(cpu: &Path, gpu: &Path, what: &str) {
    let (header, a) = common::metrics(cpu);
    let (header_b, b) = common::metrics(gpu);
    assert_eq!(header, header_b);
    // The training step's row (train-grpo also writes a step-0 row of the first evaluation).
    let step = header.iter().position(|h| h == "step").unwrap();
    let row = |rows: &[Vec<f64>]| rows.iter().find(|r| r[step] == 1.0).unwrap().clone();
    let (a, b) = (row(&a), row(&b));
    for (c, name) in header.iter().enumerate() {
        if name.contains("sec") || name.contains("time") || name == "elapsed" {
            continue;
        }
        let (x, y) = (a[c], b[c]);
        if x.is_nan() && y.is_nan() {
            continue;
        }
        let rel = (x - y).abs() / x.abs().max(1e-3);
        println!("{what}: {name} cpu {x} wgpu {y} (relative gap {rel:.1e})");
        assert!(rel < 1e-3, "{what}: {name}: cpu {x}, wgpu {y}");
    }
    let start =
        common::weights(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/tiny-arith"));
    let gap = update_gap(
        &start,
        &common::weights(&cpu.join("model")),
        &common::weights(&gpu.join("model")),
    );
    println!(
        "{what}: parameter change max {:.2e}; cpu-wgpu gap max {:.2e}, relative L1 {:.2e}, \
         {:.4}% of parameters differ by more than 1% of the step",
        gap.size,
        gap.max,
        gap.relative_l1,
        100.0 * gap.disagree
    );
    assert!(gap.size > 0.0, "{what}: the step changed nothing");
    // Adam's first step moves each weight by lr·g/(|g| + ε): wherever |g| is near ε = 1e-8,
    // rounding noise in g moves the step by up to lr, so a handful of parameters may differ
    // by a large fraction of the step (measured: 0.004% of them); the rest agree.
    assert!(
        gap.relative_l1 < 1e-4,
        "{what}: relative L1 {}",
        gap.relative_l1
    );
    assert!(gap.disagree < 1e-3, "{what}: {} disagree", gap.disagree);
}

#[test]
fn one_sft_step_matches_the_cpu() {
    if wgpu("one_sft_step_matches_the_cpu").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = common::traces(dir.path(), 9);
    let args = [
        "distill",
        "--data",
        data.to_str().unwrap(),
        "--target-format",
        "qwen3",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--val-size",
        "1",
        "--eval-limit",
        "2",
        "--eval-max-new-tokens",
        "32",
    ];
    let (cpu, gpu) = (
        run_on("cpu", dir.path(), &args),
        run_on("wgpu", dir.path(), &args),
    );
    same_step(&cpu, &gpu, "distill");
}

/// A GRPO run small enough for the software driver.
const GRPO: [&str; 15] = [
    "train-grpo",
    "--prompts-per-step",
    "2",
    "--num-rollouts",
    "4",
    "--max-new-tokens",
    "32",
    "--eval-limit",
    "4",
    "--eval-every",
    "0",
    "--checkpoint-every",
    "0",
    "--sample-every",
    "1",
];

#[test]
fn one_grpo_step_matches_the_cpu_and_five_steps_finish() {
    if wgpu("one_grpo_step_matches_the_cpu_and_five_steps_finish").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // DeepSeek-V3.2's preset: besides the clipped ratio it trains against a reference model
    // (KL) and on the keep-sampling mask, the most device code of any preset.
    let mut args = GRPO.to_vec();
    args.extend(["--steps", "1", "--preset", "deepseek-v32"]);
    let (cpu, gpu) = (
        run_on("cpu", dir.path(), &args),
        run_on("wgpu", dir.path(), &args),
    );
    same_step(&cpu, &gpu, "train-grpo --preset deepseek-v32");

    let mut args = GRPO.to_vec();
    args.extend(["--steps", "5"]);
    let five = run_on("wgpu", &dir.path().join("five"), &args);
    let (header, rows) = common::metrics(&five);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (step, loss) = (col("step"), col("loss"));
    let steps: Vec<&Vec<f64>> = rows.iter().filter(|r| r[step] >= 1.0).collect();
    assert_eq!(steps.len(), 5, "{rows:?}");
    assert!(steps.iter().all(|r| r[loss].is_finite()), "{rows:?}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(five.join("summary.json")).unwrap()).unwrap();
    assert!(summary["accuracy"].as_f64().unwrap().is_finite());
}

#[test]
#[ignore = "13 presets, several minutes on the software driver: run by hand with --ignored"]
fn every_grpo_preset_takes_the_cpu_step_on_wgpu() {
    if wgpu("every_grpo_preset_takes_the_cpu_step_on_wgpu").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for preset in reasoning_grpo::Preset::ALL {
        let name = preset.to_string();
        let mut args = GRPO.to_vec();
        args.extend(["--steps", "1", "--preset", &name]);
        let sub = dir.path().join(&name);
        let (cpu, gpu) = (run_on("cpu", &sub, &args), run_on("wgpu", &sub, &args));
        same_step(&cpu, &gpu, &format!("train-grpo --preset {name}"));
    }
}

#[test]
#[ignore = "two minutes on the software driver: run by hand with --ignored (docs/model.md, Devices)"]
fn pretrain_tiny_runs_its_three_phases_on_wgpu() {
    if wgpu("pretrain_tiny_runs_its_three_phases_on_wgpu").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pretrain");
    common::ok(&xtask(&[
        "pretrain-tiny",
        "--drill-steps",
        "2",
        "--steps",
        "2",
        "--polish-steps",
        "2",
        "--no-measure",
        "--device",
        "wgpu",
        "--out",
        out.to_str().unwrap(),
    ]));
    let mut losses = 0;
    for entry in walk(&out) {
        if entry.file_name().is_some_and(|n| n == "metrics.csv") {
            let (header, rows) = common::metrics(entry.parent().unwrap());
            let loss = header.iter().position(|h| h.contains("loss")).unwrap();
            assert!(
                rows.iter().all(|r| r[loss].is_finite()),
                "{}",
                entry.display()
            );
            losses += rows.len();
        }
    }
    assert!(losses >= 6, "expected two rows per phase, found {losses}");
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
