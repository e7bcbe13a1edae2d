//! Chapter 3: evaluating reasoning models with a verifier.
//!
//! - `grade`: grade one answer against a reference and show how both were read.
//! - `evaluate-json`: the book's `evaluate_json.py`, accuracy of saved model outputs.
//!
//! The grading logic lives in `reasoning-verifier`; these commands parse arguments and report.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use reasoning_train::fs::write_atomic;
use reasoning_verifier::datasets::{grade_records, read_json_records};
use reasoning_verifier::{Fallback, Grader, extract_final_candidate};
use serde::Serialize;
use serde_json::{Value, json};

use crate::run::{RunDir, Summary};

/// Grade one answer against a reference answer (book section 3.7, `grade_answer`).
///
/// Prints the verdict, the rule that decided it, and how each answer was read: the book's
/// `normalize_text` form, the parsed expression and its exact value. Writes nothing; instant.
///
///     cargo xtask grade --pred "0.5" --gt '\frac{1}{2}'
#[derive(Args, Debug, Serialize)]
pub struct GradeArgs {
    /// The predicted answer, e.g. "0.5" (an extracted answer, or a whole response with --extract).
    #[arg(long, allow_hyphen_values = true)]
    pub pred: String,
    /// The reference answer, e.g. '\frac{1}{2}'.
    #[arg(long, allow_hyphen_values = true)]
    pub gt: String,
    /// Treat --pred as a whole model response: take its last \boxed{...} (the book's fallbacks
    /// apply when there is none) before grading.
    #[arg(long)]
    pub extract: bool,
    /// Print the verdict as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `cargo xtask grade`.
pub fn grade(args: GradeArgs) -> Result<()> {
    let pred = if args.extract {
        extract_final_candidate(&args.pred, Fallback::default())
    } else {
        args.pred.clone()
    };
    let verdict = Grader::default().grade(&pred, &args.gt);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&verdict)?);
    } else {
        if args.extract {
            println!("extracted: {pred}");
        }
        print!("{verdict}");
    }
    Ok(())
}

/// Score saved model outputs (book section 3.9 and ch03/02_math500-verifier-scripts/evaluate_json.py).
///
/// Reads a JSON array, an object with a "records" array, or JSON Lines; for every record takes
/// the final answer from the generated text (last \boxed{...}, else the book's fallbacks) and
/// grades it against the reference. Prints the accuracy overall and per value of --group-by,
/// and writes a run folder: config.json, labeled.jsonl (every input record with "extracted" and
/// "correct" added) and summary.json. About one second for the book's 1000 saved answers on a
/// 2-core CPU.
///
///     cargo xtask evaluate-json --input "$REASONING_ASSETS/datasets/math500_model_outputs.jsonl"
#[derive(Args, Debug, Serialize)]
pub struct EvaluateJsonArgs {
    /// The records file (.json or .jsonl).
    #[arg(long)]
    pub input: PathBuf,
    /// Key of the reference answer.
    #[arg(long, default_value = "gtruth_answer")]
    pub gtruth_key: String,
    /// Key of the model's generated text.
    #[arg(long, default_value = "generated_text")]
    pub generated_key: String,
    /// Also write the labelled records (JSON Lines) to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Report accuracy per value of this field, when records have it.
    #[arg(long, default_value = "source")]
    pub group_by: String,
    /// Run folder (default runs/evaluate-json-<timestamp>/).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
}

/// Accuracy of one group of records.
#[derive(Debug, Default, Serialize)]
struct GroupScore {
    n: usize,
    correct: usize,
    accuracy: f64,
}

/// Runs `cargo xtask evaluate-json`.
pub fn evaluate_json(args: EvaluateJsonArgs) -> Result<()> {
    let started = Instant::now();
    let grader = Grader::default();
    // Read and grade first, so that a bad input leaves no run folder behind.
    let records = read_json_records(&args.input)?;
    if records.is_empty() {
        bail!("{} holds no records", args.input.display());
    }
    let graded = grade_records(
        &records,
        &args.gtruth_key,
        &args.generated_key,
        &grader,
        &args.input,
    )?;
    let mut config = serde_json::to_value(&args)?;
    config["seed"] = json!(Grader::DEFAULT_SEED);
    let run = RunDir::create("evaluate-json", args.run_dir.as_deref(), &config)?;

    let mut groups: BTreeMap<String, GroupScore> = BTreeMap::new();
    let mut labeled = String::new();
    for (record, g) in records.iter().zip(&graded) {
        if let Some(key) = record.value.get(&args.group_by).and_then(Value::as_str) {
            let s = groups.entry(key.to_string()).or_default();
            s.n += 1;
            s.correct += usize::from(g.correct);
        }
        let mut out = record.value.clone();
        if let Value::Object(map) = &mut out {
            map.insert("extracted".into(), json!(g.extracted));
            map.insert("correct".into(), json!(g.correct));
        }
        labeled.push_str(&serde_json::to_string(&out)?);
        labeled.push('\n');
    }
    for s in groups.values_mut() {
        s.accuracy = s.correct as f64 / s.n as f64;
    }
    let n = graded.len();
    let correct = graded.iter().filter(|g| g.correct).count();
    let accuracy = correct as f64 / n as f64;

    write_atomic(&run.file("labeled.jsonl"), labeled.as_bytes())?;
    if let Some(out) = &args.out {
        write_atomic(out, labeled.as_bytes())?;
    }
    let summary = Summary {
        model: "saved outputs".into(),
        dataset: args.input.display().to_string(),
        n,
        accuracy: Some(accuracy),
        seconds: Some(started.elapsed().as_secs_f64()),
        seed: Some(Grader::DEFAULT_SEED),
    };
    let extra = json!({
        "correct": correct,
        "by": { &args.group_by: groups },
        "gtruth_key": args.gtruth_key,
        "generated_key": args.generated_key,
    });
    run.write_summary(&summary, extra)?;

    println!("Accuracy: {:.1}% ({correct}/{n})", 100.0 * accuracy);
    for (name, s) in &groups {
        println!(
            "  {}={name}: {:.1}% ({}/{})",
            args.group_by,
            100.0 * s.accuracy,
            s.correct,
            s.n
        );
    }
    if let Some(out) = &args.out {
        println!("labelled records: {}", out.display());
    }
    run.finish();
    Ok(())
}

/// Evaluate a model on a problem set with greedy decoding (book chapter 3,
/// `evaluate_math500_stream`; `--batch-size` is appendix E's batched evaluator).
///
/// For each problem: the book's prompt (`--prompt cot` adds "Explain step by step."), the
/// model's chat template when it has one, greedy decoding up to --max-new-tokens, the last
/// `\boxed{}` (else the last number) graded against the reference. Writes a run folder:
/// config.json, records.jsonl (`index`, `problem`, `gtruth_answer`, `generated_text`,
/// `extracted`, `correct`, `gen_tokens`; appended as made) and summary.json. Rerunning with the
/// same --out resumes, skipping problems already recorded. With no flags it evaluates the
/// embedded model on its 500 held-out problems in about a minute on a 2-core CPU;
/// SmolLM2-135M on 50 MATH-500 problems takes about 40 minutes (see docs/inference.md).
///
///     cargo xtask evaluate --model ../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf \
///         --dataset-path ../shared/datasets/math500_test.json --limit 50 --batch-size 8
#[derive(Args, Debug, Serialize)]
pub struct EvaluateArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub eval: crate::common::EvalArgs,
    /// Most new tokens per answer (book: 2048).
    #[arg(long, default_value_t = 2048)]
    pub max_new_tokens: usize,
    /// Problems generated together in one left-padded batch (same records as one at a time).
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Run folder (default runs/evaluate-<timestamp>/); an existing one is resumed.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `cargo xtask evaluate`.
pub fn evaluate(args: EvaluateArgs) -> Result<()> {
    use reasoning_inference::{Decoding, EvalRecord, greedy_batch};

    let (problems, lm, builder) = args.eval.load(false)?;
    let mut config = serde_json::to_value(&args)?;
    config["seed"] = json!(Grader::DEFAULT_SEED);
    config["model_name"] = json!(lm.name);
    let run = RunDir::create("evaluate", args.out.as_deref(), &config)?;
    let generation = lm.generation_config(args.max_new_tokens, Decoding::Greedy);
    let method = format!("greedy ({})", builder.style);
    crate::common::run_evaluation(
        crate::common::EvalRun {
            run: &run,
            method,
            model: lm.name.clone(),
            dataset: args.eval.dataset.spec(),
            seed: Grader::DEFAULT_SEED,
            batch_size: args.batch_size,
        },
        &problems,
        json!({ "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size }),
        |items| {
            let prompts = items
                .iter()
                .map(|(_, p)| builder.problem_ids(&lm.tokenizer, &p.problem))
                .collect::<reasoning_inference::Result<Vec<_>>>()?;
            let responses = greedy_batch(&lm, &prompts, &generation)?;
            Ok(items
                .iter()
                .zip(responses)
                .map(|((index, p), r)| {
                    let tokens = r.tokens();
                    EvalRecord::graded(*index, p, r.text, r.extracted, tokens)
                        .with("finish", r.generation.finish)
                })
                .collect())
        },
    )?;
    Ok(())
}
