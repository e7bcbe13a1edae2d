//! The real SmolLM2-135M-Instruct GGUF (Q4_1, Q8_0 embedding) against transformers' GGUF loader,
//! which dequantises to the same f32 weights: last-position logits of chat prompts and 40-token
//! greedy continuations. Needs `REASONING_ASSETS`; skips (and passes) without it.

mod common;

use burn::tensor::{Int, Tensor};
use common::{assets, ids, tokens, values};
use reasoning_model::{Config, DType, Device, KvCache, Model};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    prompt: String,
    input_ids: Vec<i64>,
    top_ids: Vec<usize>,
    top_logits: Vec<f32>,
    fixed_ids: Vec<usize>,
    fixed_logits: Vec<f32>,
    greedy_ids: Vec<i64>,
}

#[derive(Deserialize)]
struct ReferenceFile {
    cases: Vec<Case>,
}

/// Largest logit error allowed. Logits reach ~35 and the two sides sum 30 layers of f32
/// products in different orders; the measured worst case is 4e-5 (2026-11-26, this machine).
const TOL: f32 = 5e-4;

#[test]
fn smollm2_gguf_matches_transformers_logits_and_greedy_text() {
    let Some(assets) = assets("smollm2_gguf_matches_transformers_logits_and_greedy_text") else {
        return;
    };
    let path = assets.join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let device = Device::flex();
    let model = Model::load(&path, &device, DType::F32).unwrap();
    let mut expected_config = Config::smollm2_135m();
    // GGUF stores ε as f32 (9.99999974738e-6) and the chat model's eos is <|im_end|> (2).
    expected_config.rms_norm_eps = model.config().rms_norm_eps;
    assert_eq!(model.config(), &expected_config);
    assert!((model.config().rms_norm_eps - 1e-5).abs() < 1e-10);
    assert_eq!(model.num_params(), Config::smollm2_135m().num_parameters());

    let text = std::fs::read_to_string(common::fixture("smollm2_reference.json")).unwrap();
    let reference: ReferenceFile = serde_json::from_str(&text).unwrap();
    let mut worst = 0f32;
    for case in &reference.cases {
        let prompt = tokens(std::slice::from_ref(&case.input_ids), &device);
        let mut cache = KvCache::new(model.config(), 1, 128, &device);
        let mut logits = model.forward_cached(prompt, &mut cache);
        let last = values(logits.clone());
        for (ids, want) in [
            (&case.top_ids, &case.top_logits),
            (&case.fixed_ids, &case.fixed_logits),
        ] {
            for (&id, &w) in ids.iter().zip(want.iter()) {
                let diff = (last[id] - w).abs();
                worst = worst.max(diff);
                assert!(
                    diff < TOL,
                    "{:?}: logit of token {id} is {}, transformers {w}",
                    case.prompt,
                    last[id]
                );
            }
        }
        let mut generated = Vec::new();
        for _ in 0..case.greedy_ids.len() {
            let next: Tensor<2, Int> = logits.argmax(1);
            generated.extend(ids(next.clone()));
            logits = model.forward_cached(next, &mut cache);
        }
        assert_eq!(generated, case.greedy_ids, "{:?}", case.prompt);
    }
    println!("SmolLM2: largest |Δlogit| against transformers: {worst:.2e}");
}
