//! Grading speed of the chapter-3 verifier: latency percentiles of `extract_final_candidate` +
//! `grade_answer` per response.
//!
//! - the 1000 real model responses in `$REASONING_ASSETS/datasets/math500_model_outputs.jsonl`
//!   (Qwen3 and GPT answers to MATH-500), each graded against its reference answer;
//! - the adversarial responses of `reasoning_verifier::limits::adversarial_responses` (100 KB
//!   runs, power towers, wide expansions), each graded against `\frac{1}{2}` and against itself.
//!
//! Each response is timed 5 times. "all runs" are the percentiles of every sample; "best of 5"
//! of each response's fastest run, which on a shared machine removes time spent in other
//! processes.
//!
//! Run (about 10 s on a 2-core CPU):
//!
//! ```text
//! cargo run --release -p reasoning-verifier --example grade_bench
//! ```

use std::time::Instant;

use reasoning_verifier::limits::adversarial_responses;
use reasoning_verifier::{Fallback, Grader, extract_final_candidate};

const ROUNDS: usize = 5;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let k = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[k.min(sorted.len() - 1)]
}

fn report(name: &str, mut micros: Vec<f64>) {
    micros.sort_by(|a, b| a.total_cmp(b));
    let mean = micros.iter().sum::<f64>() / micros.len() as f64;
    println!(
        "{name:<32} n={:<5} p50={:>8.1} us  p99={:>8.1} us  max={:>8.1} us  mean={:>8.1} us",
        micros.len(),
        percentile(&micros, 0.5),
        percentile(&micros, 0.99),
        micros[micros.len() - 1],
        mean
    );
}

fn time_one(grader: &Grader, response: &str, gt: &str) -> (f64, bool) {
    let start = Instant::now();
    let extracted = extract_final_candidate(response, Fallback::default());
    let ok = grader.is_correct(&extracted, gt);
    (start.elapsed().as_secs_f64() * 1e6, ok)
}

/// Times every response `ROUNDS` times; returns all samples and each response's fastest run
/// (the fastest run is what the grader costs; the others add whatever else the CPU was doing).
fn measure(grader: &Grader, cases: &[(String, String)]) -> (Vec<f64>, Vec<f64>, usize) {
    let mut all = Vec::new();
    let mut best = vec![f64::INFINITY; cases.len()];
    let mut correct = 0;
    for round in 0..ROUNDS {
        for (k, (response, gt)) in cases.iter().enumerate() {
            let (us, ok) = time_one(grader, response, gt);
            all.push(us);
            best[k] = best[k].min(us);
            correct += usize::from(ok && round == 0);
        }
    }
    (all, best, correct)
}

fn main() {
    let grader = Grader::default();
    match std::env::var("REASONING_ASSETS") {
        Ok(dir) => {
            let path = format!("{dir}/datasets/math500_model_outputs.jsonl");
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
            let records: Vec<(String, String)> = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).expect("valid JSONL");
                    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                    (s("generated_text"), s("gtruth_answer"))
                })
                .collect();
            let (all, best, correct) = measure(&grader, &records);
            let name = format!("real outputs ({correct}/{} correct)", records.len());
            report(&format!("{name}, all runs"), all);
            report(&format!("{name}, best of {ROUNDS}"), best);
        }
        Err(_) => println!("REASONING_ASSETS is not set: skipping the real model outputs"),
    }
    let mut cases = Vec::new();
    let mut names = Vec::new();
    for (name, response) in adversarial_responses() {
        let extracted = extract_final_candidate(&response, Fallback::default());
        for gt in [r"\frac{1}{2}".to_string(), extracted] {
            cases.push((response.clone(), gt));
            names.push(name);
        }
    }
    let (all, best, _) = measure(&grader, &cases);
    report(
        &format!("adversarial ({} inputs), all runs", names.len() / 2),
        all,
    );
    report(
        &format!("adversarial ({} inputs), best of {ROUNDS}", names.len() / 2),
        best.clone(),
    );
    let mut worst: Vec<(f64, &str)> = best.into_iter().zip(names).collect();
    worst.sort_by(|a, b| b.0.total_cmp(&a.0));
    worst.dedup_by(|a, b| a.1 == b.1);
    println!("slowest adversarial inputs (best of {ROUNDS}):");
    for (us, name) in worst.iter().take(5) {
        println!("  {us:>9.1} us  {name}");
    }
}
