//! The real SmolLM2-135M-Instruct GGUF (from `REASONING_ASSETS`): a chat answer, batched
//! greedy and shared-prefill sampling equal to their one-at-a-time runs, scoring equal to a
//! direct computation. Skips with a message when the assets are not available.

mod common;

use std::ops::ControlFlow;

use common::{assert_close, assets, direct_logprobs};
use reasoning_inference::{
    Control, Decoding, LoadedModel, PromptBuilder, SamplingParams, generate, generate_batch,
    sample_stream, sequence_logprobs,
};
use reasoning_model::{DType, Device};

fn smollm2(test: &str) -> Option<LoadedModel> {
    let dir = assets(test)?;
    let path = dir.join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    Some(LoadedModel::load(path.to_str().unwrap(), None, &Device::flex(), DType::F32).unwrap())
}

#[test]
fn smollm2_answers_a_chat_question() {
    let Some(lm) = smollm2("smollm2_answers_a_chat_question") else {
        return;
    };
    assert_eq!(lm.name, "SmolLM2-135M-Instruct.Q4_1");
    let ids = lm
        .tokenizer
        .encode_chat(
            &[reasoning_tokenizer::ChatMessage::user(
                "What is the capital of France?",
            )],
            &reasoning_tokenizer::ChatOptions::generation(),
        )
        .unwrap();
    let config = lm.generation_config(24, Decoding::Greedy);
    let (g, _) = generate(
        &lm.model,
        &ids,
        &config,
        None,
        |_| ControlFlow::Continue(()),
    )
    .unwrap();
    let text = lm.tokenizer.decode(g.content_ids(), false).unwrap();
    assert!(text.contains("Paris"), "{text:?}");
    assert!(g.hit_eos(), "a short answer ends its turn: {text:?}");
}

#[test]
fn smollm2_batched_greedy_and_shared_prefill_sampling_equal_single_runs() {
    let Some(lm) = smollm2("smollm2_batched_greedy_and_shared_prefill_sampling_equal_single_runs")
    else {
        return;
    };
    let builder = PromptBuilder::default();
    let prompts: Vec<Vec<u32>> = ["Compute 1/2 + 1/6.", "What is 12 * 7?", "Solve x + 3 = 10."]
        .iter()
        .map(|q| builder.problem_ids(&lm.tokenizer, q).unwrap())
        .collect();
    let greedy = lm.generation_config(20, Decoding::Greedy);
    let batch = generate_batch(&lm.model, &prompts, 1, &greedy, &mut [], |_| {
        Control::Continue
    })
    .unwrap();
    for (p, prompt) in prompts.iter().enumerate() {
        let (alone, _) = generate(&lm.model, prompt, &greedy, None, |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(batch.generations[p], alone, "prompt {p}");
    }

    let sampled = lm.generation_config(
        20,
        Decoding::Sample(SamplingParams::temperature(0.9).with_top_p(0.9)),
    );
    let mut streams: Vec<_> = (0..4).map(|j| sample_stream(42, 0, j)).collect();
    let shared = generate_batch(&lm.model, &prompts[..1], 4, &sampled, &mut streams, |_| {
        Control::Continue
    })
    .unwrap();
    for j in 0..4 {
        let mut rng = sample_stream(42, 0, j);
        let (alone, _) = generate(&lm.model, &prompts[0], &sampled, Some(&mut rng), |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(shared.generations[j as usize], alone, "sample {j}");
    }
}

#[test]
fn smollm2_sequence_logprobs_match_a_direct_log_softmax() {
    let Some(lm) = smollm2("smollm2_sequence_logprobs_match_a_direct_log_softmax") else {
        return;
    };
    let ids = lm
        .tokenizer
        .encode("The capital of France is Paris.")
        .unwrap();
    let got = sequence_logprobs(&lm.model, &ids).unwrap();
    let want = direct_logprobs(&lm.model, &ids);
    for (t, &w) in want.iter().enumerate() {
        assert_close(got[t] as f64, w, 1e-3, &format!("position {t}"));
    }
    // "Paris" after "The capital of France is" is likely.
    assert!(got[got.len() - 2] > -3.0, "{got:?}");
}
