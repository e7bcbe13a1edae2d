//! Measuring a trained model on a verifiable split: greedy accuracy, sampled accuracy,
//! self-consistency (majority vote) and pass@k.
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
//! Generation here is a plain batched loop over [`Model::forward_cached`] with left-padded
//! prompts, greedy or temperature + top-p sampling on the host with the caller's seeded RNG.
//! It exists so this crate can measure its own models; the inference crate owns the general
//! sampling API.

use std::collections::BTreeMap;

use burn::tensor::{Int, Tensor, TensorData};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use reasoning_model::{KvCache, Model};
use reasoning_tokenizer::Tokenizer;
use reasoning_verifier::{Fallback, answer_key, extract_final_candidate, grade_answer_evaluated};
use serde::{Deserialize, Serialize};

use crate::DistillError;
use crate::arithmetic::ArithRecord;
use crate::sft::{AnswerStyle, prompt_ids};

/// Temperature and nucleus (top-p) sampling settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    /// Divides the logits before the softmax; must be positive.
    pub temperature: f64,
    /// Keeps the most likely tokens until their mass reaches `top_p` (the token that crosses
    /// it included); 1.0 keeps all.
    pub top_p: f64,
}

/// One generated continuation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// Generated ids, without the final EOS.
    pub ids: Vec<u32>,
    /// Whether an EOS ended it (false: it hit `max_new_tokens`).
    pub finished: bool,
}

/// Returns the index of the largest value (the first one on ties).
fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// Draws a token from `softmax(row / T)` restricted to the top-p nucleus.
fn sample(row: &[f32], s: &Sampling, rng: &mut ChaCha8Rng) -> usize {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let mut probs: Vec<(usize, f64)> = row
        .iter()
        .enumerate()
        .map(|(i, &v)| (i, ((v as f64 - max) / s.temperature).exp()))
        .collect();
    let total: f64 = probs.iter().map(|p| p.1).sum();
    // Step 1: sort by probability (ties by id, so the order is deterministic).
    probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    // Step 2: the nucleus: tokens until the cumulative mass reaches top_p.
    let mut kept = 0;
    let mut mass = 0.0;
    for p in &probs {
        kept += 1;
        mass += p.1 / total;
        if mass >= s.top_p {
            break;
        }
    }
    let nucleus = &probs[..kept];
    let nucleus_mass: f64 = nucleus.iter().map(|p| p.1).sum();
    // Step 3: inverse-CDF draw within the renormalised nucleus.
    let mut u = rng.random::<f64>() * nucleus_mass;
    for p in nucleus {
        if u < p.1 {
            return p.0;
        }
        u -= p.1;
    }
    nucleus[kept - 1].0
}

/// Generates a continuation for each prompt in one left-padded batch, greedily when
/// `sampling` is `None`.
///
/// Rows that reach an id in `eos` leave the batch (their cache rows are dropped). `model` may
/// be on any device; pass an inference copy (`model.valid()`) to avoid building autodiff
/// graphs.
pub fn generate(
    model: &Model,
    prompts: &[Vec<u32>],
    max_new_tokens: usize,
    eos: &[u32],
    pad_id: u32,
    sampling: Option<Sampling>,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Generation>, DistillError> {
    if let Some(s) = sampling
        && !(s.temperature > 0.0 && s.top_p > 0.0 && s.top_p <= 1.0)
    {
        return Err(DistillError::Config(format!(
            "sampling needs temperature > 0 and top_p in (0, 1]; got {} and {}",
            s.temperature, s.top_p
        )));
    }
    let mut out: Vec<Generation> = prompts
        .iter()
        .map(|_| Generation {
            ids: Vec::new(),
            finished: false,
        })
        .collect();
    if prompts.is_empty() || max_new_tokens == 0 {
        return Ok(out);
    }
    if let Some(i) = prompts.iter().position(Vec::is_empty) {
        return Err(DistillError::Data(format!("prompt {i} is empty")));
    }
    let device = model.device();
    let vocab = model.config().vocab_size;
    let len = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let left_pad: Vec<usize> = prompts.iter().map(|p| len - p.len()).collect();
    let mut ids = Vec::with_capacity(prompts.len() * len);
    for (p, &pad) in prompts.iter().zip(&left_pad) {
        ids.extend(std::iter::repeat_n(pad_id as i64, pad));
        ids.extend(p.iter().map(|&t| t as i64));
    }
    let mut cache =
        KvCache::with_left_padding(model.config(), left_pad, len + max_new_tokens, &device);
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [prompts.len(), len]), &device);
    let mut logits = model.forward_cached(tokens, &mut cache); // [active, vocab]
    let mut active: Vec<usize> = (0..prompts.len()).collect();
    for step in 0..max_new_tokens {
        let host: Vec<f32> = logits
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| DistillError::Data(format!("logits readback: {e:?}")))?;
        let mut next = Vec::with_capacity(active.len());
        let mut keep = Vec::with_capacity(active.len());
        for (row, &orig) in active.iter().enumerate() {
            let slice = &host[row * vocab..(row + 1) * vocab];
            let id = match &sampling {
                None => argmax(slice),
                Some(s) => sample(slice, s, rng),
            } as u32;
            if eos.contains(&id) {
                out[orig].finished = true;
            } else {
                out[orig].ids.push(id);
                keep.push(row);
                next.push(id as i64);
            }
        }
        if keep.is_empty() || step + 1 == max_new_tokens {
            break;
        }
        if keep.len() < active.len() {
            cache = cache.select_rows(&keep);
            active = keep.iter().map(|&r| active[r]).collect();
        }
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(next, [active.len(), 1]), &device);
        logits = model.forward_cached(tokens, &mut cache);
    }
    Ok(out)
}

/// The graded samples of one problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalItem {
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
    /// Each sample's number of generated tokens.
    pub tokens: Vec<usize>,
}

impl EvalItem {
    /// Returns the self-consistency answer: the most frequent non-empty answer key (ties to
    /// the first seen), as the extracted text of its first sample.
    pub fn majority(&self) -> Option<&str> {
        let mut counts: Vec<(String, usize, usize)> = Vec::new(); // key, count, first sample
        for (j, e) in self.extracted.iter().enumerate() {
            if e.is_empty() {
                continue;
            }
            let key = answer_key(e);
            match counts.iter_mut().find(|c| c.0 == key) {
                Some(c) => c.1 += 1,
                None => counts.push((key, 1, j)),
            }
        }
        let best = counts
            .iter()
            .fold(None::<&(String, usize, usize)>, |best, c| match best {
                Some(b) if b.1 >= c.1 => Some(b),
                _ => Some(c),
            })?;
        Some(&self.extracted[best.2])
    }

    /// Returns whether the majority answer is correct.
    pub fn majority_correct(&self) -> bool {
        self.majority()
            .is_some_and(|m| grade_answer_evaluated(m, &self.answer))
    }
}

/// Accuracy figures over a set of [`EvalItem`]s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalSummary {
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
pub fn summarize(items: &[EvalItem], max_new_tokens: usize) -> EvalSummary {
    let n = items.len().max(1) as f64;
    let samples = items.first().map_or(0, |i| i.correct.len());
    let total_samples = items.iter().map(|i| i.correct.len()).sum::<usize>().max(1) as f64;
    let mut per_level: BTreeMap<u8, (usize, usize)> = BTreeMap::new();
    for it in items {
        let e = per_level.entry(it.level).or_default();
        e.0 += 1;
        e.1 += usize::from(it.correct.first().copied().unwrap_or(false));
    }
    EvalSummary {
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

/// Settings of an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// Which answer style the prompt asks for.
    pub style: AnswerStyle,
    /// Samples per problem (1 for greedy accuracy).
    pub samples: usize,
    /// `None`: greedy (then `samples` should be 1).
    pub sampling: Option<Sampling>,
    /// Token limit per response.
    pub max_new_tokens: usize,
    /// Prompts per generation batch (samples of one problem count separately).
    pub batch_size: usize,
}

/// Generates `config.samples` responses per record and grades them.
///
/// `model` should be an inference copy (`model.valid()`); `rng` drives sampling only.
pub fn evaluate(
    model: &Model,
    tok: &Tokenizer,
    records: &[ArithRecord],
    config: &EvalConfig,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<EvalItem>, DistillError> {
    if config.samples == 0 || config.batch_size == 0 {
        return Err(DistillError::Config(
            "evaluation needs samples > 0 and batch_size > 0".into(),
        ));
    }
    let eos = tok.eos_token_ids().to_vec();
    let pad_id = tok
        .pad_token_id()
        .or_else(|| eos.first().copied())
        .unwrap_or(0);
    let mut items = Vec::with_capacity(records.len());
    let per_batch = (config.batch_size / config.samples).max(1);
    for chunk in records.chunks(per_batch) {
        let mut prompts = Vec::with_capacity(chunk.len() * config.samples);
        for r in chunk {
            let p = prompt_ids(tok, &r.problem, config.style)?;
            prompts.extend(std::iter::repeat_n(p, config.samples));
        }
        let gens = generate(
            model,
            &prompts,
            config.max_new_tokens,
            &eos,
            pad_id,
            config.sampling,
            rng,
        )?;
        for (r, group) in chunk.iter().zip(gens.chunks(config.samples)) {
            let mut item = EvalItem {
                unique_id: r.unique_id.clone(),
                level: r.level,
                answer: r.answer.clone(),
                responses: Vec::new(),
                extracted: Vec::new(),
                correct: Vec::new(),
                tokens: Vec::new(),
            };
            for g in group {
                let text = tok.decode(&g.ids, false)?;
                let pred = extract_final_candidate(&text, Fallback::NumberThenFullText);
                item.correct
                    .push(!pred.is_empty() && grade_answer_evaluated(&pred, &r.answer));
                item.extracted.push(pred);
                item.responses.push(text);
                item.tokens.push(g.ids.len() + usize::from(g.finished));
            }
            items.push(item);
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn top_p_keeps_the_tokens_that_reach_the_mass() {
        // Probabilities ≈ [0.665, 0.245, 0.090]: top_p 0.5 keeps only the first, 0.8 two.
        let row = [2.0f32, 1.0, 0.0];
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let s = Sampling {
            temperature: 1.0,
            top_p: 0.5,
        };
        assert!((0..200).all(|_| sample(&row, &s, &mut rng) == 0));
        let s = Sampling {
            temperature: 1.0,
            top_p: 0.8,
        };
        let draws: Vec<usize> = (0..2000).map(|_| sample(&row, &s, &mut rng)).collect();
        assert!(!draws.contains(&2));
        let ones = draws.iter().filter(|d| **d == 1).count() as f64 / 2000.0;
        assert!((ones - 0.245 / 0.91).abs() < 0.04, "{ones}");
    }

    #[test]
    fn majority_vote_counts_equivalent_answers_together_and_breaks_ties_by_first_seen() {
        let item = EvalItem {
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
        let summary = summarize(std::slice::from_ref(&item), 10);
        assert_eq!(summary.pass_at_k, 1.0);
        assert_eq!(summary.accuracy, 0.0);
        assert!((summary.sample_accuracy - 0.4).abs() < 1e-12);
    }
}
