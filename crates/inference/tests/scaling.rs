//! Loading, prompts, and the chapter 4-5 strategies on the tiny model with the byte tokenizer.

mod common;

use common::{F32, IM_END, IM_START, TOKENIZER_VOCAB, tiny_lm, tiny_model, tokenizer_dir};
use reasoning_inference::eval::{RecordLog, evaluate};
use reasoning_inference::{
    Decoding, EvalRecord, GenerationConfig, InferenceError, LoadedModel, PromptBuilder,
    PromptFormat, PromptStyle, SamplingParams, Scorer, SelfConsistencyConfig, SelfRefineConfig,
    VoteRule, best_of_n, greedy_batch, sample_responses, sample_stream, score_responses,
    self_consistency, self_consistency_batch, self_refine, self_refine_batch,
};
use reasoning_model::{DType, Device};
use reasoning_tokenizer::Tokenizer;
use reasoning_verifier::datasets::Record;

fn sampling(max_new: usize, params: SamplingParams) -> GenerationConfig {
    GenerationConfig::greedy(max_new, &[IM_END])
        .with_decoding(Decoding::Sample(params))
        .with_vocab_limit(TOKENIZER_VOCAB)
}

/// The default (book) prompt for `question`, as ids.
fn problem_prompt(lm: &LoadedModel, question: &str) -> Vec<u32> {
    PromptBuilder::default()
        .problem_ids(&lm.tokenizer, question)
        .unwrap()
}

fn streams(problem: u64, n: u64) -> Vec<rand_chacha::ChaCha8Rng> {
    (0..n).map(|j| sample_stream(7, problem, j)).collect()
}

#[test]
fn a_saved_folder_loads_with_its_tokenizer_and_name() {
    let (tmp, tok_dir) = tokenizer_dir();
    let dir = tmp.path().join("my-model");
    let model = tiny_model(31);
    model.save_hf(&dir, DType::F32).unwrap();
    for file in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(tok_dir.join(file), dir.join(file)).unwrap();
    }
    let lm = LoadedModel::load(dir.to_str().unwrap(), None, &Device::flex(), F32).unwrap();
    assert_eq!(lm.name, "my-model");
    assert_eq!(lm.tokenizer.vocab_size(), TOKENIZER_VOCAB);
    assert_eq!(lm.stop_ids(), vec![IM_END]);
    let ids = [40u32, 50, 60];
    assert_eq!(
        common::full_logits(&lm.model, &ids),
        common::full_logits(&model, &ids),
        "the loaded weights are the saved ones"
    );
}

#[test]
fn a_tokenizer_larger_than_the_model_is_refused() {
    let (_tmp, dir) = tokenizer_dir();
    let mut config = common::tiny_config();
    config.vocab_size = 100;
    let model = reasoning_model::Model::init(&config, &Device::flex(), 1);
    let err =
        LoadedModel::assemble(model, Tokenizer::load(&dir).unwrap(), "small".into()).unwrap_err();
    assert!(matches!(err, InferenceError::VocabMismatch { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("261 ids, more than the model's 100"),
        "{err}"
    );
}

#[test]
fn a_missing_model_is_an_error_naming_the_path() {
    let err = LoadedModel::load("/no/such/model-folder.gguf", None, &Device::flex(), F32)
        .unwrap_err()
        .to_string();
    assert!(err.contains("/no/such/model-folder.gguf"), "{err}");
}

#[test]
fn prompts_use_the_chat_template_when_there_is_one() {
    let lm = tiny_lm(32);
    let chat = problem_prompt(&lm, "1+1?");
    assert_eq!(chat[0], IM_START);
    let text = lm.tokenizer.decode(&chat, false).unwrap();
    assert!(text.starts_with("<|im_start|>user\nYou are a helpful math assistant."));
    assert!(
        text.ends_with("Answer:<|im_end|>\n<|im_start|>assistant\n"),
        "{text:?}"
    );

    let direct = PromptBuilder {
        thinking: Some(false),
        ..Default::default()
    };
    let text = lm
        .tokenizer
        .decode(&direct.problem_ids(&lm.tokenizer, "1+1?").unwrap(), false)
        .unwrap();
    assert!(
        text.ends_with("<|im_start|>assistant\n<think>\n\n</think>\n\n"),
        "{text:?}"
    );

    let raw = PromptBuilder {
        style: PromptStyle::Cot,
        format: PromptFormat::Raw,
        ..Default::default()
    };
    let text = lm
        .tokenizer
        .decode(&raw.problem_ids(&lm.tokenizer, "1+1?").unwrap(), false)
        .unwrap();
    assert!(text.starts_with("You are a helpful math assistant."));
    assert!(text.ends_with("Answer:\n\nExplain step by step."));
}

#[test]
fn batched_self_consistency_equals_the_sequential_loop() {
    let lm = tiny_lm(33);
    let prompt = problem_prompt(&lm, "2*3?");
    let config = SelfConsistencyConfig {
        num_samples: 5,
        generation: sampling(12, SamplingParams::temperature(1.0).with_top_p(0.9)),
        early_stop: false,
        batched: true,
        rule: VoteRule::Majority,
    };
    let batched = self_consistency(&lm, &prompt, &config, &mut streams(1, 5)).unwrap();
    let sequential = self_consistency(
        &lm,
        &prompt,
        &SelfConsistencyConfig {
            batched: false,
            ..config.clone()
        },
        &mut streams(1, 5),
    )
    .unwrap();
    assert_eq!(batched, sequential);
    assert_eq!(batched.samples.len(), 5);
    assert_eq!(batched.vote.total(), 5);
    assert_eq!(batched.tokens(), 5 * 12);
}

#[test]
fn early_stop_ends_the_vote_once_a_majority_is_certain() {
    let lm = tiny_lm(34);
    let prompt = problem_prompt(&lm, "5-1?");
    // top-k 1 makes every sample the greedy answer: three identical votes decide five.
    let config = SelfConsistencyConfig {
        num_samples: 5,
        generation: sampling(6, SamplingParams::temperature(1.0).with_top_k(1)),
        early_stop: true,
        batched: false,
        rule: VoteRule::Majority,
    };
    let result = self_consistency(&lm, &prompt, &config, &mut streams(2, 5)).unwrap();
    assert_eq!(result.samples.len(), 3);
    assert_eq!(result.vote.groups.len(), 1);
    assert_eq!(result.answer(), result.samples[0].extracted);
    assert_eq!(result.winning_text(), result.samples[0].text);
}

#[test]
fn best_of_n_keeps_the_highest_scoring_sample() {
    let lm = tiny_lm(35);
    let prompt = problem_prompt(&lm, "9/3?");
    let generation = sampling(10, SamplingParams::temperature(1.0));
    for scorer in [Scorer::Heuristic, Scorer::Logprob, Scorer::AvgLogprob] {
        let result = best_of_n(&lm, &prompt, &generation, scorer, &mut streams(3, 4)).unwrap();
        assert_eq!(result.samples.len(), 4);
        let top = result
            .scores
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(result.scores[result.best], top, "{scorer:?}");
        assert!(
            result.scores[..result.best].iter().all(|&s| s < top),
            "first best wins"
        );
    }
    // The log-probability scorers score what was generated: sum = mean · length.
    let sum = best_of_n(
        &lm,
        &prompt,
        &generation,
        Scorer::Logprob,
        &mut streams(3, 4),
    )
    .unwrap();
    let avg = best_of_n(
        &lm,
        &prompt,
        &generation,
        Scorer::AvgLogprob,
        &mut streams(3, 4),
    )
    .unwrap();
    for (i, s) in sum.samples.iter().enumerate() {
        let len = s.generation.content_ids().len() as f64;
        common::assert_close(sum.scores[i], avg.scores[i] * len, 1e-6, "sum vs mean");
    }
}

#[test]
fn self_refinement_records_each_round_and_keeps_revisions_that_are_not_worse() {
    let lm = tiny_lm(36);
    let config = SelfRefineConfig {
        iterations: 2,
        response: sampling(8, SamplingParams::temperature(0.7).with_top_p(0.9)),
        max_critique_tokens: 5,
        scorer: None,
    };
    let mut rng = sample_stream(1, 0, 0);
    let result = self_refine(&lm, &PromptBuilder::default(), "1+2?", &config, &mut rng).unwrap();
    assert_eq!(result.steps.len(), 2);
    assert!(
        result.steps.iter().all(|s| s.accepted),
        "no scorer keeps every revision"
    );
    assert_eq!(result.final_full, result.steps[1].revised_full);
    assert_eq!(result.steps[1].draft_full, result.steps[0].revised_full);
    // A draft, two critiques and two revisions, each within its cap (EOS may end one early).
    assert!(
        result.tokens <= 8 + 2 * (5 + 8) && result.tokens >= 5,
        "{}",
        result.tokens
    );

    let scored = SelfRefineConfig {
        scorer: Some(Scorer::Heuristic),
        ..config
    };
    let mut rng = sample_stream(1, 0, 0);
    let result = self_refine(&lm, &PromptBuilder::default(), "1+2?", &scored, &mut rng).unwrap();
    for step in &result.steps {
        assert_eq!(step.accepted, step.score_after >= step.score_before);
    }
}

#[test]
fn batched_evaluation_gives_the_same_records_as_unbatched() {
    let lm = tiny_lm(37);
    let problems: Vec<Record> = (0..5)
        .map(|i| Record {
            problem: format!("What is {i} + {}?", i * 3),
            answer: (4 * i).to_string(),
            solution: None,
            level: None,
            subject: None,
            unique_id: None,
        })
        .collect();
    let builder = PromptBuilder::default();
    let config = lm.generation_config(10, Decoding::Greedy);
    let run = |batch: usize| {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, resumed) = RecordLog::open(&dir.path().join("r.jsonl")).unwrap();
        evaluate(
            &problems,
            &mut log,
            resumed,
            batch,
            |items| {
                let prompts: Vec<Vec<u32>> = items
                    .iter()
                    .map(|(_, p)| builder.problem_ids(&lm.tokenizer, &p.problem).unwrap())
                    .collect();
                let responses = greedy_batch(&lm, &prompts, &config)?;
                Ok(items
                    .iter()
                    .zip(responses)
                    .map(|((i, p), r)| EvalRecord::graded(*i, p, r.text, r.extracted, 10))
                    .collect())
            },
            |_| {},
        )
        .unwrap()
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn several_problems_in_one_batch_vote_as_they_would_alone() {
    let lm = tiny_lm(38);
    let builder = PromptBuilder::default();
    let prompts: Vec<Vec<u32>> = ["1+1?", "20-3?", "7*7?"]
        .iter()
        .map(|q| builder.problem_ids(&lm.tokenizer, q).unwrap())
        .collect();
    let config = SelfConsistencyConfig {
        num_samples: 3,
        generation: sampling(10, SamplingParams::temperature(0.9).with_top_p(0.9)),
        early_stop: false,
        batched: true,
        rule: VoteRule::Majority,
    };
    let mut all: Vec<_> = (0..3).flat_map(|p| streams(p, 3)).collect();
    let together = self_consistency_batch(&lm, &prompts, &config, &mut all).unwrap();
    for (p, prompt) in prompts.iter().enumerate() {
        let alone = self_consistency(&lm, prompt, &config, &mut streams(p as u64, 3)).unwrap();
        assert_eq!(together[p], alone, "problem {p}");
    }
    let err = self_consistency_batch(&lm, &prompts, &config, &mut streams(0, 3)).unwrap_err();
    assert!(
        err.to_string().contains("needs 9 random streams, got 3"),
        "{err}"
    );
}

#[test]
fn confidence_rules_weigh_each_voter_by_its_mean_token_probability() {
    let lm = tiny_lm(40);
    let prompt = problem_prompt(&lm, "9+4?");
    // Two new tokens from a random model: few distinct answers, so groups and ties form.
    let vote = |rule| {
        let config = SelfConsistencyConfig {
            num_samples: 6,
            generation: sampling(2, SamplingParams::temperature(1.0).with_top_k(3)),
            early_stop: false,
            batched: true,
            rule,
        };
        self_consistency(&lm, &prompt, &config, &mut streams(5, 6)).unwrap()
    };
    let majority = vote(VoteRule::Majority);
    assert!(majority.confidences.is_empty());
    let weighted = vote(VoteRule::LogprobWeighted);
    assert_eq!(
        weighted.samples, majority.samples,
        "the rule changes no sample"
    );
    let scores = score_responses(&lm, &prompt, &weighted.samples, Scorer::AvgLogprob).unwrap();
    let expected: Vec<f64> = scores.iter().map(|s| s.exp()).collect();
    assert_eq!(weighted.confidences, expected);
    let sum = |g: usize| -> f64 {
        weighted.vote.groups[g]
            .members
            .iter()
            .map(|&i| expected[i])
            .sum()
    };
    let winner = weighted.vote.winners[0];
    for g in 0..weighted.vote.groups.len() {
        assert!(sum(winner) >= sum(g), "group {g} outweighs the winner");
    }
    let tie_break = vote(VoteRule::LogprobTieBreak);
    if majority.vote.winners.len() > 1 {
        assert_eq!(tie_break.confidences, expected);
        assert!(majority.vote.winners.contains(&tie_break.vote.winners[0]));
    } else {
        assert!(tie_break.confidences.is_empty());
        assert_eq!(tie_break.vote, majority.vote);
    }
    // The book's tie-break: the tied group holding the best heuristic score of any member.
    let heuristic = vote(VoteRule::HeuristicTieBreak);
    assert!(heuristic.confidences.is_empty());
    assert_eq!(heuristic.samples, majority.samples);
    let voting: Vec<_> = heuristic
        .voters
        .iter()
        .map(|&i| heuristic.samples[i].clone())
        .collect();
    let scores = score_responses(&lm, &prompt, &voting, Scorer::Heuristic).unwrap();
    let expected =
        reasoning_inference::vote::break_ties_by_best_member(majority.vote.clone(), &scores);
    assert_eq!(heuristic.vote, expected);
    assert_eq!(heuristic.vote.winners.len(), 1);
}

#[test]
fn rollouts_come_prompt_major_with_text_answer_and_finish() {
    let lm = tiny_lm(39);
    let builder = PromptBuilder::default();
    let prompts: Vec<Vec<u32>> = ["3+4?", "8-2?"]
        .iter()
        .map(|q| builder.problem_ids(&lm.tokenizer, q).unwrap())
        .collect();
    let config = sampling(6, SamplingParams::temperature(1.0));
    let mut all: Vec<_> = (0..2).flat_map(|p| streams(p, 3)).collect();
    let rollouts = sample_responses(&lm, &prompts, 3, &config, &mut all).unwrap();
    assert_eq!(rollouts.len(), 6);
    for r in &rollouts {
        assert_eq!(
            r.text,
            lm.tokenizer
                .decode(r.generation.content_ids(), false)
                .unwrap()
        );
        assert!(r.generation.ids.len() <= 6);
        assert_eq!(
            r.generation.hit_eos(),
            r.generation.ids.last() == Some(&IM_END)
        );
    }
}

#[test]
fn batched_self_refinement_equals_refining_each_question_alone() {
    let lm = tiny_lm(40);
    let builder = PromptBuilder::default();
    let questions = ["1+2?", "What is 30 / 6?", "4*4?"];
    let config = SelfRefineConfig {
        iterations: 2,
        response: sampling(7, SamplingParams::temperature(0.7).with_top_p(0.9)),
        max_critique_tokens: 4,
        scorer: Some(Scorer::AvgLogprob),
    };
    let mut rngs: Vec<_> = (0..3).map(|q| sample_stream(9, q, 0)).collect();
    let together = self_refine_batch(&lm, &builder, &questions, &config, &mut rngs).unwrap();
    for (q, question) in questions.iter().enumerate() {
        let mut rng = sample_stream(9, q as u64, 0);
        let alone = self_refine(&lm, &builder, question, &config, &mut rng).unwrap();
        assert_eq!(together[q], alone, "question {q}");
        assert_eq!(rngs[q], rng, "question {q} consumed the same numbers");
    }
}

#[test]
fn logprob_extract_scores_only_the_final_answer() {
    let lm = tiny_lm(91);
    let prompt: Vec<u32> = lm.tokenizer.encode("Question: 5+7?").unwrap();
    let responses: Vec<reasoning_inference::scaling::Response> =
        ["so \\boxed{12} done", "it is 7 or 8", "no idea"]
            .iter()
            .map(|t| {
                let generation = reasoning_inference::Generation {
                    ids: lm.tokenizer.encode(t).unwrap(),
                    finish: reasoning_inference::FinishReason::Length,
                };
                reasoning_inference::scaling::Response::read(&lm, generation).unwrap()
            })
            .collect();
    let scores = score_responses(&lm, &prompt, &responses, Scorer::LogprobExtract).unwrap();
    let answers: Vec<Vec<u32>> = ["\n\\boxed{12}", "\n\\boxed{8}"]
        .iter()
        .map(|a| lm.tokenizer.encode(a).unwrap())
        .collect();
    let want = reasoning_inference::score_continuations(&lm.model, &prompt, &answers).unwrap();
    assert_eq!(scores[0], want[0].mean().unwrap());
    assert_eq!(scores[1], want[1].mean().unwrap(), "the last number, boxed");
    assert_eq!(scores[2], f64::NEG_INFINITY);
}
