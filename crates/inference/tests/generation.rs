//! Generation with the KV cache on the tiny model: equal to the book's uncached loop, batched
//! equal to unbatched, shared prefill equal to independent samples, seeded and reproducible,
//! stopping rules, errors.

mod common;

use std::ops::ControlFlow;

use common::{IM_END, naive_greedy, prompts, tiny_model};
use reasoning_inference::{
    Control, Decoding, Event, FinishReason, GenerationConfig, InferenceError, SamplingParams,
    generate, generate_batch, sample_stream,
};
use reasoning_model::Model;

fn greedy(max_new: usize, stop: &[u32]) -> GenerationConfig {
    GenerationConfig::greedy(max_new, stop)
}

fn sampled(max_new: usize, params: SamplingParams) -> GenerationConfig {
    GenerationConfig::greedy(max_new, &[]).with_decoding(Decoding::Sample(params))
}

fn one(model: &Model, prompt: &[u32], config: &GenerationConfig) -> Vec<u32> {
    generate(model, prompt, config, None, |_| ControlFlow::Continue(()))
        .unwrap()
        .0
        .ids
}

#[test]
fn cached_greedy_generation_equals_the_books_uncached_loop() {
    let model = tiny_model(1);
    for prompt in prompts(3) {
        let cached = one(&model, &prompt, &greedy(12, &[]));
        assert_eq!(cached, naive_greedy(&model, &prompt, 12, &[]));
    }
}

#[test]
fn generation_stops_at_a_stop_id_and_keeps_it_last() {
    let model = tiny_model(2);
    let prompt = &prompts(1)[0];
    let free = one(&model, prompt, &greedy(10, &[]));
    // Declare the fourth generated id a stop id: generation must end right there.
    let stop = free[3];
    let first = free.iter().position(|&t| t == stop).unwrap();
    let (g, _) = generate(&model, prompt, &greedy(10, &[stop]), None, |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(g.finish, FinishReason::Eos);
    assert_eq!(g.ids, free[..=first]);
    assert_eq!(g.content_ids(), &free[..first]);
    assert!(g.hit_eos());
}

#[test]
fn generation_stops_at_max_new_tokens() {
    let model = tiny_model(2);
    let (g, stats) = generate(&model, &prompts(1)[0], &greedy(7, &[]), None, |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(g.ids.len(), 7);
    assert_eq!(g.finish, FinishReason::Length);
    assert_eq!(stats.generated_tokens, 7);
    assert_eq!(stats.prompt_tokens, 3);
}

#[test]
fn max_new_tokens_is_lowered_to_fit_the_context() {
    let model = tiny_model(3);
    let context = model.config().max_position_embeddings;
    let prompt: Vec<u32> = (0..context as u32 - 5).map(|i| i % 200 + 10).collect();
    let ids = one(&model, &prompt, &greedy(100, &[]));
    assert_eq!(ids.len(), 5);
}

#[test]
fn streaming_sees_every_id_in_order_and_can_stop() {
    let model = tiny_model(4);
    let prompt = &prompts(1)[0];
    let mut seen = Vec::new();
    let (g, _) = generate(&model, prompt, &greedy(9, &[]), None, |id| {
        seen.push(id);
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(seen, g.ids);
    let mut count = 0;
    let (g, _) = generate(&model, prompt, &greedy(9, &[]), None, |_| {
        count += 1;
        if count == 4 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap();
    assert_eq!(g.ids.len(), 4);
    assert_eq!(g.finish, FinishReason::Stopped);
}

#[test]
fn batched_greedy_output_equals_unbatched_output() {
    let model = tiny_model(5);
    let prompts = prompts(4);
    // Stop ids taken from the unbatched outputs make rows finish at different steps, so
    // finished rows are dropped from the cache while others continue.
    let free: Vec<Vec<u32>> = prompts
        .iter()
        .map(|p| one(&model, p, &greedy(16, &[])))
        .collect();
    let stop = vec![free[0][2], free[2][9]];
    let config = greedy(16, &stop);
    let alone: Vec<Vec<u32>> = prompts.iter().map(|p| one(&model, p, &config)).collect();
    let batch =
        generate_batch(&model, &prompts, 1, &config, &mut [], |_| Control::Continue).unwrap();
    let batched: Vec<Vec<u32>> = batch.generations.iter().map(|g| g.ids.clone()).collect();
    assert_eq!(batched, alone);
    let lengths: Vec<usize> = batched.iter().map(Vec::len).collect();
    assert!(
        lengths.iter().any(|&l| l < 16) && lengths.contains(&16),
        "rows should finish at different steps: {lengths:?}"
    );
}

#[test]
fn seeded_sampling_is_reproducible_and_seeds_matter() {
    let model = tiny_model(6);
    let prompt = &prompts(1)[0];
    let config = sampled(20, SamplingParams::temperature(1.0).with_top_p(0.9));
    let run = |seed| {
        let mut rng = sample_stream(seed, 0, 0);
        generate(&model, prompt, &config, Some(&mut rng), |_| {
            ControlFlow::Continue(())
        })
        .unwrap()
        .0
        .ids
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11), run(12));
}

#[test]
fn sampling_without_a_stream_is_an_error() {
    let model = tiny_model(6);
    let config = sampled(5, SamplingParams::temperature(1.0));
    let err = generate(
        &model,
        &[5, 6],
        &config,
        None,
        |_| ControlFlow::Continue(()),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            InferenceError::StreamCount {
                rows: 1,
                streams: 0
            }
        ),
        "{err}"
    );
}

#[test]
fn shared_prefill_samples_equal_independent_samples_with_the_same_streams() {
    let model = tiny_model(7);
    let prompt = prompts(2)[1].clone();
    let config = sampled(24, SamplingParams::temperature(0.9).with_top_p(0.95));
    let n = 6;
    let mut streams: Vec<_> = (0..n).map(|j| sample_stream(42, 3, j)).collect();
    let shared = generate_batch(
        &model,
        std::slice::from_ref(&prompt),
        n as usize,
        &config,
        &mut streams,
        |_| Control::Continue,
    )
    .unwrap();
    for j in 0..n {
        let mut rng = sample_stream(42, 3, j);
        let (alone, _) = generate(&model, &prompt, &config, Some(&mut rng), |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(shared.generations[j as usize], alone, "sample {j}");
    }
    let distinct: std::collections::BTreeSet<_> =
        shared.generations.iter().map(|g| g.ids.clone()).collect();
    assert!(
        distinct.len() > 1,
        "samples of different streams should differ"
    );
}

#[test]
fn several_prompts_with_several_samples_each_equal_their_runs_alone() {
    let model = tiny_model(8);
    let prompts = prompts(3);
    let config = sampled(
        10,
        SamplingParams::temperature(1.0)
            .with_top_k(20)
            .with_min_p(0.05),
    );
    let n = 2;
    let mut streams: Vec<_> = (0..prompts.len() * n)
        .map(|r| sample_stream(5, (r / n) as u64, (r % n) as u64))
        .collect();
    let batch = generate_batch(&model, &prompts, n, &config, &mut streams, |_| {
        Control::Continue
    })
    .unwrap();
    for (row, g) in batch.generations.iter().enumerate() {
        let mut rng = sample_stream(5, (row / n) as u64, (row % n) as u64);
        let (alone, _) = generate(&model, &prompts[row / n], &config, Some(&mut rng), |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(*g, alone, "row {row}");
    }
}

#[test]
fn stopping_one_prompt_leaves_the_other_prompts_running() {
    let model = tiny_model(9);
    let prompts = prompts(2);
    let mut events = 0;
    let out = generate_batch(&model, &prompts, 2, &greedy(8, &[]), &mut [], |event| {
        if let Event::Token { row: 0, .. } = event {
            events += 1;
            if events == 3 {
                return Control::StopPrompt;
            }
        }
        Control::Continue
    })
    .unwrap();
    let finishes: Vec<FinishReason> = out.generations.iter().map(|g| g.finish).collect();
    assert_eq!(
        finishes,
        [
            FinishReason::Stopped,
            FinishReason::Stopped,
            FinishReason::Length,
            FinishReason::Length
        ]
    );
    assert_eq!(out.generations[0].ids.len(), 3);
    assert_eq!(out.generations[2].ids.len(), 8);
}

#[test]
fn bad_prompts_are_refused_with_their_index() {
    let model = tiny_model(10);
    let config = greedy(4, &[IM_END]);
    let run = |prompts: &[Vec<u32>]| {
        generate_batch(&model, prompts, 1, &config, &mut [], |_| Control::Continue).unwrap_err()
    };
    let err = run(&[vec![1, 2], vec![]]);
    assert!(
        matches!(err, InferenceError::EmptyPrompt { index: 1 }),
        "{err}"
    );
    let err = run(&[vec![1, 9999]]);
    assert!(
        err.to_string().contains("prompt 0 holds token id 9999"),
        "{err}"
    );
    let err = run(&[vec![1; 1100]]);
    assert!(
        err.to_string().contains("prompt 0 has 1100 tokens"),
        "{err}"
    );
}

#[test]
fn greedy_batches_ignore_streams_and_report_prefill_and_decode_rates() {
    let model = tiny_model(11);
    let out = generate_batch(&model, &prompts(2), 1, &greedy(5, &[]), &mut [], |_| {
        Control::Continue
    })
    .unwrap();
    let stats = out.stats;
    assert_eq!(stats.prompt_tokens, 3 + 8);
    assert_eq!(stats.generated_tokens, 10);
    assert!(stats.prefill_tokens_per_s() > 0.0 && stats.decode_tokens_per_s(2) > 0.0);
}

#[test]
fn ids_past_the_vocab_limit_are_never_chosen() {
    let model = tiny_model(12);
    let prompt = &prompts(1)[0];
    let greedy_ids = one(&model, prompt, &greedy(12, &[]).with_vocab_limit(30));
    assert!(greedy_ids.iter().all(|&id| id < 30), "{greedy_ids:?}");
    let config = sampled(30, SamplingParams::temperature(1.0)).with_vocab_limit(30);
    let mut rng = sample_stream(1, 0, 0);
    let (g, _) = generate(&model, prompt, &config, Some(&mut rng), |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    assert!(g.ids.iter().all(|&id| id < 30), "{:?}", g.ids);
}

#[test]
fn generation_without_the_cache_gives_the_cached_greedy_ids() {
    let model = tiny_model(77);
    let prompts: Vec<Vec<u32>> = vec![vec![40, 41, 42, 43, 44], vec![7, 8, 9, 10, 11]];
    let stop = [100u32];
    let cached = reasoning_inference::generate_batch(
        &model,
        &prompts,
        1,
        &GenerationConfig::greedy(12, &stop),
        &mut [],
        |_| reasoning_inference::Control::Continue,
    )
    .unwrap();
    let uncached = reasoning_inference::generate_uncached(&model, &prompts, 12, &stop).unwrap();
    assert_eq!(uncached.generations, cached.generations);
    assert_eq!(uncached.stats.prompt_tokens, 10);
    let err = reasoning_inference::generate_uncached(&model, &[vec![1, 2], vec![3]], 4, &stop)
        .unwrap_err()
        .to_string();
    assert!(err.contains("one length"), "{err}");
}
