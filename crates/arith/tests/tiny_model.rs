//! The shipped model (models/tiny-arith) against HF transformers: the fixture written by
//! `python scripts/check_tiny_model.py --write-fixture` holds transformers' prompt ids, greedy
//! ids and logit rows for the first test problems.

use std::path::PathBuf;

use burn::tensor::{Int, Tensor, TensorData};
use reasoning_arith::task::read_jsonl;
use reasoning_distill::sft::{AnswerStyle, chat_prompt_ids};
use reasoning_inference::{Control, GenerationConfig, generate_batch};
use reasoning_model::{DType, Device, Model};
use reasoning_tokenizer::Tokenizer;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn tiny_model_matches_the_transformers_reference() {
    let dir = root().join("models/tiny-arith");
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/tiny_hf_reference.json")).unwrap();
    let tok = Tokenizer::load(&dir).unwrap();
    let device = Device::flex();
    let model = Model::load(&dir, &device, DType::F32).unwrap();
    let test = read_jsonl(&root().join("datasets/arith/test.jsonl")).unwrap();
    let generation = GenerationConfig::greedy(128, tok.eos_token_ids());
    let problems = fixture["problems"].as_array().unwrap();
    assert!(!problems.is_empty());
    for p in problems {
        let id = p["unique_id"].as_str().unwrap();
        let record = test.iter().find(|r| r.unique_id == id).unwrap();
        let want_prompt: Vec<u32> = serde_json::from_value(p["prompt_ids"].clone()).unwrap();
        let want_gen: Vec<u32> = serde_json::from_value(p["generated_ids"].clone()).unwrap();
        let prompt = chat_prompt_ids(&tok, &record.problem, AnswerStyle::Reasoning).unwrap();
        assert_eq!(
            prompt, want_prompt,
            "{id}: prompt ids differ from transformers' chat template"
        );
        let got = generate_batch(
            &model,
            std::slice::from_ref(&prompt),
            1,
            &generation,
            &mut [],
            |_| Control::Continue,
        )
        .unwrap();
        assert_eq!(
            got.generations[0].content_ids(),
            want_gen,
            "{id}: greedy ids differ from transformers"
        );
        let all: Vec<i64> = prompt.iter().chain(&want_gen).map(|&i| i as i64).collect();
        let len = all.len();
        let logits = model.forward(Tensor::<2, Int>::from_data(
            TensorData::new(all, [1, len]),
            &device,
        ));
        let values: Vec<f32> = logits.into_data().try_into_vec().unwrap();
        let v = model.config().vocab_size;
        for (row, want) in p["logit_rows"].as_object().unwrap() {
            let t = prompt.len() - 1 + row.parse::<usize>().unwrap();
            let want: Vec<f32> = serde_json::from_value(want.clone()).unwrap();
            let diff = values[t * v..(t + 1) * v]
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                diff <= 1e-4,
                "{id}: logits at generated position {row} differ by {diff}"
            );
        }
    }
}
