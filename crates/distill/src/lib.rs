//! Supervised fine-tuning and distillation from reasoning traces (book chapter 8), plus the
//! task family and recipe of the project's embedded tiny reasoning model.
//!
//! # Chapter 8: distillation from reasoning traces
//!
//! A teacher answers training problems; the student is fine-tuned (SFT, loss on the answer
//! only) to write the teacher's reasoning and answer after the problem's prompt:
//!
//! ```text
//! traces   y ~ π_teacher(· | x),  kept when grade(box(y), a) (rejection sampling, optional)
//! target   "<think>" + thinking(y) + "</think>\n\n" + content(y)             the book's format
//! loss     −(1/|y|) Σ_t log π_student(y_t | x, y_<t)                         per example, averaged
//! ```
//!
//! - [`teacher`]: K samples per problem from any model (batched, one prefill per problem),
//!   graded by the chapter-3 verifier, appended to a resumable trace log; greedy held-out
//!   accuracy.
//! - [`data`]: the book's record format (`problem`, `gtruth_answer`, `message_thinking`,
//!   `message_content`), target formatting, examples, length statistics, the drop-not-truncate
//!   length filter and the seeded train/validation split.
//! - [`sft`]: the trainer both the tiny model and distillation use.
//!
//! ```no_run
//! use reasoning_distill::data::{TargetFormat, build_examples, filter_by_max_len, load_records};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tok = reasoning_tokenizer::Tokenizer::load("models/tiny-arith")?;
//! let records = load_records(std::path::Path::new("traces.jsonl"))?;
//! let examples = build_examples(&tok, &records, TargetFormat::Book)?;
//! let (kept, dropped) = filter_by_max_len(examples, 2048);
//! # let _ = (kept, dropped);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

pub mod arithmetic;
pub mod data;
mod error;
pub mod eval;
pub mod sft;
pub mod teacher;
pub mod tiny;

pub use error::DistillError;
