//! Scores a model on one MMLU subject with each of the book's three methods and the random
//! baseline, and prints the accuracies side by side.
//!
//! ```text
//! cargo run --release -p reasoning-eval --example mmlu -- \
//!     ../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf ../shared/datasets/mmlu_test.jsonl astronomy
//! ```

use std::ops::ControlFlow;
use std::path::Path;

use reasoning_eval::mmlu::{self, Method, Mmlu, MmluConfig, MmluError};
use reasoning_inference::LoadedModel;
use reasoning_model::{DType, Device};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, data, subject] = args.as_slice() else {
        return Err("usage: mmlu MODEL DATA.jsonl SUBJECT".into());
    };
    let lm = LoadedModel::load(model, None, &Device::flex(), DType::F32)?;
    let questions = mmlu::read_questions(Path::new(data))?;
    let items = mmlu::select(&questions, Some(std::slice::from_ref(subject)))?;
    println!("{} questions of {subject}, model {}", items.len(), lm.name);
    for method in Method::ALL {
        let config = MmluConfig {
            method,
            ..MmluConfig::default()
        };
        let started = std::time::Instant::now();
        let records = mmlu::evaluate(&Mmlu::new(&lm, config), &items, 8, |_| {
            Ok::<_, MmluError>(ControlFlow::Continue(()))
        })?;
        let summary = mmlu::summarize(&records);
        println!(
            "{:<16} {:>6.1}%  ({} correct, {:.1} s)",
            method.name(),
            100.0 * summary.accuracy,
            summary.correct,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
