//! Distillation data in the book's format (chapter 8): loading, target formatting, examples,
//! length statistics, the length filter and the train/validation split.
//!
//! A distillation record is one teacher answer to one problem, with the teacher's reasoning
//! and its final message kept apart, as the book's `rasbt/math_distill` files and its
//! `generate_with_*.py` scripts write them:
//!
//! ```text
//! {"problem": ..., "gtruth_answer": ..., "message_thinking": ..., "message_content": ...}
//! ```
//!
//! The student is trained to write the teacher's whole answer after the chat-templated prompt
//! (thinking on), with the loss on the answer only ([`crate::sft`]):
//!
//! ```text
//! target  = "<think>" + strip(thinking) + "</think>\n\n" + strip(content)     book format
//! ids     = chat(render_prompt(problem)) ++ encode(target) ++ [<|im_end|>]   length L, prompt P
//! dropped   when L > max_len       (never truncated: a cut trace teaches an unfinished answer)
//! ```
//!
//! **Departures from the book.** The book skips malformed rows silently (`except (KeyError,
//! TypeError, ValueError)`); [`load_distill_records`] stops at the first one with an error
//! naming the file, the line the record starts on, its index and the field.
//! [`TargetFormat::Qwen3`] is an extra option: Qwen3's chat template renders a stored reasoning turn as
//! `<think>\n{thinking}\n</think>\n\n{content}`, the layout the embedded tiny model was trained
//! on; the book's format has no newlines inside the tags. [`TargetFormat::Plain`] is the book's
//! scripts' format without think tags (exercise 8.2); the prompt keeps the student's chat
//! template (the book's plain runs use the base tokenizer with none). The split shuffles the examples with
//! a seeded [`ChaCha8Rng`] and takes the validation set from the end, as the book's
//! `split_data` does with `random.Random(seed)`; the orders differ from Python's.

use std::path::Path;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use reasoning_tokenizer::Tokenizer;
use reasoning_verifier::datasets::{RawRecord, as_object, json_type, read_json_records};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::DistillError;
use crate::sft::{AnswerStyle, SftExample, build_example, turn_end_id};

/// One teacher answer in the book's distillation format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistillRecord {
    /// The problem statement.
    pub problem: String,
    /// The reference answer.
    pub gtruth_answer: String,
    /// The teacher's reasoning (the text inside `<think>...</think>`; may be empty).
    pub message_thinking: String,
    /// The teacher's final message (after `</think>`), ending with `\boxed{...}`.
    pub message_content: String,
}

/// The required text fields of a record, in the order they are checked.
pub const RECORD_FIELDS: [&str; 4] = [
    "problem",
    "gtruth_answer",
    "message_thinking",
    "message_content",
];

/// How the teacher's thinking and content become the student's target text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetFormat {
    /// The book's `format_distilled_answer`: `<think>{thinking}</think>\n\n{content}`.
    #[default]
    Book,
    /// Qwen3's chat-template rendering: `<think>\n{thinking}\n</think>\n\n{content}`.
    Qwen3,
    /// No think tags (the book's scripts' default, exercise 8.2): `{thinking}\n\n{content}`,
    /// or the content alone without thinking; `<think>` and `</think>` written inside either
    /// field are removed.
    Plain,
}

impl std::str::FromStr for TargetFormat {
    type Err = DistillError;

    fn from_str(s: &str) -> Result<Self, DistillError> {
        match s.to_ascii_lowercase().as_str() {
            "book" => Ok(TargetFormat::Book),
            "qwen3" => Ok(TargetFormat::Qwen3),
            "plain" => Ok(TargetFormat::Plain),
            _ => Err(DistillError::Config(format!(
                "target format {s:?}: expected book, qwen3 or plain"
            ))),
        }
    }
}

/// Reads distillation records from a JSON array, a `{"records": [...]}` object or JSON Lines.
///
/// # Errors
/// The file cannot be read or parsed, or a record lacks one of [`RECORD_FIELDS`], has a
/// non-text value there, or has an empty `problem` or `message_content`. The message names the
/// file, the line the record starts on, the record's 0-based index and the field:
/// `traces.jsonl:7 (record 6): field "message_content" is empty`.
pub fn load_distill_records(path: &Path) -> Result<Vec<DistillRecord>, DistillError> {
    let raw = read_json_records(path).map_err(|e| DistillError::Data(e.to_string()))?;
    raw.iter()
        .enumerate()
        .map(|(index, r)| parse_record(r, index, path))
        .collect()
}

/// Converts one raw JSON record (record `index` of `path`) to a [`DistillRecord`].
pub fn parse_record(
    r: &RawRecord,
    index: usize,
    path: &Path,
) -> Result<DistillRecord, DistillError> {
    let at = |what: String| {
        DistillError::Data(format!(
            "{}:{} (record {index}): {what}",
            path.display(),
            r.line
        ))
    };
    let obj = as_object(r, path).map_err(|_| at("not a JSON object".to_string()))?;
    let text = |field: &str| -> Result<String, DistillError> {
        match obj.get(field) {
            None => Err(at(format!("missing field \"{field}\""))),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) if field == "gtruth_answer" => Ok(n.to_string()),
            Some(other) => Err(at(format!(
                "field \"{field}\" is {}, expected a string",
                json_type(other)
            ))),
        }
    };
    let record = DistillRecord {
        problem: text("problem")?,
        gtruth_answer: text("gtruth_answer")?,
        message_thinking: text("message_thinking")?,
        message_content: text("message_content")?,
    };
    for (field, value) in [
        ("problem", &record.problem),
        ("message_content", &record.message_content),
    ] {
        if value.trim().is_empty() {
            return Err(at(format!("field \"{field}\" is empty")));
        }
    }
    Ok(record)
}

/// Returns the student's target text for a record (the book's `format_distilled_answer`):
/// thinking and content stripped of surrounding whitespace, in `format`'s layout.
///
/// # Errors
/// The content is empty after stripping (the book raises `ValueError` there).
pub fn format_target(record: &DistillRecord, format: TargetFormat) -> Result<String, DistillError> {
    let content = record.message_content.trim();
    if content.is_empty() {
        return Err(DistillError::Data(format!(
            "record for problem {:?} has an empty message_content",
            preview(&record.problem)
        )));
    }
    let thinking = record.message_thinking.trim();
    Ok(match format {
        TargetFormat::Book => format!("<think>{thinking}</think>\n\n{content}"),
        TargetFormat::Qwen3 => format!("<think>\n{thinking}\n</think>\n\n{content}"),
        TargetFormat::Plain => {
            let untag = |t: &str| {
                t.replace("<think>", "")
                    .replace("</think>", "")
                    .trim()
                    .to_string()
            };
            let (thinking, content) = (untag(thinking), untag(content));
            if thinking.is_empty() {
                content
            } else {
                format!("{thinking}\n\n{content}")
            }
        }
    })
}

/// Splits a teacher's decoded answer into `(thinking, content)`: the text between `<think>`
/// and the first `</think>`, and the text after it, both stripped. An answer without
/// `</think>` is all content.
pub fn split_thinking(text: &str) -> (String, String) {
    match text.split_once("</think>") {
        Some((before, after)) => {
            let before = before.trim_start();
            let thinking = before.strip_prefix("<think>").unwrap_or(before);
            (thinking.trim().to_string(), after.trim().to_string())
        }
        None => (String::new(), text.trim().to_string()),
    }
}

/// Returns the first 60 characters of `text`, for error messages.
fn preview(text: &str) -> String {
    text.chars().take(60).collect()
}

/// Builds one SFT example per record: the chat-templated `render_prompt(problem)` with
/// thinking on, then the [`format_target`] text, then the end-of-turn id (the book's
/// `build_examples`).
///
/// # Errors
/// A record's target is empty or tokenizing fails; the message names the record's index.
pub fn build_examples(
    tok: &Tokenizer,
    records: &[DistillRecord],
    format: TargetFormat,
) -> Result<Vec<SftExample>, DistillError> {
    let eos = turn_end_id(tok)?;
    let mut examples = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let example = format_target(r, format)
            .and_then(|target| build_example(tok, &r.problem, &target, AnswerStyle::Reasoning, eos))
            .map_err(|e| DistillError::Data(format!("record {i}: {e}")))?;
        examples.push(example);
    }
    Ok(examples)
}

/// Token-length statistics of a set of examples (the book's `compute_length`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LengthStats {
    /// Examples counted.
    pub count: usize,
    /// Mean length in tokens.
    pub mean: f64,
    /// Shortest length.
    pub min: usize,
    /// Index of the (first) shortest example.
    pub min_index: usize,
    /// Longest length.
    pub max: usize,
    /// Index of the (first) longest example.
    pub max_index: usize,
}

/// Returns the length statistics of `examples`: whole sequences (prompt + answer + EOS), or
/// only the answer with its EOS when `answer_only`. `None` for an empty set.
pub fn length_stats(examples: &[SftExample], answer_only: bool) -> Option<LengthStats> {
    let lengths: Vec<usize> = examples
        .iter()
        .map(|e| {
            if answer_only {
                e.answer_len()
            } else {
                e.ids.len()
            }
        })
        .collect();
    let count = lengths.len();
    if count == 0 {
        return None;
    }
    let (mut min_index, mut max_index) = (0, 0);
    for (i, &l) in lengths.iter().enumerate() {
        if l < lengths[min_index] {
            min_index = i;
        }
        if l > lengths[max_index] {
            max_index = i;
        }
    }
    Some(LengthStats {
        count,
        mean: lengths.iter().sum::<usize>() as f64 / count as f64,
        min: lengths[min_index],
        min_index,
        max: lengths[max_index],
        max_index,
    })
}

/// Keeps the examples of at most `max_len` tokens (prompt + answer + EOS) and returns them
/// with the number dropped. Longer examples are dropped whole, never truncated (the book's
/// `filter_examples_by_max_len`).
pub fn filter_by_max_len(examples: Vec<SftExample>, max_len: usize) -> (Vec<SftExample>, usize) {
    let before = examples.len();
    let kept: Vec<SftExample> = examples
        .into_iter()
        .filter(|e| e.ids.len() <= max_len)
        .collect();
    let dropped = before - kept.len();
    (kept, dropped)
}

/// Shuffles `items` with a [`ChaCha8Rng`] seeded by `seed` and splits off the last `val_size`
/// as the validation set (the book's `split_data`). Returns `(train, val)`.
///
/// # Errors
/// `val_size` is 0 or leaves no training item.
pub fn split_train_val<T>(
    mut items: Vec<T>,
    val_size: usize,
    seed: u64,
) -> Result<(Vec<T>, Vec<T>), DistillError> {
    if val_size == 0 || val_size >= items.len() {
        return Err(DistillError::Config(format!(
            "validation size {val_size} must be between 1 and {} (the number of examples minus one)",
            items.len().saturating_sub(1)
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    items.shuffle(&mut rng);
    let val = items.split_off(items.len() - val_size);
    Ok((items, val))
}
