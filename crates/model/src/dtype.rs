//! The storage precision of a model's weights.

use std::str::FromStr;

use crate::error::ModelError;

/// Precision of the weights and activations.
///
/// RMSNorm statistics and the attention softmax are always computed in f32, and logits are
/// returned in f32, whatever the weights' dtype (as the book and HF transformers do).
///
/// On the burn-flex CPU backend bf16 halves the memory, and decoding (which reads every weight
/// once per token) is faster than in f32: [`crate::kernels`] widens bf16 weights to f32 in
/// registers. Prefill and training go through burn's matmul, which converts bf16 operands to
/// f32 on every call, so they are slower than in f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DType {
    /// 32-bit floats: the reference precision and the default.
    #[default]
    F32,
    /// bfloat16: f32's range with an 8-bit mantissa; how Qwen3 checkpoints are published.
    BF16,
}

impl DType {
    /// The matching burn dtype.
    pub fn burn(self) -> burn::tensor::DType {
        match self {
            DType::F32 => burn::tensor::DType::F32,
            DType::BF16 => burn::tensor::DType::BF16,
        }
    }

    /// The name HF uses in `config.json` (`torch_dtype`): `float32` or `bfloat16`.
    pub fn hf_name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::BF16 => "bfloat16",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::BF16 => 2,
        }
    }
}

impl FromStr for DType {
    type Err = ModelError;

    /// Parses `f32`/`float32` or `bf16`/`bfloat16` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" => Ok(DType::F32),
            "bf16" | "bfloat16" => Ok(DType::BF16),
            _ => Err(ModelError::DType(s.into())),
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::BF16 => "bf16",
        })
    }
}
