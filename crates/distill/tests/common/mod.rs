//! What the SFT and distillation tests train on: a small chat tokenizer (the embedded model's,
//! read from `models/tiny-arith`: ChatML turns, `<think>` tokens, 512 ids), a 2-layer Qwen3 of
//! width 32 with seeded weights, and made-up addition problems. The trainer knows no task, so
//! any examples do.
#![allow(dead_code)]

use std::path::PathBuf;

use reasoning_distill::data::DistillRecord;
use reasoning_distill::sft::{AnswerStyle, SftExample, build_example, turn_end_id};
use reasoning_model::{Config, Device, Model};
use reasoning_tokenizer::Tokenizer;

/// The folder of the embedded model, whose tokenizer and config the tests borrow.
pub fn model_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/tiny-arith")
}

/// The embedded model's tokenizer.
pub fn tokenizer() -> Tokenizer {
    Tokenizer::load(model_dir()).unwrap()
}

/// The tokenizer's files, copied into every checkpoint by a run.
pub fn tokenizer_files() -> Vec<PathBuf> {
    [
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    ]
    .map(|f| model_dir().join(f))
    .to_vec()
}

/// The embedded model's configuration shrunk to 2 layers of width 32, with seeded weights.
pub fn tiny_model(device: &Device, seed: u64) -> Model {
    let config = Config::from_json_file(model_dir().join("config.json")).unwrap();
    Model::init(&config.shrunk(32, 48, 8), device, seed)
}

/// Problem `i`: `a + b` (every third one `a + b + c`, so lengths vary), with its worked steps
/// and answer.
pub fn sum_problem(i: usize) -> (String, String, String) {
    let (a, b, c) = (i % 17 + 2, (i * 7) % 13 + 1, i % 5 + 1);
    if i.is_multiple_of(3) {
        let ab = a + b;
        (
            format!("What is {a} + {b} + {c}?"),
            format!("{a} + {b} = {ab}\n{ab} + {c} = {}", ab + c),
            (ab + c).to_string(),
        )
    } else {
        (
            format!("What is {a} + {b}?"),
            format!("{a} + {b} = {}", a + b),
            (a + b).to_string(),
        )
    }
}

/// `n` chapter-8 records of [`sum_problem`]s with their reasoning and boxed answer.
pub fn records(n: usize) -> Vec<DistillRecord> {
    (0..n)
        .map(|i| {
            let (problem, steps, answer) = sum_problem(i);
            DistillRecord {
                problem,
                gtruth_answer: answer.clone(),
                message_thinking: steps,
                message_content: format!("\\boxed{{{answer}}}"),
            }
        })
        .collect()
}

/// `n` SFT examples of [`sum_problem`]s starting at `first`, alternating the reasoning style
/// (steps in a think block, then the boxed answer) and the direct style (the boxed answer).
pub fn examples(tok: &Tokenizer, first: usize, n: usize) -> Vec<SftExample> {
    let eos = turn_end_id(tok).unwrap();
    (first..first + n)
        .map(|i| {
            let (problem, steps, answer) = sum_problem(i);
            let (style, target) = if i % 2 == 0 {
                (
                    AnswerStyle::Reasoning,
                    format!("<think>\n{steps}\n</think>\n\n\\boxed{{{answer}}}"),
                )
            } else {
                (AnswerStyle::Direct, format!("\\boxed{{{answer}}}"))
            };
            build_example(tok, &problem, &target, style, eos).unwrap()
        })
        .collect()
}
