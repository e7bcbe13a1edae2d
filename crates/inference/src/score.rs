//! Scoring answers: log-probabilities under the model and the book's heuristic (chapter 5).
//!
//! ```text
//! log p(a | x) = Σ_t log softmax(z_t)[a_t]          z_t: logits after x, a_1 .. a_(t-1)
//! sum score    S(a) = log p(a | x)                   favours short answers
//! mean score   S̄(a) = log p(a | x) / |a|             the book's avg_logprob_answer
//! heuristic    H(a) = 2·[boxed] or 1·[a number] + 1.5 · exp(-len(a) / 500)
//! ```
//!
//! `x` is the prompt's token ids, `a` the answer's, `len(a)` the answer's length in characters.
//!
//! **Departure from the book.** The book re-tokenizes the answer text (the ids of
//! `tokenizer.encode(prompt)` followed by those of `tokenizer.encode(answer)`).
//! [`score_continuations`] scores the exact ids it is given, so a
//! generated answer is scored as the tokens the model produced, conditioned on the exact prompt
//! ids it was produced from (with the chat template, when one was used). Several answers to one
//! prompt share one prefill of the prompt, and the answer positions run as one batch; logits are
//! turned into log-probabilities on the device in chunks of positions, and only the chosen
//! token's value comes back to the host.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};
use reasoning_model::{KvCache, Model};
use reasoning_verifier::{Fallback, extract_final_candidate};
use serde::{Deserialize, Serialize};

use crate::error::{InferenceError, Result};
use crate::generate::{check_ids, host_f32};

/// Log-probabilities of a continuation's tokens, one per token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContinuationScore {
    /// `log p(a_t | x, a_<t)` for each token `a_t`.
    pub logprobs: Vec<f32>,
}

impl ContinuationScore {
    /// The sequence log-probability `Σ_t log p(a_t | ...)` (0 for an empty continuation).
    pub fn sum(&self) -> f64 {
        self.logprobs.iter().map(|&l| f64::from(l)).sum()
    }

    /// The mean per-token log-probability (the book's `avg_logprob_answer`), or `None` for an
    /// empty continuation.
    pub fn mean(&self) -> Option<f64> {
        (!self.logprobs.is_empty()).then(|| self.sum() / self.logprobs.len() as f64)
    }
}

/// Most logits values computed at once while scoring (bounds memory: 32 MB of f32).
const CHUNK_VALUES: usize = 8 << 20;

/// Returns the log-probability of each token of `ids` after the first, given the tokens
/// before it (the book's `calc_next_token_logprobas`): `len - 1` values.
///
/// # Errors
/// An id outside the vocabulary, or more ids than the model's context.
pub fn sequence_logprobs(model: &Model, ids: &[u32]) -> Result<Vec<f32>> {
    match ids.split_first() {
        None => Ok(Vec::new()),
        Some((&first, rest)) => {
            let mut scores = score_continuations(model, &[first], &[rest.to_vec()])?;
            Ok(scores.pop().map(|s| s.logprobs).unwrap_or_default())
        }
    }
}

/// Returns, for each continuation, the log-probability of each of its tokens given `prompt`
/// and the continuation's earlier tokens.
///
/// The prompt is encoded once; its cache is repeated for every continuation, and the
/// continuations (right-padded, which a causal model ignores) run as one batch.
///
/// # Errors
/// An empty prompt, an id outside the vocabulary, or a prompt plus continuation longer than
/// the model's context.
pub fn score_continuations(
    model: &Model,
    prompt: &[u32],
    continuations: &[Vec<u32>],
) -> Result<Vec<ContinuationScore>> {
    let mut scores =
        score_continuations_batch(model, &[(prompt.to_vec(), continuations.to_vec())])?;
    Ok(scores.pop().unwrap_or_default())
}

/// [`score_continuations`] for several prompts at once: `items[i]` is a prompt and its
/// continuations, and `result[i][j]` scores continuation `j` of prompt `i`.
///
/// The prompts are left-padded into one batch and encoded by one prefill (padding is masked,
/// see [`KvCache`]); each prompt's cache row is then repeated once per continuation, and every
/// continuation of every prompt runs in a second, right-padded batch. Appendix F's MMLU
/// teacher forcing scores four continuations of many questions this way.
///
/// # Errors
/// An empty prompt, an id outside the vocabulary, or a prompt plus continuation longer than
/// the model's context; the error names the prompt's position in `items`.
pub fn score_continuations_batch(
    model: &Model,
    items: &[(Vec<u32>, Vec<Vec<u32>>)],
) -> Result<Vec<Vec<ContinuationScore>>> {
    let cfg = model.config();
    let vocab = cfg.vocab_size;
    for (index, (prompt, continuations)) in items.iter().enumerate() {
        check_ids(prompt, vocab, || format!("prompt {index}"))?;
        if prompt.is_empty() {
            return Err(InferenceError::EmptyPrompt { index });
        }
        for (j, c) in continuations.iter().enumerate() {
            check_ids(c, vocab, || format!("continuation {j} of prompt {index}"))?;
            if prompt.len() + c.len() > cfg.max_position_embeddings {
                return Err(InferenceError::PromptTooLong {
                    index,
                    tokens: prompt.len() + c.len(),
                    context: cfg.max_position_embeddings,
                });
            }
        }
    }
    let mut scores: Vec<Vec<ContinuationScore>> = items
        .iter()
        .map(|(_, continuations)| {
            continuations
                .iter()
                .map(|c| ContinuationScore {
                    logprobs: Vec::with_capacity(c.len()),
                })
                .collect()
        })
        .collect();
    let longest = items
        .iter()
        .flat_map(|(_, cs)| cs.iter().map(Vec::len))
        .max()
        .unwrap_or(0);
    if longest == 0 {
        return Ok(scores);
    }
    let device = model.device();

    // Step 1: each prompt's last position predicts its continuations' first tokens.
    let width = items.iter().map(|(p, _)| p.len()).max().unwrap_or(0);
    let left_pad: Vec<usize> = items.iter().map(|(p, _)| width - p.len()).collect();
    let mut padded = Vec::with_capacity(items.len() * width);
    for ((prompt, _), &pad) in items.iter().zip(&left_pad) {
        padded.extend(std::iter::repeat_n(0, pad));
        padded.extend(prompt.iter().map(|&t| i64::from(t)));
    }
    let mut cache = KvCache::with_left_padding(cfg, left_pad, width + longest, &device);
    let tokens =
        Tensor::<2, Int>::from_data(TensorData::new(padded, [items.len(), width]), &device);
    let first = host_f32(log_softmax(model.forward_cached(tokens, &mut cache), 1));
    for (i, (prompt_scores, (_, continuations))) in scores.iter_mut().zip(items).enumerate() {
        let row = &first[i * vocab..(i + 1) * vocab];
        for (score, c) in prompt_scores.iter_mut().zip(continuations) {
            if let Some(&t) = c.first() {
                score.logprobs.push(row[t as usize]);
            }
        }
    }
    if longest == 1 {
        return Ok(scores);
    }

    // Step 2: feed every continuation but its last token; position t predicts token t + 1.
    let source_rows: Vec<usize> = items
        .iter()
        .enumerate()
        .flat_map(|(i, (_, cs))| std::iter::repeat_n(i, cs.len()))
        .collect();
    let all: Vec<&Vec<u32>> = items.iter().flat_map(|(_, cs)| cs.iter()).collect();
    let rows = all.len();
    let steps = longest - 1;
    let mut inputs = Vec::with_capacity(rows * steps);
    let mut targets = Vec::with_capacity(rows * steps);
    for c in &all {
        for t in 0..steps {
            inputs.push(c.get(t).map_or(0, |&id| i64::from(id)));
            targets.push(c.get(t + 1).map_or(0, |&id| i64::from(id)));
        }
    }
    let cache = &mut cache.select_rows(&source_rows);
    let inputs = Tensor::<2, Int>::from_data(TensorData::new(inputs, [rows, steps]), &device);
    let hidden = model.forward_hidden_cached(inputs, cache); // [rows, steps, hidden]
    let targets = Tensor::<2, Int>::from_data(TensorData::new(targets, [rows, steps]), &device);
    let chunk = (CHUNK_VALUES / (rows * vocab)).clamp(1, steps);
    let mut flat: Vec<&mut ContinuationScore> = scores.iter_mut().flatten().collect();
    let mut start = 0;
    while start < steps {
        let len = chunk.min(steps - start);
        let logits = model.logits(hidden.clone().narrow(1, start, len)); // [rows, len, vocab]
        let picked = log_softmax(logits, 2)
            .gather(2, targets.clone().narrow(1, start, len).unsqueeze_dim(2))
            .reshape([rows, len]);
        let picked = host_f32(picked);
        for (r, (score, c)) in flat.iter_mut().zip(&all).enumerate() {
            for t in start..start + len {
                if t + 1 < c.len() {
                    score.logprobs.push(picked[r * len + (t - start)]);
                }
            }
        }
        start += len;
    }
    Ok(scores)
}

/// Returns the mean log-probability of `answer`'s tokens after `prompt` (the book's
/// `avg_logprob_answer`), or `None` for an empty answer.
pub fn avg_logprob_answer(model: &Model, prompt: &[u32], answer: &[u32]) -> Result<Option<f64>> {
    let scores = score_continuations(model, prompt, &[answer.to_vec()])?;
    Ok(scores.first().and_then(ContinuationScore::mean))
}

/// The weights of the book's `heuristic_score`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HeuristicWeights {
    /// Length scale of the brevity term `1.5 · exp(-len / brevity_bonus)` (book: 500).
    pub brevity_bonus: f64,
    /// Reward for a final `\boxed{...}` (book: 2).
    pub boxed_bonus: f64,
    /// Reward for a number when there is no box (book: 1).
    pub extract_bonus: f64,
    /// Reward when only the full-text fallback finds something (book: 0).
    pub fulltext_bonus: f64,
}

impl Default for HeuristicWeights {
    fn default() -> Self {
        Self {
            brevity_bonus: 500.0,
            boxed_bonus: 2.0,
            extract_bonus: 1.0,
            fulltext_bonus: 0.0,
        }
    }
}

/// Returns the book's `heuristic_score` of a response: a bonus for a boxed answer (or a
/// smaller one for a bare number), plus a brevity term that decays with the length in
/// characters.
///
/// ```
/// use reasoning_inference::score::{heuristic_score, HeuristicWeights};
/// let w = HeuristicWeights::default();
/// let boxed = heuristic_score(r"so \boxed{4}", &w);
/// let number = heuristic_score("so 4", &w);
/// assert!(boxed > number);
/// ```
pub fn heuristic_score(answer: &str, weights: &HeuristicWeights) -> f64 {
    let mut score = 0.0;
    if !extract_final_candidate(answer, Fallback::None).is_empty() {
        score += weights.boxed_bonus;
    } else if !extract_final_candidate(answer, Fallback::NumberOnly).is_empty() {
        score += weights.extract_bonus;
    } else if !extract_final_candidate(answer, Fallback::NumberThenFullText).is_empty() {
        score += weights.fulltext_bonus;
    }
    let chars = answer.chars().count() as f64;
    score + 1.5 * (-chars / weights.brevity_bonus).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heuristic_matches_the_book_formula() {
        let w = HeuristicWeights::default();
        let text = r"The answer is \boxed{12}.";
        let expected = 2.0 + 1.5 * (-(text.chars().count() as f64) / 500.0).exp();
        assert!((heuristic_score(text, &w) - expected).abs() < 1e-12);
        let text = "It is 12";
        let expected = 1.0 + 1.5 * (-8.0f64 / 500.0).exp();
        assert!((heuristic_score(text, &w) - expected).abs() < 1e-12);
        let text = "no idea";
        let expected = 1.5 * (-7.0f64 / 500.0).exp();
        assert!((heuristic_score(text, &w) - expected).abs() < 1e-12);
    }

    #[test]
    fn heuristic_prefers_shorter_answers_with_the_same_box() {
        let w = HeuristicWeights::default();
        let short = r"\boxed{3}";
        let long = format!("{} \\boxed{{3}}", "step ".repeat(100));
        assert!(heuristic_score(short, &w) > heuristic_score(&long, &w));
    }

    #[test]
    fn heuristic_counts_characters_not_bytes() {
        let w = HeuristicWeights::default();
        let ascii = heuristic_score("aaaa", &w);
        let greek = heuristic_score("αααα", &w);
        assert!((ascii - greek).abs() < 1e-12);
    }

    #[test]
    fn score_of_an_empty_continuation_has_no_mean() {
        let s = ContinuationScore {
            logprobs: Vec::new(),
        };
        assert_eq!(s.sum(), 0.0);
        assert_eq!(s.mean(), None);
        let s = ContinuationScore {
            logprobs: vec![-1.0, -3.0],
        };
        assert_eq!(s.mean(), Some(-2.0));
    }
}
