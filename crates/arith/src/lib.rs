//! The arithmetic task family and the recipe of the project's embedded tiny reasoning model
//! (`models/tiny-arith`), the model every chapter's command runs on by default.
//!
//! Real reasoning datasets are far beyond a model small enough to train on a 2-core CPU in
//! minutes, so the workspace ships its own verifiable task: integer expressions of one to three
//! operations and word problems, each with a worked solution, one operation per line, and a
//! single checkable answer. A 1.7 M-parameter Qwen3 is trained on it from scratch with the
//! chapter-8 SFT trainer ([`reasoning_distill::sft`]) in three phases:
//!
//! ```text
//! phase 1  drill      loss on every token of packed solution lines      a op b = c\n ...
//! phase 2  SFT        chat prompt → <think>\n{steps}\n</think>\n\n\boxed{N}   (80%)
//!                     chat prompt (thinking off) → \boxed{N}                  (20%)
//! phase 3  habit      a quarter of the reasoning answers skip it: <think>\n\n</think>\n\n\boxed{N}
//! ```
//!
//! This crate sits above `reasoning-distill` in the workspace's layers: the chapter crates
//! know no task, and this one is the task a reader can swap for their own.
//!
//! # Modules
//!
//! - [`task`]: expressions, the five difficulty levels, the seeded generator, disjoint splits
//!   and records in MATH-500 layout (JSON Lines, `datasets/arith/`).
//! - [`targets`]: what the model is trained to write: reasoning and direct answers, SFT
//!   examples in a seeded mix of styles, drill sequences.
//! - [`tiny`]: the tiny model's tokenizer (byte-level BPE with Qwen3's pre-tokenizer), chat
//!   template, architecture and the three-phase recipe ([`tiny::pretrain`]).
//! - [`measure`]: greedy, sampled, majority-vote and pass@k accuracy on the task, the table of
//!   the model card.
//!
//! # Example
//!
//! ```no_run
//! use reasoning_arith::task::{SplitConfig, make_splits, records};
//! use reasoning_arith::measure::{MeasureConfig, measure};
//! use reasoning_model::{DType, Device, Model};
//! use reasoning_tokenizer::Tokenizer;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The committed splits, regenerated (`cargo xtask make-datasets` writes them).
//! let splits = make_splits(&SplitConfig::default())?;
//! let (train, test) = (records(&splits.train, "train"), records(&splits.test, "test"));
//! let dir = std::path::Path::new("models/tiny-arith");
//! let tok = Tokenizer::load(dir)?;
//! let model = Model::load(dir, &Device::flex(), DType::F32)?;
//! let report = measure(&model, &tok, &test, &train, &MeasureConfig::default())?;
//! println!("greedy accuracy {:.1}%", 100.0 * report.greedy_reasoning.accuracy);
//! # Ok(())
//! # }
//! ```
//!
//! # Cargo features
//!
//! None.

mod error;
pub mod measure;
pub mod targets;
pub mod task;
pub mod tiny;

pub use error::ArithError;
pub use task::{ArithProblem, ArithRecord};
