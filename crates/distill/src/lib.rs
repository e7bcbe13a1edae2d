//! Supervised fine-tuning and distillation from reasoning traces (chapter 8)

pub mod arithmetic;
