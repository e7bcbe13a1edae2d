//! Loading `llama` and `qwen3` GGUF files (llama.cpp's format).
//!
//! The configuration comes from the metadata ([`Config::from_gguf`]); tensors are renamed from
//! llama.cpp's names to HF's and dequantised to f32 by `reasoning-gguf` (F32, F16, BF16, Q8_0,
//! Q4_0, Q4_1, Q4_K, Q6_K), then pass the same checks as safetensors checkpoints.
//!
//! ```text
//! token_embd.weight            model.embed_tokens.weight
//! blk.N.attn_norm.weight       model.layers.N.input_layernorm.weight
//! blk.N.attn_q|k|v.weight      model.layers.N.self_attn.q_proj|k_proj|v_proj.weight
//! blk.N.attn_output.weight     model.layers.N.self_attn.o_proj.weight
//! blk.N.attn_q_norm|k_norm     model.layers.N.self_attn.q_norm|k_norm.weight     (qwen3)
//! blk.N.ffn_norm.weight        model.layers.N.post_attention_layernorm.weight
//! blk.N.ffn_gate|up|down       model.layers.N.mlp.gate_proj|up_proj|down_proj.weight
//! output_norm.weight           model.norm.weight
//! output.weight                lm_head.weight                                    (untied)
//! ```
//!
//! llama.cpp applies RoPE to neighbouring pairs (`2i`, `2i+1`), so its converter
//! (`convert_hf_to_gguf.py`, `LlamaModel.permute`) reorders the rows of every Llama query and
//! key projection, head by head, from HF's split halves to interleaved pairs:
//!
//! ```text
//! gguf_row(h, 2i + j) = hf_row(h, j · d/2 + i)     h = head, i < d/2, j ∈ {0, 1}, d = head_dim
//! ```
//!
//! This loader inverts that. Qwen3 GGUFs are converted without the permutation (llama.cpp runs
//! Qwen models with the split-halves "NEOX" RoPE), so their rows are used as they are.

use std::path::Path;

use burn::tensor::Device;
use reasoning_gguf::GgufFile;

use crate::DType;
use crate::config::{Architecture, Config};
use crate::error::{ModelError, Result};
use crate::model::Model;
use crate::weights::{Checked, TensorSource, build};

/// llama.cpp's per-block tensor names and the HF module paths they hold.
const BLOCK_NAMES: [(&str, &str); 11] = [
    ("attn_norm", "input_layernorm"),
    ("attn_q", "self_attn.q_proj"),
    ("attn_k", "self_attn.k_proj"),
    ("attn_v", "self_attn.v_proj"),
    ("attn_output", "self_attn.o_proj"),
    ("attn_q_norm", "self_attn.q_norm"),
    ("attn_k_norm", "self_attn.k_norm"),
    ("ffn_norm", "post_attention_layernorm"),
    ("ffn_gate", "mlp.gate_proj"),
    ("ffn_up", "mlp.up_proj"),
    ("ffn_down", "mlp.down_proj"),
];

/// The HF name of a GGUF tensor, if it is one the decoder uses.
pub fn gguf_to_hf(name: &str) -> Option<String> {
    match name {
        "token_embd.weight" => return Some("model.embed_tokens.weight".into()),
        "output_norm.weight" => return Some("model.norm.weight".into()),
        "output.weight" => return Some("lm_head.weight".into()),
        _ => {}
    }
    let rest = name.strip_prefix("blk.")?;
    let (layer, rest) = rest.split_once('.')?;
    let module = rest.strip_suffix(".weight")?;
    layer.parse::<usize>().ok()?;
    let hf = BLOCK_NAMES.iter().find(|(g, _)| *g == module)?.1;
    Some(format!("model.layers.{layer}.{hf}.weight"))
}

/// The GGUF name of an HF tensor, if the decoder has one.
pub fn hf_to_gguf(name: &str) -> Option<String> {
    match name {
        "model.embed_tokens.weight" => return Some("token_embd.weight".into()),
        "model.norm.weight" => return Some("output_norm.weight".into()),
        "lm_head.weight" => return Some("output.weight".into()),
        _ => {}
    }
    let rest = name.strip_prefix("model.layers.")?;
    let (layer, rest) = rest.split_once('.')?;
    let module = rest.strip_suffix(".weight")?;
    let gguf = BLOCK_NAMES.iter().find(|(_, h)| *h == module)?.0;
    Some(format!("blk.{layer}.{gguf}.weight"))
}

/// Undoes llama.cpp's interleaved-RoPE row permutation of a `[heads · head_dim, cols]` matrix.
pub fn unpermute_rows(values: &[f32], heads: usize, cols: usize) -> Vec<f32> {
    let rows = values.len() / cols;
    let head_dim = rows / heads;
    let half = head_dim / 2;
    let mut out = vec![0f32; values.len()];
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let src = h * head_dim + 2 * i + j;
                let dst = h * head_dim + j * half + i;
                out[dst * cols..(dst + 1) * cols]
                    .copy_from_slice(&values[src * cols..(src + 1) * cols]);
            }
        }
    }
    out
}

/// A GGUF file seen through HF tensor names.
pub(crate) struct GgufSource {
    file: GgufFile,
    origin: String,
    arch: Architecture,
    heads: usize,
    kv_heads: usize,
}

impl GgufSource {
    pub fn new(file: GgufFile, config: &Config) -> Self {
        GgufSource {
            origin: file.path().display().to_string(),
            file,
            arch: config.model_type,
            heads: config.num_attention_heads,
            kv_heads: config.num_key_value_heads,
        }
    }
}

impl TensorSource for GgufSource {
    fn origin(&self) -> &str {
        &self.origin
    }

    fn names(&self) -> Vec<String> {
        // Tensors without an HF name keep their GGUF name, so they show up as unexpected.
        self.file
            .tensors()
            .iter()
            .map(|t| gguf_to_hf(&t.name).unwrap_or_else(|| t.name.clone()))
            .collect()
    }

    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        let gguf = hf_to_gguf(name)?;
        self.file.tensor_info(&gguf).ok().map(|t| t.shape.clone())
    }

    fn read_f32(&self, name: &str) -> Result<Vec<f32>> {
        let gguf = hf_to_gguf(name).ok_or_else(|| ModelError::MissingTensor {
            origin: self.origin.clone(),
            name: name.into(),
        })?;
        let (shape, values) = self.file.tensor_f32(&gguf)?;
        if self.arch == Architecture::Llama {
            let cols = shape.get(1).copied().unwrap_or(1);
            if name.ends_with("self_attn.q_proj.weight") {
                return Ok(unpermute_rows(&values, self.heads, cols));
            }
            if name.ends_with("self_attn.k_proj.weight") {
                return Ok(unpermute_rows(&values, self.kv_heads, cols));
            }
        }
        Ok(values)
    }
}

impl Model {
    /// Loads a `llama` or `qwen3` GGUF file, dequantising every tensor to f32 and then
    /// converting to `dtype`.
    pub fn load_gguf(path: &Path, device: &Device, dtype: DType) -> Result<Self> {
        let file = GgufFile::open(path)?;
        let config = Config::from_gguf(&file)?;
        let source = GgufSource::new(file, &config);
        let mut checked = Checked::new(&source);
        let model = build(&config, device, dtype, &mut checked)?;
        checked.finish(&config)?;
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gguf_and_hf_names_map_both_ways() {
        for hf in [
            "model.embed_tokens.weight",
            "model.norm.weight",
            "lm_head.weight",
            "model.layers.12.self_attn.k_norm.weight",
            "model.layers.0.mlp.down_proj.weight",
            "model.layers.3.post_attention_layernorm.weight",
        ] {
            let gguf = hf_to_gguf(hf).unwrap();
            assert_eq!(gguf_to_hf(&gguf).as_deref(), Some(hf), "{gguf}");
        }
        assert_eq!(
            hf_to_gguf("model.layers.1.self_attn.o_proj.weight").unwrap(),
            "blk.1.attn_output.weight"
        );
        assert_eq!(gguf_to_hf("rope_freqs.weight"), None);
        assert_eq!(gguf_to_hf("blk.x.attn_q.weight"), None);
    }

    #[test]
    fn unpermute_inverts_llama_cpp_permute() {
        // llama.cpp: w.reshape(heads, 2, d/2, cols).swapaxes(1, 2).reshape(rows, cols).
        let (heads, head_dim, cols) = (2, 6, 3);
        let rows = heads * head_dim;
        let hf: Vec<f32> = (0..rows * cols).map(|x| x as f32).collect();
        let mut gguf = vec![0f32; hf.len()];
        let half = head_dim / 2;
        for h in 0..heads {
            for j in 0..2 {
                for i in 0..half {
                    // Source index in [heads, 2, half] order lands at [heads, half, 2] order.
                    let src = h * head_dim + j * half + i;
                    let dst = h * head_dim + i * 2 + j;
                    gguf[dst * cols..(dst + 1) * cols]
                        .copy_from_slice(&hf[src * cols..(src + 1) * cols]);
                }
            }
        }
        assert_ne!(gguf, hf);
        assert_eq!(unpermute_rows(&gguf, heads, cols), hf);
    }
}
