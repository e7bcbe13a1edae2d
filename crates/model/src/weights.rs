//! Building a [`Model`] from named tensors: seeded random initialisation, or a checkpoint.
//!
//! One internal function walks the architecture in a fixed order and asks a weight provider
//! for each tensor by its HF name and expected shape. The random initialiser
//! is one provider; the checkpoint loaders (safetensors folders, GGUF files) are another, which
//! checks every tensor before it becomes a parameter:
//!
//! - a tensor the architecture needs and the checkpoint lacks → [`ModelError::MissingTensor`];
//! - a tensor whose shape differs from the configuration's → [`ModelError::ShapeMismatch`],
//!   naming both shapes;
//! - a NaN or infinity → [`ModelError::NonFinite`], naming the tensor and the index;
//! - a checkpoint tensor nothing asked for → [`ModelError::UnexpectedTensors`] (except RoPE
//!   `inv_freq` buffers and a redundant `lm_head.weight` next to tied embeddings, which HF
//!   ignores too).
//!
//! Random initialisation follows HF's `_init_weights` for these models: every matrix (the
//! embedding included) is drawn from N(0, 0.02²), every RMSNorm weight is 1. Draws come from one
//! `ChaCha8Rng` in that fixed order, so a seed gives the same weights on every
//! machine and backend.

use std::collections::BTreeSet;

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::DType;
use crate::config::Config;
use crate::error::{ModelError, Result};
use crate::model::{Attention, Decoder, DecoderLayer, Embedding, Linear, Mlp, Model, RmsNorm};

/// What a tensor is, so the initialiser knows how to fill it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A weight matrix (projection, embedding, head).
    Matrix,
    /// An RMSNorm scale vector.
    Norm,
}

/// Supplies the values of one named tensor, row-major, as f32.
pub(crate) trait WeightProvider {
    /// The values of tensor `name`, which must have `shape`.
    fn values(&mut self, name: &str, shape: &[usize], role: Role) -> Result<Vec<f32>>;
}

/// Standard deviation of the random initialisation (HF `initializer_range`).
pub const INIT_STD: f64 = 0.02;

/// Seeded N(0, 0.02²) matrices and unit norms.
pub(crate) struct RandomInit<'a> {
    pub rng: &'a mut ChaCha8Rng,
}

impl WeightProvider for RandomInit<'_> {
    fn values(&mut self, _name: &str, shape: &[usize], role: Role) -> Result<Vec<f32>> {
        let n = shape.iter().product::<usize>();
        Ok(match role {
            Role::Norm => vec![1.0; n],
            Role::Matrix => {
                let mut out = Vec::with_capacity(n + 1);
                // Box-Muller: two uniforms give two independent standard normals.
                while out.len() < n {
                    let u1 = 1.0 - self.rng.random::<f64>(); // (0, 1], keeps ln finite
                    let u2 = self.rng.random::<f64>();
                    let r = (-2.0 * u1.ln()).sqrt() * INIT_STD;
                    let theta = std::f64::consts::TAU * u2;
                    out.push((r * theta.cos()) as f32);
                    out.push((r * theta.sin()) as f32);
                }
                out.truncate(n);
                out
            }
        })
    }
}

/// A float storage type of a checkpoint tensor that loaders widen to f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoredFloat {
    F32,
    F16,
    BF16,
}

/// Widens a tensor's bytes to f32: little-endian (safetensors) or the machine's own order
/// (`native`, what the PyTorch reader returns).
pub(crate) fn widen(bytes: &[u8], stored: StoredFloat, native: bool) -> Vec<f32> {
    let u16_of = |b: &[u8]| {
        let b = [b[0], b[1]];
        if native {
            u16::from_ne_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    };
    match stored {
        StoredFloat::F32 => bytes
            .chunks_exact(4)
            .map(|b| {
                let b = [b[0], b[1], b[2], b[3]];
                if native {
                    f32::from_ne_bytes(b)
                } else {
                    f32::from_le_bytes(b)
                }
            })
            .collect(),
        StoredFloat::F16 => bytes
            .chunks_exact(2)
            .map(|b| half::f16::from_bits(u16_of(b)).to_f32())
            .collect(),
        StoredFloat::BF16 => bytes
            .chunks_exact(2)
            .map(|b| half::bf16::from_bits(u16_of(b)).to_f32())
            .collect(),
    }
}

/// Where checkpoint tensors come from (a safetensors folder, a GGUF file).
pub(crate) trait TensorSource {
    /// A name for errors: the folder or file.
    fn origin(&self) -> &str;
    /// HF names of every tensor in the checkpoint.
    fn names(&self) -> Vec<String>;
    /// The shape of tensor `name`, `None` when absent.
    fn shape(&self, name: &str) -> Option<Vec<usize>>;
    /// The values of tensor `name` as f32, row-major.
    fn read_f32(&self, name: &str) -> Result<Vec<f32>>;
}

/// Reads tensors from a checkpoint, checking presence, shape and finiteness, and remembering
/// which ones were used.
pub(crate) struct Checked<'a> {
    pub source: &'a dyn TensorSource,
    pub used: BTreeSet<String>,
}

impl<'a> Checked<'a> {
    pub fn new(source: &'a dyn TensorSource) -> Self {
        Checked {
            source,
            used: BTreeSet::new(),
        }
    }

    /// Fails on checkpoint tensors that were never asked for.
    pub fn finish(self, config: &Config) -> Result<()> {
        let unexpected: Vec<String> = self
            .source
            .names()
            .into_iter()
            .filter(|n| !self.used.contains(n) && !ignorable(n, config))
            .collect();
        if unexpected.is_empty() {
            return Ok(());
        }
        Err(ModelError::UnexpectedTensors {
            origin: self.source.origin().into(),
            count: unexpected.len(),
            names: unexpected.into_iter().take(5).collect(),
        })
    }
}

/// Tensors HF itself ignores when loading: RoPE frequency buffers some old checkpoints carry,
/// and a copy of the embedding saved as `lm_head.weight` next to tied embeddings.
fn ignorable(name: &str, config: &Config) -> bool {
    name.ends_with("rotary_emb.inv_freq")
        || (config.tie_word_embeddings && name == "lm_head.weight")
}

impl WeightProvider for Checked<'_> {
    fn values(&mut self, name: &str, shape: &[usize], _role: Role) -> Result<Vec<f32>> {
        let origin = || self.source.origin().to_string();
        let found = self
            .source
            .shape(name)
            .ok_or_else(|| ModelError::MissingTensor {
                origin: origin(),
                name: name.into(),
            })?;
        if found != shape {
            return Err(ModelError::ShapeMismatch {
                origin: origin(),
                name: name.into(),
                found,
                expected: shape.to_vec(),
            });
        }
        let values = self.source.read_f32(name)?;
        if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(ModelError::NonFinite {
                origin: origin(),
                name: name.into(),
                index,
                value,
            });
        }
        self.used.insert(name.to_string());
        Ok(values)
    }
}

/// Turns provided values into parameters of the model's dtype on its device.
struct Builder<'a> {
    provider: &'a mut dyn WeightProvider,
    device: &'a Device,
    dtype: DType,
    eps: f64,
}

impl Builder<'_> {
    fn linear(&mut self, name: &str, out: usize, inp: usize) -> Result<Linear> {
        let values = self.provider.values(name, &[out, inp], Role::Matrix)?;
        let tensor = Tensor::<2>::from_data(TensorData::new(values, [out, inp]), self.device);
        Ok(Linear {
            weight: Param::from_tensor(tensor.cast(self.dtype.burn())),
        })
    }

    fn norm(&mut self, name: &str, len: usize) -> Result<RmsNorm> {
        let values = self.provider.values(name, &[len], Role::Norm)?;
        let tensor = Tensor::<1>::from_data(TensorData::new(values, [len]), self.device);
        Ok(RmsNorm {
            weight: Param::from_tensor(tensor.cast(self.dtype.burn())),
            eps: self.eps,
        })
    }
}

/// Builds the model, asking `provider` for every tensor in a fixed order: embedding, then per
/// layer input norm, q/k/v/o projections, q/k norms (Qwen3), post-attention norm, gate/up/down
/// projections; then the final norm and the untied head.
pub(crate) fn build(
    config: &Config,
    device: &Device,
    dtype: DType,
    provider: &mut dyn WeightProvider,
) -> Result<Model> {
    let (h, q, kv, f, d) = (
        config.hidden_size,
        config.q_dim(),
        config.kv_dim(),
        config.intermediate_size,
        config.head_dim,
    );
    if !device.supports_dtype(dtype.burn()) {
        return Err(ModelError::DTypeUnsupported {
            device: format!("{device:?}"),
            dtype,
        });
    }
    let mut b = Builder {
        provider,
        device,
        dtype,
        eps: config.rms_norm_eps,
    };
    let embed_tokens = Embedding {
        weight: b
            .linear("model.embed_tokens.weight", config.vocab_size, h)?
            .weight,
    };
    let mut layers = Vec::with_capacity(config.num_hidden_layers);
    for i in 0..config.num_hidden_layers {
        let p = |name: &str| format!("model.layers.{i}.{name}.weight");
        let input_layernorm = b.norm(&p("input_layernorm"), h)?;
        let q_proj = b.linear(&p("self_attn.q_proj"), q, h)?;
        let k_proj = b.linear(&p("self_attn.k_proj"), kv, h)?;
        let v_proj = b.linear(&p("self_attn.v_proj"), kv, h)?;
        let o_proj = b.linear(&p("self_attn.o_proj"), h, q)?;
        let (q_norm, k_norm) = if config.model_type.has_qk_norm() {
            (
                Some(b.norm(&p("self_attn.q_norm"), d)?),
                Some(b.norm(&p("self_attn.k_norm"), d)?),
            )
        } else {
            (None, None)
        };
        let post_attention_layernorm = b.norm(&p("post_attention_layernorm"), h)?;
        let mlp = Mlp {
            gate_proj: b.linear(&p("mlp.gate_proj"), f, h)?,
            up_proj: b.linear(&p("mlp.up_proj"), f, h)?,
            down_proj: b.linear(&p("mlp.down_proj"), h, f)?,
        };
        let self_attn = Attention {
            q_proj,
            k_proj,
            v_proj,
            o_proj,
            q_norm,
            k_norm,
            num_heads: config.num_attention_heads,
            num_kv_heads: config.num_key_value_heads,
            head_dim: d,
        };
        layers.push(DecoderLayer {
            input_layernorm,
            self_attn,
            post_attention_layernorm,
            mlp,
        });
    }
    let norm = b.norm("model.norm.weight", h)?;
    let lm_head = if config.tie_word_embeddings {
        None
    } else {
        Some(b.linear("lm_head.weight", config.vocab_size, h)?)
    };
    let decoder = Decoder {
        embed_tokens,
        layers,
        norm,
    };
    Ok(Model::from_parts(config.clone(), decoder, lm_head, device))
}

impl Model {
    /// A model with seeded random weights (N(0, 0.02²) matrices, unit norms), in f32.
    ///
    /// The same `config` and `seed` give the same weights on every run and backend.
    pub fn init(config: &Config, device: &Device, seed: u64) -> Self {
        Self::init_with_rng(config, device, &mut ChaCha8Rng::seed_from_u64(seed))
    }

    /// Like [`Model::init`], drawing from the caller's generator.
    pub fn init_with_rng(config: &Config, device: &Device, rng: &mut ChaCha8Rng) -> Self {
        build(config, device, DType::F32, &mut RandomInit { rng })
            .expect("random initialisation cannot fail")
    }

    /// Converts every parameter to `dtype` (RoPE tables stay f32). Meant for inference
    /// copies: cast before moving a model to an autodiff device, not after.
    pub fn cast(self, dtype: DType) -> Self {
        struct Cast(burn::tensor::DType);
        impl burn::module::ModuleMapper for Cast {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let dtype = self.0;
                param.map(|t| t.cast(dtype))
            }
        }
        burn::module::Module::map(self, &mut Cast(dtype.burn()))
    }

    /// Every parameter with its HF name, in checkpoint order (embedding first, then each
    /// layer, the final norm, the untied head).
    pub fn named_params(&self) -> Vec<(String, NamedParam<'_>)> {
        let mut out = Vec::new();
        let m = &self.model;
        out.push((
            "model.embed_tokens.weight".to_string(),
            NamedParam::Matrix(&m.embed_tokens.weight),
        ));
        for (i, layer) in m.layers.iter().enumerate() {
            let p = |name: &str| format!("model.layers.{i}.{name}.weight");
            let a = &layer.self_attn;
            out.push((
                p("input_layernorm"),
                NamedParam::Vector(&layer.input_layernorm.weight),
            ));
            out.push((p("self_attn.q_proj"), NamedParam::Matrix(&a.q_proj.weight)));
            out.push((p("self_attn.k_proj"), NamedParam::Matrix(&a.k_proj.weight)));
            out.push((p("self_attn.v_proj"), NamedParam::Matrix(&a.v_proj.weight)));
            out.push((p("self_attn.o_proj"), NamedParam::Matrix(&a.o_proj.weight)));
            if let (Some(qn), Some(kn)) = (&a.q_norm, &a.k_norm) {
                out.push((p("self_attn.q_norm"), NamedParam::Vector(&qn.weight)));
                out.push((p("self_attn.k_norm"), NamedParam::Vector(&kn.weight)));
            }
            out.push((
                p("post_attention_layernorm"),
                NamedParam::Vector(&layer.post_attention_layernorm.weight),
            ));
            out.push((
                p("mlp.gate_proj"),
                NamedParam::Matrix(&layer.mlp.gate_proj.weight),
            ));
            out.push((
                p("mlp.up_proj"),
                NamedParam::Matrix(&layer.mlp.up_proj.weight),
            ));
            out.push((
                p("mlp.down_proj"),
                NamedParam::Matrix(&layer.mlp.down_proj.weight),
            ));
        }
        out.push((
            "model.norm.weight".to_string(),
            NamedParam::Vector(&m.norm.weight),
        ));
        if let Some(head) = &self.lm_head {
            out.push((
                "lm_head.weight".to_string(),
                NamedParam::Matrix(&head.weight),
            ));
        }
        out
    }

    /// Number of parameters actually held (the tied head counted once).
    pub fn num_params(&self) -> usize {
        self.named_params()
            .iter()
            .map(|(_, p)| p.shape().iter().product::<usize>())
            .sum()
    }
}

/// A borrowed parameter of either rank, as listed by [`Model::named_params`].
#[derive(Debug, Clone, Copy)]
pub enum NamedParam<'a> {
    /// A norm scale, `[dim]`.
    Vector(&'a Param<Tensor<1>>),
    /// A weight matrix, `[out, in]`.
    Matrix(&'a Param<Tensor<2>>),
}

impl NamedParam<'_> {
    /// The parameter's shape.
    pub fn shape(&self) -> Vec<usize> {
        match self {
            NamedParam::Vector(p) => p.dims().to_vec(),
            NamedParam::Matrix(p) => p.dims().to_vec(),
        }
    }

    /// Copies the values to the host, in the parameter's dtype.
    pub fn to_data(&self) -> TensorData {
        match self {
            NamedParam::Vector(p) => p.val().into_data(),
            NamedParam::Matrix(p) => p.val().into_data(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Config {
        Config {
            vocab_size: 32,
            max_position_embeddings: 64,
            ..Config::qwen3_0_6b().shrunk(16, 24, 8)
        }
    }

    #[test]
    fn same_seed_gives_same_weights_and_another_seed_does_not() {
        let device = Device::flex();
        let a = Model::init(&tiny(), &device, 7);
        let b = Model::init(&tiny(), &device, 7);
        let c = Model::init(&tiny(), &device, 8);
        let first = |m: &Model| m.model.layers[1].mlp.up_proj.weight.val().into_data();
        assert_eq!(first(&a), first(&b));
        assert_ne!(first(&a), first(&c));
    }

    #[test]
    fn init_draws_matrices_with_std_0_02_and_unit_norms() {
        let device = Device::flex();
        let model = Model::init(&tiny(), &device, 1);
        let w: Vec<f32> = model
            .model
            .embed_tokens
            .weight
            .val()
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap();
        let mean = w.iter().sum::<f32>() / w.len() as f32;
        let std = (w.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / w.len() as f32).sqrt();
        assert!(
            mean.abs() < 0.005 && (std - 0.02).abs() < 0.003,
            "mean {mean}, std {std}"
        );
        let norm: Vec<f32> = model
            .model
            .norm
            .weight
            .val()
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap();
        assert!(norm.iter().all(|&x| x == 1.0));
    }

    #[test]
    fn cast_changes_the_weights_dtype_and_keeps_their_values_close() {
        let device = Device::flex();
        let model = Model::init(&tiny(), &device, 2);
        let before = model.model.layers[0].mlp.up_proj.weight.val().into_data();
        let model = model.cast(DType::BF16);
        assert_eq!(model.dtype(), DType::BF16);
        let after = model.model.layers[0].mlp.up_proj.weight.val().into_data();
        let (a, b) = (
            before.try_into_vec_as::<f32>().unwrap(),
            after.try_into_vec_as::<f32>().unwrap(),
        );
        assert!(
            a.iter()
                .zip(&b)
                .all(|(x, y)| (x - y).abs() <= x.abs() / 128.0)
        );
        assert_eq!(model.cast(DType::F32).dtype(), DType::F32);
    }

    #[test]
    fn named_params_cover_every_parameter_once() {
        let device = Device::flex();
        let config = tiny();
        let model = Model::init(&config, &device, 1);
        let names: BTreeSet<String> = model.named_params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), model.named_params().len());
        assert_eq!(model.num_params(), config.num_parameters());
        assert_eq!(model.num_params(), burn::module::Module::num_params(&model));
    }
}
