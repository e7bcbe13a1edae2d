//! Grading speed of the chapter-3 verifier: latency percentiles of `extract_final_candidate` +
//! `grade_answer` per response.
//!
//! - the 1000 real model responses in `$REASONING_ASSETS/datasets/math500_model_outputs.jsonl`
//!   (Qwen3 and GPT answers to MATH-500), each graded against its reference answer;
//! - the adversarial responses of `reasoning_verifier::limits::adversarial_responses` (100 KB
//!   runs, power towers, wide expansions), each graded against `\frac{1}{2}` and against itself.
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
            let mut micros = Vec::new();
            let mut correct = 0;
            for round in 0..ROUNDS {
                for (response, gt) in &records {
                    let (us, ok) = time_one(&grader, response, gt);
                    micros.push(us);
                    correct += usize::from(ok && round == 0);
                }
            }
            report(
                &format!("real outputs ({correct}/{} correct)", records.len()),
                micros,
            );
        }
        Err(_) => println!("REASONING_ASSETS is not set: skipping the real model outputs"),
    }
    let cases = adversarial_responses();
    let mut all = Vec::new();
    let mut worst: Vec<(f64, &str)> = Vec::new();
    for (name, response) in &cases {
        let extracted = extract_final_candidate(response, Fallback::default());
        for _ in 0..ROUNDS {
            for gt in [r"\frac{1}{2}", extracted.as_str()] {
                let (us, _) = time_one(&grader, response, gt);
                all.push(us);
                worst.push((us, name));
            }
        }
    }
    report(&format!("adversarial ({} inputs)", cases.len()), all);
    worst.sort_by(|a, b| b.0.total_cmp(&a.0));
    worst.dedup_by(|a, b| a.1 == b.1);
    println!("slowest adversarial inputs:");
    for (us, name) in worst.iter().take(5) {
        println!("  {us:>9.1} us  {name}");
    }
}
