//! Supervised fine-tuning and distillation from reasoning traces (book chapter 8).
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
//! The SFT trainer knows no task: it trains on [`sft::SftExample`]s (prompt ids, answer ids),
//! whoever built them. The arithmetic task family and the embedded tiny model's recipe, which
//! train with it, live in the `reasoning-arith` crate above this one; the greedy held-out
//! accuracy that judges teacher and student is `reasoning_inference::evaluate_greedy`.
//!
//! # Modules
//!
//! - [`teacher`]: K samples per problem from any model (batched, one prefill per problem),
//!   graded by the chapter-3 verifier, appended to a resumable trace log.
//! - [`data`]: the book's record format (`problem`, `gtruth_answer`, `message_thinking`,
//!   `message_content`), target formatting, examples, length statistics, the drop-not-truncate
//!   length filter and the seeded train/validation split.
//! - [`sft`]: chat prompts and examples with the loss on the answer only, batches, and the
//!   training loop (gradient accumulation, checkpoints and resume on `reasoning-train`'s
//!   scaffold). With the ranks of a data-parallel run in its `RunFolder::collective`, each rank
//!   computes its share of every step's micro-batches, the gradients and the loss are summed
//!   over ranks, and rank 0 alone validates and writes (docs/distributed.md).
//!
//! # Example
//!
//! ```no_run
//! use reasoning_distill::data::{
//!     TargetFormat, build_examples, filter_by_max_len, load_distill_records,
//! };
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tok = reasoning_tokenizer::Tokenizer::load("models/tiny-arith")?;
//! let records = load_distill_records(std::path::Path::new("traces.jsonl"))?;
//! let examples = build_examples(&tok, &records, TargetFormat::Book)?;
//! let (kept, dropped) = filter_by_max_len(examples, 2048);
//! # let _ = (kept, dropped);
//! # Ok(())
//! # }
//! ```
//!
//! # Cargo features
//!
//! None.

#![deny(missing_docs)]

pub mod data;
mod error;
pub mod sft;
pub mod teacher;

pub use error::DistillError;
