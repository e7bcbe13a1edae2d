//! MMLU on the real SmolLM2-135M-Instruct GGUF against HF transformers' answers to the same
//! questions from the same file (`scripts/make_mmlu_reference.py`, committed as
//! `tests/fixtures/mmlu_smollm2_reference.json`): the three methods give the same letter for
//! every question checked, with the same prompt token counts and scores within rounding.
//!
//! By default the first 24 questions of each reference subject are checked; with
//! `MMLU_REFERENCE_ALL=1` every question of the fixture is. Needs `REASONING_ASSETS`; skips
//! with a message without it.

use std::ops::ControlFlow;
use std::path::PathBuf;

use reasoning_eval::mmlu::{self, Method, Mmlu, MmluConfig, MmluError, MmluRecord};
use reasoning_inference::LoadedModel;
use reasoning_model::{DType, Device};
use serde_json::Value;

const PER_SUBJECT: usize = 24;

/// Largest difference allowed between our f32 scores and the reference's (f32 forward,
/// log-softmax in f64).
const SCORE_TOLERANCE: f64 = 2e-3;

fn reference() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mmlu_smollm2_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn run(
    lm: &LoadedModel,
    questions: &[mmlu::Question],
    indices: &[usize],
    method: Method,
) -> Vec<MmluRecord> {
    let items: Vec<(usize, &mmlu::Question)> =
        indices.iter().map(|&i| (i, &questions[i])).collect();
    let config = MmluConfig {
        method,
        ..MmluConfig::default()
    };
    mmlu::evaluate(&Mmlu::new(lm, config), &items, 8, |_| {
        Ok::<_, MmluError>(ControlFlow::Continue(()))
    })
    .unwrap()
}

#[test]
fn smollm2_answers_mmlu_as_transformers_does() {
    let Some(assets) = std::env::var_os("REASONING_ASSETS").map(PathBuf::from) else {
        println!("smollm2_answers_mmlu_as_transformers_does: skipped, REASONING_ASSETS is not set");
        return;
    };
    let all = std::env::var("MMLU_REFERENCE_ALL").is_ok_and(|v| v == "1");
    let questions = mmlu::read_questions(&assets.join("datasets/mmlu_test.jsonl")).unwrap();
    let model = assets.join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let lm = LoadedModel::load(model.to_str().unwrap(), None, &Device::flex(), DType::F32).unwrap();
    let reference = reference();
    let mut wanted: Vec<&Value> = Vec::new();
    for subject in reference["subjects"].as_array().unwrap() {
        let of_subject = reference["questions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|q| q["subject"] == *subject);
        wanted.extend(of_subject.take(if all { usize::MAX } else { PER_SUBJECT }));
    }
    wanted.sort_by_key(|q| q["index"].as_u64());
    let indices: Vec<usize> = wanted
        .iter()
        .map(|q| q["index"].as_u64().unwrap() as usize)
        .collect();
    for (method, key) in [
        (Method::Logprob, "logprob"),
        (Method::TeacherForcing, "teacher_forcing"),
        (Method::Letter, "letter"),
    ] {
        let ours = run(&lm, &questions, &indices, method);
        assert_eq!(ours.len(), wanted.len());
        let mut worst: f64 = 0.0;
        for (r, want) in ours.iter().zip(&wanted) {
            let at = format!("{method}, question {}", r.index);
            assert_eq!(r.index as u64, want["index"].as_u64().unwrap(), "{at}");
            assert_eq!(r.gold.to_string(), want["gold"].as_str().unwrap(), "{at}");
            assert_eq!(
                r.prompt_tokens as u64,
                want["prompt_tokens"].as_u64().unwrap(),
                "{at}"
            );
            let pred = r.pred.map(|c| c.to_string());
            assert_eq!(
                pred.as_deref(),
                want[format!("{key}_pred")].as_str(),
                "{at}: predicted letter"
            );
            if let Some(scores) = r.scores {
                let expected = want[format!("{key}_scores")].as_array().unwrap();
                for (s, e) in scores.iter().zip(expected) {
                    worst = worst.max((s - e.as_f64().unwrap()).abs());
                }
            }
        }
        assert!(
            worst < SCORE_TOLERANCE,
            "{method}: a score is {worst} from the reference"
        );
        println!(
            "{method}: {} questions agree, largest score difference {worst:.2e}",
            ours.len()
        );
    }
}
