//! GRPO and its variants: reinforcement learning with verifiable rewards (chapters 6 and 7)
