//! Supervised fine-tuning and distillation from reasoning traces (book chapter 8), plus the
//! task family and recipe of the project's embedded tiny reasoning model.

pub mod arithmetic;
mod error;
pub mod eval;
pub mod sft;
pub mod tiny;

pub use error::DistillError;
