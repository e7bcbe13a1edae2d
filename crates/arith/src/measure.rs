//! Measuring a model on the arithmetic task: greedy accuracy, sampled accuracy,
//! self-consistency (majority vote) and pass@k, the table of the tiny model's card.
//!
//! ```text
//! accuracy      = (1/N) Σ_i 1[grade(extract(y_i,1), a_i)]            first (or only) sample
//! majority@k    = (1/N) Σ_i 1[grade(mode_j key(extract(y_i,j)), a_i)]  self-consistency, book ch. 4
//! pass@k        = (1/N) Σ_i 1[∃ j ≤ k: grade(extract(y_i,j), a_i)]
//! ```
//!
//! `extract` is the book's `extract_final_candidate` (last `\boxed{}`, else the last number),
//! `grade` its `grade_answer`, `key` the verifier's voting key; ties in the vote go to the
//! answer seen first, as `Counter.most_common` does.
//!
//! Generation is the inference crate's [`generate_batch`], the `samples` copies of a prompt
//! as separate left-padded rows. Sampled runs use the sorted sampler
//! ([`Decoding::SampleSorted`]) and one stream shared by the whole batch, drawn in row order,
//! which is how the numbers in `models/tiny-arith/README.md` and docs/tiny-model.md were
//! made; [`measure`] threads one seeded stream through its six runs.

use std::collections::BTreeMap;

use burn::module::Module;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use reasoning_distill::sft::{AnswerStyle, chat_prompt_ids};
use reasoning_inference::vote::majority_vote;
use reasoning_inference::{Control, Decoding, GenerationConfig, SortedSampling, generate_batch};
use reasoning_model::Model;
use reasoning_tokenizer::Tokenizer;
use reasoning_verifier::{Fallback, answer_key, extract_final_candidate, grade_answer_evaluated};
use serde::{Deserialize, Serialize};

use crate::ArithError;
use crate::task::ArithRecord;

/// The graded samples of one problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradedSamples {
    /// The record's `unique_id`.
    pub unique_id: String,
    /// The record's level.
    pub level: u8,
    /// The ground-truth answer.
    pub answer: String,
    /// Each sample's decoded text.
    pub responses: Vec<String>,
    /// Each sample's extracted final answer.
    pub extracted: Vec<String>,
    /// Whether each sample is correct.
    pub correct: Vec<bool>,
    /// Each sample's number of generated ids, the end-of-turn id included.
    pub tokens: Vec<usize>,
}

impl GradedSamples {
    /// Returns the self-consistency answer: the most frequent non-empty answer key (ties to
    /// the first seen), as the extracted text of its first sample.
    pub fn majority(&self) -> Option<&str> {
        let kept: Vec<usize> = (0..self.extracted.len())
            .filter(|&j| !self.extracted[j].is_empty())
            .collect();
        let answers: Vec<String> = kept.iter().map(|&j| self.extracted[j].clone()).collect();
        let first = majority_vote(&answers).winning_group()?.members[0];
        Some(&self.extracted[kept[first]])
    }

    /// Returns whether the majority answer is correct.
    pub fn majority_correct(&self) -> bool {
        self.majority()
            .is_some_and(|m| grade_answer_evaluated(m, &self.answer))
    }
}

/// Accuracy figures over a set of [`GradedSamples`]s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplesSummary {
    /// Problems evaluated.
    pub n: usize,
    /// Samples per problem.
    pub samples: usize,
    /// Accuracy of the first sample.
    pub accuracy: f64,
    /// Mean accuracy over all samples.
    pub sample_accuracy: f64,
    /// Self-consistency accuracy (majority vote over the samples).
    pub majority_accuracy: f64,
    /// pass@k with k = `samples`.
    pub pass_at_k: f64,
    /// Mean generated tokens per sample.
    pub mean_tokens: f64,
    /// Fraction of samples that hit the token limit.
    pub truncated: f64,
    /// Mean number of distinct extracted answers per problem (diversity of the samples).
    pub distinct_answers: f64,
    /// First-sample accuracy per level.
    pub per_level: BTreeMap<u8, f64>,
}

/// Summarises graded items; `max_new_tokens` identifies truncated samples.
pub fn summarize_samples(items: &[GradedSamples], max_new_tokens: usize) -> SamplesSummary {
    let n = items.len().max(1) as f64;
    let samples = items.first().map_or(0, |i| i.correct.len());
    let total_samples = items.iter().map(|i| i.correct.len()).sum::<usize>().max(1) as f64;
    let mut per_level: BTreeMap<u8, (usize, usize)> = BTreeMap::new();
    for it in items {
        let e = per_level.entry(it.level).or_default();
        e.0 += 1;
        e.1 += usize::from(it.correct.first().copied().unwrap_or(false));
    }
    SamplesSummary {
        n: items.len(),
        samples,
        accuracy: items
            .iter()
            .filter(|i| i.correct.first().copied().unwrap_or(false))
            .count() as f64
            / n,
        sample_accuracy: items
            .iter()
            .map(|i| i.correct.iter().filter(|c| **c).count())
            .sum::<usize>() as f64
            / total_samples,
        majority_accuracy: items.iter().filter(|i| i.majority_correct()).count() as f64 / n,
        pass_at_k: items
            .iter()
            .filter(|i| i.correct.iter().any(|c| *c))
            .count() as f64
            / n,
        mean_tokens: items.iter().flat_map(|i| &i.tokens).sum::<usize>() as f64 / total_samples,
        truncated: items
            .iter()
            .flat_map(|i| &i.tokens)
            .filter(|t| **t >= max_new_tokens)
            .count() as f64
            / total_samples,
        distinct_answers: items
            .iter()
            .map(|i| {
                let mut keys: Vec<String> = i.extracted.iter().map(|e| answer_key(e)).collect();
                keys.sort();
                keys.dedup();
                keys.len()
            })
            .sum::<usize>() as f64
            / n,
        per_level: per_level
            .into_iter()
            .map(|(l, (t, c))| (l, c as f64 / t as f64))
            .collect(),
    }
}

/// Settings of one measured run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SampleConfig {
    /// Which answer style the prompt asks for.
    pub style: AnswerStyle,
    /// Samples per problem (1 for greedy accuracy).
    pub samples: usize,
    /// Greedy (then `samples` should be 1) or sampled.
    pub decoding: Decoding,
    /// Token limit per response.
    pub max_new_tokens: usize,
    /// Prompts per generation batch (samples of one problem count separately).
    pub batch_size: usize,
}

/// Generates `config.samples` responses per record and grades them.
///
/// Each batch holds whole problems, `samples` rows each, and draws from the one stream `rng`
/// in row order (see the module docs). `model` should be an inference copy (`model.valid()`).
pub fn sample_and_grade(
    model: &Model,
    tok: &Tokenizer,
    records: &[ArithRecord],
    config: &SampleConfig,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<GradedSamples>, ArithError> {
    if config.samples == 0 || config.batch_size == 0 {
        return Err(ArithError::Config(
            "evaluation needs samples > 0 and batch_size > 0".into(),
        ));
    }
    let generation = GenerationConfig::greedy(config.max_new_tokens, tok.eos_token_ids())
        .with_decoding(config.decoding);
    let mut items = Vec::with_capacity(records.len());
    let per_batch = (config.batch_size / config.samples).max(1);
    for chunk in records.chunks(per_batch) {
        let mut prompts = Vec::with_capacity(chunk.len() * config.samples);
        for r in chunk {
            let p = chat_prompt_ids(tok, &r.problem, config.style)?;
            prompts.extend(std::iter::repeat_n(p, config.samples));
        }
        let out = generate_batch(
            model,
            &prompts,
            1,
            &generation,
            std::slice::from_mut(rng),
            |_| Control::Continue,
        )?;
        for (r, group) in chunk.iter().zip(out.generations.chunks(config.samples)) {
            let mut item = GradedSamples {
                unique_id: r.unique_id.clone(),
                level: r.level,
                answer: r.answer.clone(),
                responses: Vec::new(),
                extracted: Vec::new(),
                correct: Vec::new(),
                tokens: Vec::new(),
            };
            for g in group {
                let text = tok.decode(g.content_ids(), false)?;
                let pred = extract_final_candidate(&text, Fallback::NumberThenFullText);
                item.correct
                    .push(!pred.is_empty() && grade_answer_evaluated(&pred, &r.answer));
                item.extracted.push(pred);
                item.responses.push(text);
                item.tokens.push(g.ids.len());
            }
            items.push(item);
        }
    }
    Ok(items)
}

/// How much to measure in [`measure`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeasureConfig {
    /// Test problems for greedy accuracy (both styles).
    pub n_greedy: usize,
    /// Test problems for the sampled runs (self-consistency).
    pub n_sampled: usize,
    /// Samples per problem for self-consistency.
    pub samples: usize,
    /// Training problems for greedy accuracy and pass@k.
    pub n_train: usize,
    /// `k` of pass@k on training problems.
    pub pass_k: usize,
    /// Token limit per response.
    pub max_new_tokens: usize,
    /// Prompts per generation batch.
    pub batch_size: usize,
    /// Seed of the sampling.
    pub seed: u64,
}

impl Default for MeasureConfig {
    fn default() -> Self {
        Self {
            n_greedy: 500,
            n_sampled: 200,
            samples: 5,
            n_train: 200,
            pass_k: 8,
            max_new_tokens: 96,
            batch_size: 64,
            seed: 123,
        }
    }
}

/// The measurements recorded for a tiny model (see `docs/tiny-model.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TinyReport {
    /// Greedy, reasoning style, test split.
    pub greedy_reasoning: SamplesSummary,
    /// Greedy, direct style, test split.
    pub greedy_direct: SamplesSummary,
    /// T = 0.8, top-p = 0.9, reasoning style, `samples` per test problem.
    pub sampled_t08_p09: SamplesSummary,
    /// T = 1.0, no top-p, reasoning style, `samples` per test problem.
    pub sampled_t1: SamplesSummary,
    /// Greedy, reasoning style, training problems.
    pub train_greedy: SamplesSummary,
    /// T = 1.0, `pass_k` samples per training problem (pass@k: room for RL).
    pub train_pass_k: SamplesSummary,
}

/// Measures a model on the test split (greedy in both styles, sampled with self-consistency)
/// and on training problems (greedy and pass@k).
pub fn measure(
    model: &Model,
    tok: &Tokenizer,
    test: &[ArithRecord],
    train: &[ArithRecord],
    config: &MeasureConfig,
) -> Result<TinyReport, ArithError> {
    let model = model.valid();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut run =
        |records: &[ArithRecord], style, samples, decoding| -> Result<SamplesSummary, ArithError> {
            let c = SampleConfig {
                style,
                samples,
                decoding,
                max_new_tokens: config.max_new_tokens,
                batch_size: config.batch_size,
            };
            Ok(summarize_samples(
                &sample_and_grade(&model, tok, records, &c, &mut rng)?,
                config.max_new_tokens,
            ))
        };
    let greedy_test = &test[..config.n_greedy.min(test.len())];
    let sampled_test = &test[..config.n_sampled.min(test.len())];
    let train = &train[..config.n_train.min(train.len())];
    let t08 = Decoding::SampleSorted(SortedSampling {
        temperature: 0.8,
        top_p: 0.9,
    });
    let t1 = Decoding::SampleSorted(SortedSampling {
        temperature: 1.0,
        top_p: 1.0,
    });
    let greedy = Decoding::Greedy;
    Ok(TinyReport {
        greedy_reasoning: run(greedy_test, AnswerStyle::Reasoning, 1, greedy)?,
        greedy_direct: run(greedy_test, AnswerStyle::Direct, 1, greedy)?,
        sampled_t08_p09: run(sampled_test, AnswerStyle::Reasoning, config.samples, t08)?,
        sampled_t1: run(sampled_test, AnswerStyle::Reasoning, config.samples, t1)?,
        train_greedy: run(train, AnswerStyle::Reasoning, 1, greedy)?,
        train_pass_k: run(train, AnswerStyle::Reasoning, config.pass_k, t1)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_vote_counts_equivalent_answers_together_and_breaks_ties_by_first_seen() {
        let item = GradedSamples {
            unique_id: "x".into(),
            level: 1,
            answer: "6".into(),
            responses: vec![String::new(); 5],
            extracted: vec![
                "5".into(),
                "6".into(),
                "6.0".into(),
                "5".into(),
                String::new(),
            ],
            correct: vec![false, true, true, false, false],
            tokens: vec![3; 5],
        };
        // "6" and "6.0" share a key: 2 votes each for 5 and 6, and 5 was seen first.
        assert_eq!(item.majority(), Some("5"));
        let summary = summarize_samples(std::slice::from_ref(&item), 10);
        assert_eq!(summary.pass_at_k, 1.0);
        assert_eq!(summary.accuracy, 0.0);
        assert!((summary.sample_accuracy - 0.4).abs() < 1e-12);
    }
}
