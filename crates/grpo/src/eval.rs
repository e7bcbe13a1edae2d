//! Held-out accuracy during training: greedy, batched, graded as the book's evaluation does.
//!
//! ```text
//! accuracy = (1/n) Σ_i [grade_answer_evaluated(extract(greedy_i), answer_i)]
//! ```
//!
//! `extract` is the book's `extract_final_candidate` with its default fallback (the last
//! `\boxed{}`, else the last number): the same reading as `cargo xtask evaluate`, so the
//! accuracy before training equals what that command reports for the starting model. The
//! reward is stricter (a box is required); a model that learns to box gains on both.

use reasoning_inference::{Control, EvalRecord, GenerationConfig, generate_batch};
use reasoning_model::Model;
use reasoning_tokenizer::Tokenizer;
use reasoning_verifier::datasets::Record;
use reasoning_verifier::{Fallback, extract_final_candidate};

use crate::error::Result;

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalResult {
    /// Fraction of problems answered correctly.
    pub accuracy: f64,
    /// Problems answered correctly.
    pub correct: usize,
    /// Problems evaluated.
    pub n: usize,
    /// Mean generated ids per problem.
    pub avg_tokens: f64,
    /// One record per problem, in dataset order (`index` counts from 1).
    pub records: Vec<EvalRecord>,
}

/// Answers every problem greedily, `batch_size` prompts per batch, and grades the answers.
///
/// `prompts[i]` are the prompt ids of `records[i]`; `model` should be an inference copy
/// (`model.valid()`), so no autodiff graph is built.
pub fn evaluate_greedy(
    model: &Model,
    tok: &Tokenizer,
    records: &[Record],
    prompts: &[Vec<u32>],
    generation: &GenerationConfig,
    batch_size: usize,
) -> Result<EvalResult> {
    let mut out = Vec::with_capacity(records.len());
    let mut tokens = 0usize;
    for (chunk_index, chunk) in prompts.chunks(batch_size.max(1)).enumerate() {
        let batch = generate_batch(model, chunk, 1, generation, &mut [], |_| Control::Continue)?;
        for (j, g) in batch.generations.into_iter().enumerate() {
            let i = chunk_index * batch_size.max(1) + j;
            let text = tok.decode(g.content_ids(), false)?;
            let extracted = extract_final_candidate(&text, Fallback::NumberThenFullText);
            tokens += g.ids.len();
            out.push(EvalRecord::graded(
                i + 1,
                &records[i],
                text,
                extracted,
                g.ids.len(),
            ));
        }
    }
    let correct = out.iter().filter(|r| r.correct).count();
    let n = out.len();
    Ok(EvalResult {
        accuracy: if n == 0 {
            0.0
        } else {
            correct as f64 / n as f64
        },
        correct,
        n,
        avg_tokens: if n == 0 {
            0.0
        } else {
            tokens as f64 / n as f64
        },
        records: out,
    })
}
