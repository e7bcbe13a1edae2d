//! Training utilities shared by the GRPO and SFT trainers.
