//! The model's hyper-parameters, read from HF `config.json`, from GGUF metadata, or a preset.
//!
//! Field names are the HF `config.json` keys, so a checkpoint's config reads as-is; each doc
//! gives the book's name for the same number (`emb_dim`, `n_heads`, ...).
//!
//! ```text
//! q_dim  = num_attention_heads * head_dim       width of the query projection
//! kv_dim = num_key_value_heads * head_dim       width of the key and value projections
//! group  = num_attention_heads / num_key_value_heads   query heads sharing one K/V head
//! ```
//!
//! Qwen3 sets `head_dim` explicitly (128 for every size, so Qwen3-0.6B has `q_dim` 2048 with
//! `hidden_size` 1024); Llama-family configs usually omit it, and it defaults to
//! `hidden_size / num_attention_heads`.

use std::path::Path;

use reasoning_gguf::GgufFile;
use serde::{Deserialize, Serialize};

use crate::DType;
use crate::error::{ModelError, Result};

/// Which decoder family a checkpoint belongs to (`model_type` in `config.json`,
/// `general.architecture` in GGUF).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// Qwen3: RMS-normalised queries and keys (QK-norm) before RoPE.
    Qwen3,
    /// Llama family (Llama 2/3 without rope scaling, SmolLM2, TinyLlama): no QK-norm.
    Llama,
}

impl Architecture {
    /// The name used by `config.json`'s `model_type` and GGUF's `general.architecture`.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Qwen3 => "qwen3",
            Architecture::Llama => "llama",
        }
    }

    /// The HF transformers class that loads this architecture (`architectures` in
    /// `config.json`).
    pub fn hf_class(self) -> &'static str {
        match self {
            Architecture::Qwen3 => "Qwen3ForCausalLM",
            Architecture::Llama => "LlamaForCausalLM",
        }
    }

    /// Whether queries and keys are RMS-normalised per head before RoPE.
    pub fn has_qk_norm(self) -> bool {
        matches!(self, Architecture::Qwen3)
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "qwen3" => Some(Architecture::Qwen3),
            "llama" => Some(Architecture::Llama),
            _ => None,
        }
    }
}

impl std::fmt::Display for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Hyper-parameters of a Qwen3 or Llama-family decoder.
///
/// Deserialises from an HF `config.json` with its exact key names (unknown keys are ignored;
/// keys for features this crate does not implement, such as `rope_scaling`, are refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawConfig")]
pub struct Config {
    /// Decoder family (HF `model_type`).
    pub model_type: Architecture,
    /// Number of token ids (book: `vocab_size`).
    pub vocab_size: usize,
    /// Width of the residual stream (book: `emb_dim`).
    pub hidden_size: usize,
    /// Width of the SwiGLU feed-forward layer (book: `hidden_dim`).
    pub intermediate_size: usize,
    /// Number of transformer blocks (book: `n_layers`).
    pub num_hidden_layers: usize,
    /// Number of query heads (book: `n_heads`).
    pub num_attention_heads: usize,
    /// Number of key/value heads shared by groups of query heads (book: `n_kv_groups`).
    pub num_key_value_heads: usize,
    /// Width of one attention head (book: `head_dim`).
    pub head_dim: usize,
    /// The epsilon inside every RMSNorm's square root.
    pub rms_norm_eps: f64,
    /// RoPE base frequency θ (book: `rope_base`).
    pub rope_theta: f64,
    /// Longest sequence the RoPE tables cover (book: `context_length`).
    pub max_position_embeddings: usize,
    /// Whether the output head reuses the token embedding matrix (no `lm_head.weight`).
    pub tie_word_embeddings: bool,
    /// Beginning-of-sequence token id, when the checkpoint names one.
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    /// End-of-sequence token ids (HF allows one id or a list).
    #[serde(default)]
    pub eos_token_id: Vec<u32>,
}

/// `rope_parameters` as transformers 5 writes it.
#[derive(Deserialize)]
struct RopeParameters {
    rope_theta: Option<f64>,
    rope_type: Option<String>,
}

/// `config.json` as written by HF (transformers 4 and 5), before validation.
#[derive(Deserialize)]
struct RawConfig {
    model_type: String,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: Option<f64>,
    rope_theta: Option<f64>,
    rope_parameters: Option<RopeParameters>,
    rope_scaling: Option<serde_json::Value>,
    max_position_embeddings: Option<usize>,
    tie_word_embeddings: Option<bool>,
    hidden_act: Option<String>,
    attention_bias: Option<bool>,
    mlp_bias: Option<bool>,
    use_sliding_window: Option<bool>,
    bos_token_id: Option<TokenIds>,
    eos_token_id: Option<TokenIds>,
}

/// HF allows `eos_token_id` to be one id, a list of ids, or null.
#[derive(Deserialize)]
#[serde(untagged)]
enum TokenIds {
    One(u32),
    Many(Vec<u32>),
}

impl TokenIds {
    fn into_vec(self) -> Vec<u32> {
        match self {
            TokenIds::One(id) => vec![id],
            TokenIds::Many(ids) => ids,
        }
    }
}

impl TryFrom<RawConfig> for Config {
    type Error = String;

    fn try_from(raw: RawConfig) -> std::result::Result<Self, String> {
        let model_type = Architecture::parse(&raw.model_type).ok_or_else(|| {
            format!(
                "model_type: {:?} is not supported (expected qwen3 or llama)",
                raw.model_type
            )
        })?;
        if let Some(act) = &raw.hidden_act
            && act != "silu"
        {
            return Err(format!(
                "hidden_act: {act:?} is not supported (expected \"silu\")"
            ));
        }
        if raw.attention_bias == Some(true) {
            return Err("attention_bias: true is not supported (projections have no bias)".into());
        }
        if raw.mlp_bias == Some(true) {
            return Err("mlp_bias: true is not supported (projections have no bias)".into());
        }
        if raw.use_sliding_window == Some(true) {
            return Err("use_sliding_window: true is not supported (full attention only)".into());
        }
        if let Some(scaling) = &raw.rope_scaling
            && !scaling.is_null()
        {
            return Err(format!(
                "rope_scaling: {scaling} is not supported (plain RoPE only)"
            ));
        }
        let mut rope_theta = raw.rope_theta;
        if let Some(params) = &raw.rope_parameters {
            if let Some(kind) = &params.rope_type
                && kind != "default"
            {
                return Err(format!(
                    "rope_parameters.rope_type: {kind:?} is not supported (plain RoPE only)"
                ));
            }
            rope_theta = rope_theta.or(params.rope_theta);
        }
        if raw.num_attention_heads == 0 {
            return Err("num_attention_heads: must be positive".into());
        }
        let head_dim = match raw.head_dim {
            Some(d) => d,
            None => {
                if !raw.hidden_size.is_multiple_of(raw.num_attention_heads) {
                    return Err(format!(
                        "head_dim: absent, and hidden_size {} is not a multiple of \
                         num_attention_heads {}",
                        raw.hidden_size, raw.num_attention_heads
                    ));
                }
                raw.hidden_size / raw.num_attention_heads
            }
        };
        let config = Config {
            model_type,
            vocab_size: raw.vocab_size,
            hidden_size: raw.hidden_size,
            intermediate_size: raw.intermediate_size,
            num_hidden_layers: raw.num_hidden_layers,
            num_attention_heads: raw.num_attention_heads,
            num_key_value_heads: raw.num_key_value_heads.unwrap_or(raw.num_attention_heads),
            head_dim,
            rms_norm_eps: raw.rms_norm_eps.unwrap_or(1e-6),
            rope_theta: rope_theta.unwrap_or(10_000.0),
            max_position_embeddings: raw.max_position_embeddings.unwrap_or(match model_type {
                Architecture::Qwen3 => 32_768,
                Architecture::Llama => 2048,
            }),
            tie_word_embeddings: raw.tie_word_embeddings.unwrap_or(false),
            bos_token_id: raw
                .bos_token_id
                .and_then(|ids| ids.into_vec().first().copied()),
            eos_token_id: raw.eos_token_id.map(TokenIds::into_vec).unwrap_or_default(),
        };
        config
            .check()
            .map_err(|(field, reason)| format!("{field}: {reason}"))?;
        Ok(config)
    }
}

impl Config {
    /// The names [`preset`](Self::preset) knows, in the order it lists them.
    pub const PRESETS: [&'static str; 7] = [
        "qwen3-0.6b",
        "qwen3-1.7b",
        "qwen3-4b",
        "qwen3-8b",
        "qwen3-14b",
        "qwen3-32b",
        "smollm2-135m",
    ];

    /// A preset by name (`qwen3-0.6b` ... `qwen3-32b`, `smollm2-135m`; case-insensitive).
    ///
    /// # Errors
    /// [`ModelError::Config`] listing [`PRESETS`](Self::PRESETS) for an unknown name.
    pub fn preset(name: &str) -> Result<Self> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "qwen3-0.6b" => Self::qwen3_0_6b(),
            "qwen3-1.7b" => Self::qwen3_1_7b(),
            "qwen3-4b" => Self::qwen3_4b(),
            "qwen3-8b" => Self::qwen3_8b(),
            "qwen3-14b" => Self::qwen3_14b(),
            "qwen3-32b" => Self::qwen3_32b(),
            "smollm2-135m" => Self::smollm2_135m(),
            _ => {
                return Err(ModelError::Config {
                    origin: "preset".into(),
                    field: "name".into(),
                    reason: format!(
                        "unknown preset {name:?}; known: {}",
                        Self::PRESETS.join(", ")
                    ),
                });
            }
        })
    }

    /// Qwen3-0.6B (`Qwen/Qwen3-0.6B` and `Qwen/Qwen3-0.6B-Base`), the book's model.
    pub fn qwen3_0_6b() -> Self {
        Self::qwen3(1024, 3072, 28, 16, true)
    }

    /// Qwen3-1.7B.
    pub fn qwen3_1_7b() -> Self {
        Self::qwen3(2048, 6144, 28, 16, true)
    }

    /// Qwen3-4B.
    pub fn qwen3_4b() -> Self {
        Self::qwen3(2560, 9728, 36, 32, true)
    }

    /// Qwen3-8B.
    pub fn qwen3_8b() -> Self {
        Self::qwen3(4096, 12288, 36, 32, false)
    }

    /// Qwen3-14B.
    pub fn qwen3_14b() -> Self {
        Self::qwen3(5120, 17408, 40, 40, false)
    }

    /// Qwen3-32B.
    pub fn qwen3_32b() -> Self {
        Self::qwen3(5120, 25600, 64, 64, false)
    }

    /// The dense Qwen3 family: vocabulary 151,936, 8 K/V heads of width 128, θ = 10⁶,
    /// 40,960 positions (the numbers of the official `config.json` files).
    fn qwen3(hidden: usize, ffn: usize, layers: usize, heads: usize, tied: bool) -> Self {
        Config {
            model_type: Architecture::Qwen3,
            vocab_size: 151_936,
            hidden_size: hidden,
            intermediate_size: ffn,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            num_key_value_heads: 8,
            head_dim: 128,
            rms_norm_eps: 1e-6,
            rope_theta: 1_000_000.0,
            max_position_embeddings: 40_960,
            tie_word_embeddings: tied,
            bos_token_id: Some(151_643),
            eos_token_id: vec![151_645],
        }
    }

    /// SmolLM2-135M(-Instruct): a 30-layer Llama with tied embeddings, 9 query and 3 K/V heads
    /// of width 64.
    pub fn smollm2_135m() -> Self {
        Config {
            model_type: Architecture::Llama,
            vocab_size: 49_152,
            hidden_size: 576,
            intermediate_size: 1536,
            num_hidden_layers: 30,
            num_attention_heads: 9,
            num_key_value_heads: 3,
            head_dim: 64,
            rms_norm_eps: 1e-5,
            rope_theta: 100_000.0,
            max_position_embeddings: 8192,
            tie_word_embeddings: true,
            bos_token_id: Some(1),
            eos_token_id: vec![2],
        }
    }

    /// Returns this configuration shrunk to a test-sized decoder of the same family: 2 layers
    /// of 4 query heads sharing 2 K/V heads of width `head_dim`, a residual stream of width
    /// `hidden_size` and a feed-forward of width `intermediate_size` (the arguments follow the
    /// fields' order). Vocabulary, context, RoPE base, norms, tying and special ids are kept.
    ///
    /// With [`Model::init`](crate::Model::init)'s seeded random weights such a model runs and
    /// trains in seconds on a CPU, for tests and examples.
    ///
    /// ```
    /// use reasoning_model::Config;
    /// let c = Config::qwen3_0_6b().shrunk(64, 128, 16);
    /// assert_eq!((c.num_hidden_layers, c.q_dim(), c.kv_dim()), (2, 64, 32));
    /// assert_eq!(c.vocab_size, Config::qwen3_0_6b().vocab_size);
    /// ```
    pub fn shrunk(self, hidden_size: usize, intermediate_size: usize, head_dim: usize) -> Self {
        Config {
            hidden_size,
            intermediate_size,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            head_dim,
            ..self
        }
    }

    /// A 2-layer Qwen3 of width 64 over `vocab_size` ids that ends a turn with `eos_token_id`:
    /// Qwen3-0.6B [`shrunk`](Self::shrunk) to 4 query heads sharing 2 K/V heads of width 16
    /// and a feed-forward of width 128, with θ = 10⁴, 1024 positions, tied embeddings and no
    /// BOS. The shape of the byte-level test models (256 byte ids and a few specials).
    pub fn tiny_qwen3(vocab_size: usize, eos_token_id: u32) -> Self {
        Config {
            vocab_size,
            rope_theta: 10_000.0,
            max_position_embeddings: 1024,
            bos_token_id: None,
            eos_token_id: vec![eos_token_id],
            ..Self::qwen3_0_6b().shrunk(64, 128, 16)
        }
    }

    /// Parses an HF `config.json` file.
    pub fn from_json_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(ModelError::io(path))?;
        Self::from_json_str(&text, &path.display().to_string())
    }

    /// Parses the text of an HF `config.json`; `origin` names it in errors.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Self> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let field = if field == "." {
                field_of_message(e.inner())
            } else {
                field
            };
            ModelError::Config {
                origin: origin.into(),
                field,
                reason: e.inner().to_string(),
            }
        })?;
        Config::try_from(raw).map_err(|msg| {
            let (field, reason) = msg.split_once(": ").unwrap_or(("?", &msg));
            ModelError::Config {
                origin: origin.into(),
                field: field.into(),
                reason: reason.into(),
            }
        })
    }

    /// Reads the configuration of a `llama` or `qwen3` GGUF file from its metadata
    /// (`<arch>.block_count`, `<arch>.embedding_length`, ...) and tensor directory (the
    /// vocabulary size from `token_embd.weight`, tied embeddings when `output.weight` is absent).
    pub fn from_gguf(gguf: &GgufFile) -> Result<Self> {
        let origin = gguf.path().display().to_string();
        let arch_name = gguf.metadata_str("general.architecture")?;
        let model_type = Architecture::parse(arch_name).ok_or_else(|| ModelError::Unsupported {
            origin: origin.clone(),
            what: format!("general.architecture {arch_name:?} (expected llama or qwen3)"),
        })?;
        let key = |k: &str| format!("{arch_name}.{k}");
        let usize_of = |k: &str| -> Result<usize> {
            let v = gguf.metadata_u64(&key(k))?;
            usize::try_from(v).map_err(|_| ModelError::Config {
                origin: origin.clone(),
                field: key(k),
                reason: format!("{v} does not fit in usize"),
            })
        };
        let optional_usize = |k: &str| -> Result<Option<usize>> {
            if gguf.get(&key(k)).is_some() {
                usize_of(k).map(Some)
            } else {
                Ok(None)
            }
        };
        if let Some(v) = gguf.get(&key("rope.scaling.type"))
            && v.as_str() != Some("none")
        {
            return Err(ModelError::Unsupported {
                origin,
                what: format!("{} {v:?} (plain RoPE only)", key("rope.scaling.type")),
            });
        }
        if gguf.tensor_info("rope_freqs.weight").is_ok() {
            return Err(ModelError::Unsupported {
                origin,
                what: "tensor rope_freqs.weight (Llama 3 rope scaling)".into(),
            });
        }
        let hidden_size = usize_of("embedding_length")?;
        let num_attention_heads = usize_of("attention.head_count")?;
        if num_attention_heads == 0 {
            return Err(ModelError::Config {
                origin,
                field: key("attention.head_count"),
                reason: "must be positive".into(),
            });
        }
        let head_dim = match optional_usize("attention.key_length")? {
            Some(d) => d,
            None => hidden_size / num_attention_heads,
        };
        let embed = gguf.tensor_info("token_embd.weight")?;
        let vocab_size = match optional_usize("vocab_size")? {
            Some(v) => v,
            None => embed.shape.first().copied().unwrap_or(0),
        };
        let meta_id = |k: &str| gguf.get(k).and_then(|v| v.as_u64()).map(|v| v as u32);
        let config = Config {
            model_type,
            vocab_size,
            hidden_size,
            intermediate_size: usize_of("feed_forward_length")?,
            num_hidden_layers: usize_of("block_count")?,
            num_attention_heads,
            num_key_value_heads: optional_usize("attention.head_count_kv")?
                .unwrap_or(num_attention_heads),
            head_dim,
            rms_norm_eps: gguf.metadata_f64(&key("attention.layer_norm_rms_epsilon"))?,
            rope_theta: match gguf.get(&key("rope.freq_base")) {
                Some(_) => gguf.metadata_f64(&key("rope.freq_base"))?,
                None => 10_000.0,
            },
            max_position_embeddings: usize_of("context_length")?,
            tie_word_embeddings: gguf.tensor_info("output.weight").is_err(),
            bos_token_id: meta_id("tokenizer.ggml.bos_token_id"),
            eos_token_id: meta_id("tokenizer.ggml.eos_token_id").into_iter().collect(),
        };
        config
            .check()
            .map_err(|(field, reason)| ModelError::Config {
                origin,
                field: gguf_field(arch_name, field),
                reason,
            })?;
        Ok(config)
    }

    /// Checks the numbers are consistent; returns the offending HF field and why.
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("head_dim", self.head_dim),
            ("max_position_embeddings", self.max_position_embeddings),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err((field, "must be positive".into()));
            }
        }
        if !self
            .num_attention_heads
            .is_multiple_of(self.num_key_value_heads)
        {
            return Err((
                "num_key_value_heads",
                format!(
                    "{} does not divide num_attention_heads {}",
                    self.num_key_value_heads, self.num_attention_heads
                ),
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err((
                "head_dim",
                format!("{} is odd; RoPE needs pairs", self.head_dim),
            ));
        }
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps > 0.0) {
            return Err((
                "rms_norm_eps",
                format!("{} is not a positive number", self.rms_norm_eps),
            ));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 1.0) {
            return Err((
                "rope_theta",
                format!("{} is not a number above 1", self.rope_theta),
            ));
        }
        Ok(())
    }

    /// Checks the configuration (after editing a preset, say); errors name the field.
    pub fn validate(&self) -> Result<()> {
        self.check().map_err(|(field, reason)| ModelError::Config {
            origin: "config".into(),
            field: field.into(),
            reason,
        })
    }

    /// Width of the query projection, `num_attention_heads * head_dim`.
    pub fn q_dim(&self) -> usize {
        self.num_attention_heads * self.head_dim
    }

    /// Width of the key and value projections, `num_key_value_heads * head_dim`.
    pub fn kv_dim(&self) -> usize {
        self.num_key_value_heads * self.head_dim
    }

    /// Query heads per key/value head.
    pub fn group_size(&self) -> usize {
        self.num_attention_heads / self.num_key_value_heads
    }

    /// Number of trainable parameters (the tied head counted once).
    pub fn num_parameters(&self) -> usize {
        let (h, q, kv, f) = (
            self.hidden_size,
            self.q_dim(),
            self.kv_dim(),
            self.intermediate_size,
        );
        let qk_norm = if self.model_type.has_qk_norm() {
            2 * self.head_dim
        } else {
            0
        };
        let block = h * q + 2 * h * kv + q * h + 3 * h * f + 2 * h + qk_norm;
        let head = if self.tie_word_embeddings {
            0
        } else {
            self.vocab_size * h
        };
        self.vocab_size * h + self.num_hidden_layers * block + h + head
    }

    /// The HF `config.json` for this configuration, as `save_pretrained` would write it
    /// (`architectures`, `torch_dtype`, both the transformers 4 `rope_theta` key and the
    /// transformers 5 `rope_parameters` block).
    pub fn to_hf_json(&self, dtype: DType) -> serde_json::Value {
        let mut v = serde_json::json!({
            "architectures": [self.model_type.hf_class()],
            "model_type": self.model_type.name(),
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "rope_scaling": null,
            "rope_parameters": {"rope_theta": self.rope_theta, "rope_type": "default"},
            "max_position_embeddings": self.max_position_embeddings,
            "tie_word_embeddings": self.tie_word_embeddings,
            "hidden_act": "silu",
            "attention_bias": false,
            "attention_dropout": 0.0,
            "initializer_range": 0.02,
            "use_cache": true,
            "torch_dtype": dtype.hf_name(),
        });
        let map = v.as_object_mut().expect("a JSON object literal");
        if self.model_type == Architecture::Llama {
            map.insert("mlp_bias".into(), false.into());
        } else {
            map.insert("use_sliding_window".into(), false.into());
        }
        if let Some(bos) = self.bos_token_id {
            map.insert("bos_token_id".into(), bos.into());
        }
        match self.eos_token_id.as_slice() {
            [] => {}
            [one] => {
                map.insert("eos_token_id".into(), (*one).into());
            }
            many => {
                map.insert("eos_token_id".into(), many.to_vec().into());
            }
        }
        v
    }
}

/// serde reports a missing field at the path of its parent ("."); take the name from the
/// message ("missing field `hidden_size`") instead.
fn field_of_message(err: &serde_json::Error) -> String {
    let msg = err.to_string();
    msg.split('`')
        .nth(1)
        .map(str::to_string)
        .unwrap_or_else(|| ".".into())
}

/// The GGUF metadata key that holds an HF field.
fn gguf_field(arch: &str, hf_field: &str) -> String {
    let suffix = match hf_field {
        "vocab_size" => "vocab_size",
        "hidden_size" => "embedding_length",
        "intermediate_size" => "feed_forward_length",
        "num_hidden_layers" => "block_count",
        "num_attention_heads" => "attention.head_count",
        "num_key_value_heads" => "attention.head_count_kv",
        "head_dim" => "attention.key_length",
        "rms_norm_eps" => "attention.layer_norm_rms_epsilon",
        "rope_theta" => "rope.freq_base",
        "max_position_embeddings" => "context_length",
        other => other,
    };
    format!("{arch}.{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const QWEN3_0_6B_JSON: &str = r#"{
      "architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
      "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu",
      "hidden_size": 1024, "initializer_range": 0.02, "intermediate_size": 3072,
      "max_position_embeddings": 40960, "max_window_layers": 28, "model_type": "qwen3",
      "num_attention_heads": 16, "num_hidden_layers": 28, "num_key_value_heads": 8,
      "rms_norm_eps": 1e-06, "rope_scaling": null, "rope_theta": 1000000,
      "sliding_window": null, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
      "transformers_version": "4.51.0", "use_cache": true, "use_sliding_window": false,
      "vocab_size": 151936
    }"#;

    #[test]
    fn official_qwen3_config_json_equals_the_preset() {
        let config = Config::from_json_str(QWEN3_0_6B_JSON, "Qwen3-0.6B/config.json").unwrap();
        assert_eq!(config, Config::qwen3_0_6b());
        assert_eq!(config.q_dim(), 2048);
        assert_eq!(config.group_size(), 2);
    }

    #[test]
    fn qwen3_0_6b_parameter_count_matches_the_published_size() {
        // 596,049,920 parameters with the tied head counted once (Qwen3 model card: 0.6B,
        // 0.44B without embeddings).
        assert_eq!(Config::qwen3_0_6b().num_parameters(), 596_049_920);
    }

    #[test]
    fn head_dim_defaults_to_hidden_over_heads() {
        let json = r#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 48,
            "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 3}"#;
        let config = Config::from_json_str(json, "c.json").unwrap();
        assert_eq!(config.head_dim, 16);
        assert_eq!(config.num_key_value_heads, 3);
        assert!(!config.tie_word_embeddings);
    }

    #[test]
    fn transformers_5_rope_parameters_give_the_theta() {
        let json = r#"{"model_type": "qwen3", "vocab_size": 10, "hidden_size": 8,
            "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
            "rope_parameters": {"rope_theta": 5000.0, "rope_type": "default"}}"#;
        assert_eq!(
            Config::from_json_str(json, "c.json").unwrap().rope_theta,
            5000.0
        );
    }

    #[test]
    fn malformed_fields_are_named_in_the_error() {
        let bad_type = QWEN3_0_6B_JSON.replace("\"hidden_size\": 1024", "\"hidden_size\": \"x\"");
        let err = Config::from_json_str(&bad_type, "c.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("hidden_size"), "{err}");

        let missing = QWEN3_0_6B_JSON.replace("\"vocab_size\": 151936", "\"other\": 1");
        let err = Config::from_json_str(&missing, "c.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`vocab_size`"), "{err}");

        let uneven =
            QWEN3_0_6B_JSON.replace("\"num_key_value_heads\": 8", "\"num_key_value_heads\": 3");
        let err = Config::from_json_str(&uneven, "c.json")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`num_key_value_heads`") && err.contains("does not divide"),
            "{err}"
        );

        let err = Config::from_json_str("{not json", "c.json")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.json"), "{err}");
    }

    #[test]
    fn unsupported_features_are_refused_by_name() {
        let scaled = QWEN3_0_6B_JSON.replace(
            "\"rope_scaling\": null",
            r#""rope_scaling": {"rope_type": "yarn"}"#,
        );
        let err = Config::from_json_str(&scaled, "c.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("rope_scaling"), "{err}");

        let other = QWEN3_0_6B_JSON.replace("\"qwen3\"", "\"gpt2\"");
        let err = Config::from_json_str(&other, "c.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("model_type") && err.contains("gpt2"), "{err}");

        let biased =
            QWEN3_0_6B_JSON.replace("\"attention_bias\": false", "\"attention_bias\": true");
        let err = Config::from_json_str(&biased, "c.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("attention_bias"), "{err}");
    }

    #[test]
    fn hf_json_round_trips_through_the_parser() {
        for config in [
            Config::qwen3_0_6b(),
            Config::smollm2_135m(),
            Config::qwen3_8b(),
        ] {
            let json = config.to_hf_json(DType::BF16).to_string();
            assert_eq!(Config::from_json_str(&json, "round trip").unwrap(), config);
            let serialized = serde_json::to_string(&config).unwrap();
            assert_eq!(serde_json::from_str::<Config>(&serialized).unwrap(), config);
        }
    }
}
