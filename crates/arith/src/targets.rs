//! What the tiny model is trained to write: the two answer styles of a record, SFT examples
//! in a seeded mix of styles, and the drill sequences of phase 1.
//!
//! ```text
//! reasoning  <think>\n{step 1}\n{step 2}\n</think>\n\n\boxed{N}     under the thinking prompt
//! direct     \boxed{N}                                           the template writes <think>\n\n</think>\n\n
//! skipped    <think>\n\n</think>\n\n\boxed{N}                    phase 3: the model writes the empty block
//! drill      <|endoftext|>a op b = c\n d op e = f\n ...            phase 1: raw solution lines
//! ```
//!
//! Every example is a [`reasoning_distill::sft::SftExample`] built with the chapter-8 helpers
//! ([`build_example`]: chat prompt, target, end-of-turn id), so the general SFT trainer runs
//! on them unchanged.

use rand_chacha::ChaCha8Rng;
use reasoning_distill::sft::{AnswerStyle, SftExample, build_example, turn_end_id};
use reasoning_tokenizer::Tokenizer;

use crate::ArithError;
use crate::task::ArithRecord;
use crate::tiny::PAD_TOKEN;

/// Returns the assistant's target text for an arithmetic record:
/// `<think>\n{steps}\n</think>\n\n\boxed{N}` or `\boxed{N}`.
pub fn arithmetic_target(record: &ArithRecord, style: AnswerStyle) -> String {
    match style {
        AnswerStyle::Reasoning => {
            format!(
                "<think>\n{}\n</think>\n\n\\boxed{{{}}}",
                record.steps().join("\n"),
                record.answer
            )
        }
        AnswerStyle::Direct => format!("\\boxed{{{}}}", record.answer),
    }
}

/// Returns the target of an answer that skips its reasoning under the thinking prompt:
/// `<think>\n\n</think>\n\n\boxed{N}`, the empty think block a hybrid model such as Qwen3
/// writes when it decides not to think (the chat template writes the same block into the
/// prompt for [`AnswerStyle::Direct`]; here the model writes it).
pub fn empty_think_target(record: &ArithRecord) -> String {
    format!("<think>\n\n</think>\n\n\\boxed{{{}}}", record.answer)
}

/// Builds one example per record, in the reasoning style with probability
/// `reasoning_fraction` (drawn from `rng`) and in the direct style otherwise.
pub fn arithmetic_examples(
    tok: &Tokenizer,
    records: &[ArithRecord],
    reasoning_fraction: f64,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<SftExample>, ArithError> {
    if !(0.0..=1.0).contains(&reasoning_fraction) {
        return Err(ArithError::Config(format!(
            "reasoning_fraction {reasoning_fraction} is not in [0, 1]"
        )));
    }
    let eos = turn_end_id(tok)?;
    records
        .iter()
        .map(|r| {
            let style = if rand::RngExt::random_bool(rng, reasoning_fraction) {
                AnswerStyle::Reasoning
            } else {
                AnswerStyle::Direct
            };
            build_example(tok, &r.problem, &arithmetic_target(r, style), style, eos)
                .map_err(|e| ArithError::Data(format!("record {}: {e}", r.unique_id)))
        })
        .collect()
}

/// Packs the solution lines of `records` into plain-text "drill" sequences: `<|endoftext|>`
/// followed by random lines `a op b = c\n` until the next line would pass `max_tokens`.
///
/// These are the first phase of the tiny model's training, a base-model pretraining on raw
/// arithmetic: a 128-token sequence holds about twelve worked operations, where a chat example
/// of 90 tokens holds two or three behind a 50-token prompt. Each sequence is an [`SftExample`]
/// with a one-token prompt, so every line is scored.
pub fn drill_examples(
    tok: &Tokenizer,
    records: &[ArithRecord],
    n_sequences: usize,
    max_tokens: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<SftExample>, ArithError> {
    let start = tok
        .token_to_id(PAD_TOKEN)
        .ok_or_else(|| ArithError::Data(format!("the tokenizer has no {PAD_TOKEN}")))?;
    let mut lines = Vec::new();
    for r in records {
        for step in r.steps() {
            lines.push(tok.encode(&format!("{step}\n"))?);
        }
    }
    if lines.is_empty() {
        return Err(ArithError::Data("no solution lines to drill on".into()));
    }
    let longest = lines.iter().map(Vec::len).max().unwrap_or(0);
    if max_tokens < longest + 2 {
        return Err(ArithError::Config(format!(
            "drill max_tokens {max_tokens} cannot hold a line of {longest} tokens"
        )));
    }
    let mut out = Vec::with_capacity(n_sequences);
    for _ in 0..n_sequences {
        let mut ids = vec![start];
        loop {
            let line = &lines[rand::RngExt::random_range(rng, 0..lines.len())];
            if ids.len() + line.len() > max_tokens {
                break;
            }
            ids.extend(line);
        }
        let answer = ids.split_off(1);
        out.push(SftExample::new(ids, answer)?);
    }
    Ok(out)
}
