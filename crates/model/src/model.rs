//! The decoder: token embedding, `num_hidden_layers` pre-norm transformer blocks, final
//! RMSNorm and the output head.
//!
//! ```text
//! h⁰      = E[tokens]                                   E: [vocab, hidden] token embedding
//! a^l     = h^(l-1) + Attn(RMSNorm(h^(l-1)))            grouped-query attention, RoPE
//! h^l     = a^l + FFN(RMSNorm(a^l))                     SwiGLU feed-forward
//! logits  = RMSNorm(h^L) · Wₒᵀ                          Wₒ = E when embeddings are tied
//!
//! RMSNorm(x) = x / sqrt(mean(x²) + ε) ⊙ w               computed in f32
//! FFN(x)     = W_down (silu(W_gate x) ⊙ W_up x)         silu(z) = z · sigmoid(z)
//! Attn(x)    = W_o concat_h softmax(q_h k_gᵀ / √d + M) v_g
//!              q = rope(norm_q(W_q x)), k = rope(norm_k(W_k x)), v = W_v x
//!              g = h / (num_attention_heads / num_key_value_heads)   the K/V head of query head h
//!              M = 0 where a key is visible, -∞ where it is in the future (or padding)
//!              norm_q, norm_k: per-head RMSNorm over head_dim (Qwen3 only)
//! ```
//!
//! Struct and field names mirror the HF checkpoint keys (`model.layers.3.self_attn.q_proj.weight`
//! is `model.layers[3].self_attn.q_proj.weight`), and linear weights keep HF's
//! `[out_features, in_features]` layout, so loading and saving need no rename table and no
//! transposes. Every doc gives the book's name too.
//!
//! Grouped-query attention is computed without repeating keys and values: the query heads that
//! share a K/V head are stacked along the sequence axis (`[batch, kv_heads, group · seq,
//! head_dim]`) and multiplied with that head's keys directly. This is the same arithmetic as the
//! book's `repeat_interleave` and HF's `repeat_kv`, without copying the cache `group` times.

use burn::module::{Module, Param};
use burn::tensor::activation::{log_softmax, silu, softmax};
use burn::tensor::{Bool, DType as BurnDType, Device, Int, Tensor, TensorData};

use crate::cache::{KvCache, attention_mask};
use crate::config::Config;
use crate::kernels::autodiff as autodiff_kernels;
use crate::rope::{Rope, RopeSlice};

/// A bias-free linear layer with an HF-layout weight (book: `nn.Linear(.., bias=False)`).
#[derive(Module, Debug)]
pub struct Linear {
    /// `[out_features, in_features]`, as in PyTorch and the checkpoint.
    pub weight: Param<Tensor<2>>,
}

impl Linear {
    /// Computes `x · Wᵀ`.
    ///
    /// # Shapes
    /// - `x`: `[..., in_features]`
    /// - returns: `[..., out_features]`
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        matmul_transposed(x, self.weight.val())
    }
}

/// `x · wᵀ` for `x: [..., k]`, `w: [n, k]`, folding the leading dimensions into one so the
/// backend sees a single 2-D matmul against a transposed (zero-copy) view of `w`.
fn matmul_transposed<const D: usize>(x: Tensor<D>, w: Tensor<2>) -> Tensor<D> {
    let dims = x.dims();
    let k = dims[D - 1];
    let rows = dims[..D - 1].iter().product::<usize>();
    let n = w.dims()[0];
    let x = x.reshape([rows, k]);
    // Decoding (a few rows): a hand-written matrix-vector kernel on burn-flex (see `kernels`).
    // Prefill with bf16 weights: the weight widened to f32 in parallel (see `kernels`).
    let y = match crate::kernels::skinny_linear(&x, &w)
        .or_else(|| crate::kernels::wide_linear_bf16(&x, &w))
        .or_else(|| crate::kernels::wide_linear_f32(&x, &w))
    {
        Some(y) => y,
        // Training a large weight: the products without burn-flex's zeroed, re-copied
        // outputs (`kernels::autodiff::linear`).
        None if x.is_autodiff() && n * k >= autodiff_kernels::LINEAR_MIN_WEIGHTS => {
            match autodiff_kernels::linear(x, w) {
                Ok(y) => y,
                Err((x, w)) => x.matmul(w.transpose()),
            }
        }
        None => x.matmul(w.transpose()),
    };
    let mut out = dims;
    out[D - 1] = n;
    y.reshape(out)
}

/// The token embedding table (book: `tok_emb`).
#[derive(Module, Debug)]
pub struct Embedding {
    /// `[vocab_size, hidden_size]`.
    pub weight: Param<Tensor<2>>,
}

impl Embedding {
    /// Looks up one row per token.
    ///
    /// # Shapes
    /// - `tokens`: `[batch, seq]`
    /// - returns: `[batch, seq, hidden_size]`
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let [batch, seq] = tokens.dims();
        let hidden = self.weight.dims()[1];
        let weight = self.weight.val();
        let f32_activations = crate::kernels::activations_in_f32(&weight);
        let x = weight
            .select(0, tokens.reshape([batch * seq]))
            .reshape([batch, seq, hidden]);
        // A bf16 model on burn-flex keeps its activations in f32 from here on (exact cast).
        if f32_activations {
            x.cast(BurnDType::F32)
        } else {
            x
        }
    }
}

/// Root-mean-square normalisation with a learned scale (book: `RMSNorm`, `scale`).
///
/// Statistics are computed in f32 and the result is cast back to the input's dtype before the
/// scale is applied, as in HF's `Qwen3RMSNorm`/`LlamaRMSNorm`.
#[derive(Module, Debug)]
pub struct RmsNorm {
    /// The per-feature scale `w`, `[dim]`.
    pub weight: Param<Tensor<1>>,
    /// ε inside the square root.
    pub eps: f64,
}

impl RmsNorm {
    /// Normalises over the last dimension.
    ///
    /// # Shapes
    /// - `x`: `[..., dim]`
    /// - returns: the same shape
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let dtype = x.dtype();
        // Training a wide f32 model: one fused pass each way (see `kernels::autodiff`).
        let width = x.dims()[D - 1];
        let x = if width >= autodiff_kernels::RMS_NORM_MIN_WIDTH && x.is_autodiff() {
            match autodiff_kernels::rms_norm(x, self.weight.val(), self.eps) {
                Ok(y) => return y,
                Err((x, _)) => x,
            }
        } else {
            x
        };
        let x = x.cast(BurnDType::F32);
        let mean_square = x.clone().square().mean_dim(D - 1);
        let normed = x * (mean_square + self.eps).sqrt().recip();
        let weight = self.weight.val();
        // bf16 weights meet the f32 activations of a bf16 model (`kernels::activations_in_f32`).
        let weight = if weight.dtype() == dtype {
            weight
        } else {
            weight.cast(dtype)
        };
        normed.cast(dtype) * weight.unsqueeze::<D>()
    }
}

/// The SwiGLU feed-forward block (book: `FeedForward` with `fc1`, `fc2`, `fc3`).
#[derive(Module, Debug)]
pub struct Mlp {
    /// Gate projection `[intermediate, hidden]` (book: `fc1`).
    pub gate_proj: Linear,
    /// Up projection `[intermediate, hidden]` (book: `fc2`).
    pub up_proj: Linear,
    /// Down projection `[hidden, intermediate]` (book: `fc3`).
    pub down_proj: Linear,
}

impl Mlp {
    /// Computes `W_down (silu(W_gate x) ⊙ W_up x)`.
    ///
    /// # Shapes
    /// - `x`: `[batch, seq, hidden]`
    /// - returns: `[batch, seq, hidden]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let gate = self.gate_proj.forward(x.clone());
        let up = self.up_proj.forward(x);
        // Inference on burn-flex: one fused in-place pass (see `kernels`).
        // Training a wide model: one fused pass each way (see `kernels::autodiff`).
        let wide = gate.dims()[2] >= autodiff_kernels::SILU_MIN_WIDTH;
        let hidden = match crate::kernels::silu_mul(gate, up) {
            Ok(hidden) => hidden,
            Err((gate, up)) if wide => match autodiff_kernels::silu_mul(gate, up) {
                Ok(hidden) => hidden,
                Err((gate, up)) => silu(gate) * up,
            },
            Err((gate, up)) => silu(gate) * up,
        };
        self.down_proj.forward(hidden)
    }
}

/// Grouped-query self-attention (book: `GroupedQueryAttention`).
#[derive(Module, Debug)]
pub struct Attention {
    /// Query projection `[heads · head_dim, hidden]` (book: `W_query`).
    pub q_proj: Linear,
    /// Key projection `[kv_heads · head_dim, hidden]` (book: `W_key`).
    pub k_proj: Linear,
    /// Value projection `[kv_heads · head_dim, hidden]` (book: `W_value`).
    pub v_proj: Linear,
    /// Output projection `[hidden, heads · head_dim]` (book: `out_proj`).
    pub o_proj: Linear,
    /// Per-head query RMSNorm over `head_dim` (Qwen3's QK-norm; absent for Llama).
    pub q_norm: Option<RmsNorm>,
    /// Per-head key RMSNorm over `head_dim` (Qwen3's QK-norm; absent for Llama).
    pub k_norm: Option<RmsNorm>,
    /// Number of query heads.
    pub num_heads: usize,
    /// Number of key/value heads.
    pub num_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
}

impl Attention {
    /// Attends from `x`'s tokens to themselves and, with a cache, to every cached token.
    ///
    /// `mask` (`true` = hidden) has shape `[batch or 1, 1, group · seq, keys]`; `None` means every
    /// key is visible. With `cache`, the new keys and values are appended to layer `layer`.
    ///
    /// # Shapes
    /// - `x`: `[batch, seq, hidden]`
    /// - returns: `[batch, seq, hidden]`
    pub fn forward(
        &self,
        x: Tensor<3>,
        rope: &RopeSlice,
        mask: Option<&Tensor<4, Bool>>,
        cache: Option<(&mut KvCache, usize)>,
    ) -> Tensor<3> {
        let [batch, seq, _] = x.dims();
        let x_dtype = x.dtype();
        let (heads, kv_heads, d) = (self.num_heads, self.num_kv_heads, self.head_dim);
        let group = heads / kv_heads;

        // Step 1: project, split into heads, QK-norm (per head), RoPE.
        let q = self
            .q_proj
            .forward(x.clone())
            .reshape([batch, seq, heads, d]);
        let k = self
            .k_proj
            .forward(x.clone())
            .reshape([batch, seq, kv_heads, d]);
        let v = self.v_proj.forward(x).reshape([batch, seq, kv_heads, d]);
        let q = match &self.q_norm {
            Some(norm) => norm.forward(q),
            None => q,
        };
        let k = match &self.k_norm {
            Some(norm) => norm.forward(k),
            None => k,
        };
        let q = rope.apply(q.swap_dims(1, 2)); // [batch, heads, seq, d]
        let k = rope.apply(k.swap_dims(1, 2)); // [batch, kv_heads, seq, d]
        let v = v.swap_dims(1, 2); // [batch, kv_heads, seq, d]

        // A bf16 model on burn-flex attends in f32: burn-flex converts bf16 operands to f32
        // inside every product, which at decode would re-convert the whole cached K and V of
        // every layer at every step. Casting the new keys and values once keeps the cache in
        // f32 (twice the cache memory; the values are the same bf16 numbers).
        let model_dtype = x_dtype;
        let (q, k, v) = if model_dtype == BurnDType::BF16 && crate::kernels::attends_in_f32(&k) {
            let f32 = BurnDType::F32;
            (q.cast(f32), k.cast(f32), v.cast(f32))
        } else {
            (q, k, v)
        };

        // Step 2: append to the cache; attend over everything cached so far.
        let (k, v) = match cache {
            Some((cache, layer)) => cache.append(layer, k, v),
            None => (k, v),
        };

        // Step 3: scores of each K/V head's query group, [batch, kv_heads, group·seq, keys].
        // Query head h = g_kv · group + r shares K/V head g_kv, as HF's repeat_kv orders them.
        let q = q.reshape([batch, kv_heads, group * seq, d]);
        let scale = (d as f64).sqrt().recip();
        // Decoding on burn-flex: scores, softmax and weighted values in one pass per head
        // over the cache (see `kernels::decode_attention`). A prefill with heads of 64 and
        // up: the same three steps fused per block of query positions, on the dot-product
        // tiles of the prefill products, bf16 operands for a bf16 model (see
        // `kernels::prefill_attention`). Otherwise burn's ops; a long causal prefill then goes
        // in blocks of query positions, each against the keys it can see (`attend_in_blocks`).
        let bf16 = self.k_proj.weight.val().dtype() == BurnDType::BF16;
        let context = match crate::kernels::decode_attention(&q, &k, &v, scale as f32, mask)
            .or_else(|| {
                crate::kernels::prefill_attention(&q, &k, &v, scale as f32, mask, group, bf16)
            }) {
            Some(context) => context,
            None => match mask {
                Some(mask) if seq >= 2 * QUERY_BLOCK && crate::kernels::fast_path(&k) => {
                    attend_in_blocks(q, k, v, mask, scale, group, seq)
                }
                _ => attend(q, k, v, mask, scale),
            },
        };

        // Step 4: heads back to features, output projection.
        let context = context.reshape([batch, heads, seq, d]).swap_dims(1, 2); // [batch, seq, heads, d]
        let context = context.reshape([batch, seq, heads * d]);
        let context = if context.dtype() == model_dtype {
            context
        } else {
            context.cast(model_dtype)
        };
        self.o_proj.forward(context)
    }
}

/// Query positions per block in [`attend_in_blocks`].
const QUERY_BLOCK: usize = 64;

/// `softmax(scale · q kᵀ, hidden keys masked) · v` with burn's ops (the softmax fused on
/// burn-flex: `kernels::attention_softmax`).
///
/// # Shapes
/// - `q`: `[batch, kv_heads, rows, d]`; `k`, `v`: `[batch, kv_heads, keys, d]`
/// - `mask`: `[batch or 1, 1, rows, keys]`, true where a key is hidden
/// - returns: `[batch, kv_heads, rows, d]`
fn attend(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    mask: Option<&Tensor<4, Bool>>,
    scale: f64,
) -> Tensor<4> {
    let q_dims = q.dims();
    let scores = q.matmul(k.swap_dims(2, 3));
    let dtype = scores.dtype();
    // Softmax in f32. Hidden keys get the most negative finite f32 rather than -inf: a
    // padding query that sees no key then averages instead of producing NaN, and the
    // NaN cannot leak into real rows through 0 · NaN in the next product. Inference on
    // burn-flex does scale, mask and softmax in one fused pass (see `kernels`).
    let scores = scores.cast(BurnDType::F32);
    let wide = q_dims[3] >= autodiff_kernels::ATTENTION_MIN_HEAD_DIM;
    let fused = match crate::kernels::attention_softmax(scores, scale as f32, mask) {
        // Training with wide heads: softmax and its backward pass fused (`kernels::autodiff`).
        Err(scores) if wide => autodiff_kernels::attention_softmax(scores, scale as f32, mask),
        other => other,
    };
    let weights = match fused {
        Ok(weights) => weights,
        Err(scores) => {
            let scores = scores * scale;
            let scores = match mask {
                Some(mask) => {
                    let shape = scores.dims();
                    scores.mask_fill(mask.clone().expand(shape), f32::MIN)
                }
                None => scores,
            };
            softmax(scores, 3)
        }
    };
    weights.cast(dtype).matmul(v)
}

/// Causal attention of `seq` new positions in blocks of [`QUERY_BLOCK`] positions: a query at
/// cache slot `p` sees no key after `p`, so the block of positions `s0..s1` needs only the
/// first `start + s1` keys (`start` = slots cached before). A 512-token prefill computes 56%
/// of the full score matrix this way, in 8 products instead of one. Each row's softmax is over
/// the same visible keys as in [`attend`]; only a padding query, which sees no key at all,
/// averages over its block's keys instead of all of them (its output is never seen: its slot
/// is hidden from every real query).
///
/// # Shapes
/// - `q`: `[batch, kv_heads, group · seq, d]` (rows ordered by group, then position)
/// - `k`, `v`: `[batch, kv_heads, start + seq, d]`
/// - `mask`: `[batch or 1, 1, group · seq, start + seq]`
/// - returns: `[batch, kv_heads, group · seq, d]`
fn attend_in_blocks(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    mask: &Tensor<4, Bool>,
    scale: f64,
    group: usize,
    seq: usize,
) -> Tensor<4> {
    let [batch, kv_heads, _, d] = q.dims();
    let keys = k.dims()[2];
    let start = keys - seq;
    let [mask_batch, _, _, _] = mask.dims();
    let q = q.reshape([batch, kv_heads, group, seq, d]);
    let mask = mask.clone().reshape([mask_batch, 1, group, seq, keys]);
    let blocks: Vec<Tensor<5>> = (0..seq)
        .step_by(QUERY_BLOCK)
        .map(|s0| {
            let len = QUERY_BLOCK.min(seq - s0);
            let seen = start + s0 + len;
            let q = q
                .clone()
                .narrow(3, s0, len)
                .reshape([batch, kv_heads, group * len, d]);
            let mask = mask.clone().narrow(3, s0, len).narrow(4, 0, seen).reshape([
                mask_batch,
                1,
                group * len,
                seen,
            ]);
            let (k, v) = (k.clone().narrow(2, 0, seen), v.clone().narrow(2, 0, seen));
            attend(q, k, v, Some(&mask), scale).reshape([batch, kv_heads, group, len, d])
        })
        .collect();
    Tensor::cat(blocks, 3).reshape([batch, kv_heads, group * seq, d])
}

/// One pre-norm transformer block (book: `TransformerBlock`).
#[derive(Module, Debug)]
pub struct DecoderLayer {
    /// RMSNorm before attention (book: `norm1`).
    pub input_layernorm: RmsNorm,
    /// Grouped-query attention (book: `att`).
    pub self_attn: Attention,
    /// RMSNorm before the feed-forward block (book: `norm2`).
    pub post_attention_layernorm: RmsNorm,
    /// SwiGLU feed-forward (book: `ff`).
    pub mlp: Mlp,
}

impl DecoderLayer {
    /// Applies attention and feed-forward, each with a residual connection.
    ///
    /// # Shapes
    /// - `x`: `[batch, seq, hidden]`
    /// - returns: `[batch, seq, hidden]`
    pub fn forward(
        &self,
        x: Tensor<3>,
        rope: &RopeSlice,
        mask: Option<&Tensor<4, Bool>>,
        cache: Option<(&mut KvCache, usize)>,
    ) -> Tensor<3> {
        let attended =
            self.self_attn
                .forward(self.input_layernorm.forward(x.clone()), rope, mask, cache);
        let x = x + attended;
        let fed = self
            .mlp
            .forward(self.post_attention_layernorm.forward(x.clone()));
        x + fed
    }
}

/// The decoder stack without the output head (HF's `model.*` prefix).
#[derive(Module, Debug)]
pub struct Decoder {
    /// Token embedding (book: `tok_emb`).
    pub embed_tokens: Embedding,
    /// The transformer blocks (book: `trf_blocks`).
    pub layers: Vec<DecoderLayer>,
    /// Final RMSNorm (book: `final_norm`).
    pub norm: RmsNorm,
}

/// A Qwen3 or Llama-family causal language model.
///
/// Build one with [`Model::init`] (seeded random weights) or [`Model::load`] (an HF folder or a
/// GGUF file). It is a burn [`Module`]. To train, build or load it on `device.autodiff()`, or
/// move a model built on a plain device with `model.fork(&device.autodiff()).train()` (`fork`
/// alone leaves the parameters untracked); `model.valid()` gives an inference copy without
/// autodiff, for rollouts and reference models.
#[derive(Module, Debug)]
pub struct Model {
    /// Embedding, blocks and final norm (HF `model.*`).
    pub model: Decoder,
    /// Untied output head `[vocab, hidden]` (book: `out_head`); `None` when tied to the
    /// embedding.
    pub lm_head: Option<Linear>,
    /// RoPE tables (constant, not saved).
    pub rope: Rope,
    #[module(skip)]
    config: Config,
}

impl Model {
    /// Assembles a model from its parts; used by the initialiser and the loaders.
    pub(crate) fn from_parts(
        config: Config,
        model: Decoder,
        lm_head: Option<Linear>,
        device: &Device,
    ) -> Self {
        let rope = Rope::new(
            config.head_dim,
            config.rope_theta,
            config.max_position_embeddings,
            device,
        );
        Model {
            model,
            lm_head,
            rope,
            config,
        }
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.model.embed_tokens.weight.device()
    }

    /// The dtype of the weights (and of the activations, except that a bf16 model computes
    /// between its products in f32 on burn-flex inference: `kernels::activations_in_f32`).
    pub fn dtype(&self) -> crate::DType {
        match self.model.embed_tokens.weight.val().dtype() {
            BurnDType::BF16 => crate::DType::BF16,
            _ => crate::DType::F32,
        }
    }

    /// Full causal forward pass from position 0 without a cache (training, scoring).
    ///
    /// # Shapes
    /// - `tokens`: `[batch, seq]`
    /// - returns: logits `[batch, seq, vocab]`, f32
    ///
    /// # Panics
    /// If `seq` exceeds `max_position_embeddings`, or a token id is not below `vocab_size`.
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        self.logits(self.forward_hidden(tokens))
    }

    /// The same pass as [`Model::forward`], returning the final-normed hidden states instead of
    /// logits, so callers can apply [`Model::logits`] in chunks to bound memory.
    ///
    /// # Shapes
    /// - `tokens`: `[batch, seq]`
    /// - returns: `[batch, seq, hidden]`, in the activations' dtype (see [`Model::dtype`])
    pub fn forward_hidden(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let [_, seq] = tokens.dims();
        let device = tokens.device();
        let rope = self.rope.range(0, seq);
        let mask = (seq > 1).then(|| {
            let data = attention_mask(&[0], 0, seq, self.config.group_size());
            Tensor::<4, Bool>::from_data(data, &device)
        });
        let mut x = self.model.embed_tokens.forward(tokens);
        for layer in &self.model.layers {
            x = layer.forward(x, &rope, mask.as_ref(), None);
        }
        self.model.norm.forward(x)
    }

    /// Applies the output head (tied or untied) to hidden states.
    ///
    /// # Shapes
    /// - `hidden`: `[batch, seq, hidden]`
    /// - returns: `[batch, seq, vocab]`, f32
    pub fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        let weight = match &self.lm_head {
            Some(head) => head.weight.val(),
            None => self.model.embed_tokens.weight.val(),
        };
        matmul_transposed(hidden, weight).cast(BurnDType::F32)
    }

    /// `log softmax(logits)[target]` at every position of `hidden` (the token log-probabilities
    /// that SFT and GRPO train on), with gradient when `hidden` carries one, and optionally each
    /// position's entropy `−Σ_v p_v log p_v` (without gradient).
    ///
    /// For a vocabulary of at least [`LOG_SOFTMAX_MIN_VOCAB`](crate::kernels::autodiff::LOG_SOFTMAX_MIN_VOCAB)
    /// on burn-flex in f32, the log-softmax, the pick and the entropy are one parallel pass over
    /// the logits and the backward pass one more, written over the same buffer
    /// (`kernels::autodiff::log_softmax_gather`);
    /// otherwise burn's `log_softmax` and `gather`.
    ///
    /// # Shapes
    /// - `hidden`: `[batch, positions, hidden]`
    /// - `targets`: `batch · positions` token ids, row-major
    /// - returns: `[batch, positions]` log-probabilities, and the entropies in the same order
    ///
    /// # Panics
    /// If `targets` has another length, or an id is not below `vocab_size`.
    pub fn target_log_probs(
        &self,
        hidden: Tensor<3>,
        targets: &[u32],
        with_entropy: bool,
    ) -> (Tensor<2>, Option<Vec<f32>>) {
        let [b, t, _] = hidden.dims();
        let vocab = self.config.vocab_size;
        assert_eq!(targets.len(), b * t, "one target per position");
        assert!(
            targets.iter().all(|&id| (id as usize) < vocab),
            "every target id must be below the vocabulary size {vocab}"
        );
        let device = hidden.device();
        let logits = self.logits(hidden);
        let logits = if vocab >= autodiff_kernels::LOG_SOFTMAX_MIN_VOCAB {
            match autodiff_kernels::log_softmax_gather(logits, targets, with_entropy) {
                Ok(out) => return out,
                Err(logits) => logits,
            }
        } else {
            logits
        };
        let logp = log_softmax(logits, 2); // [b, t, vocab]
        let ids: Vec<i64> = targets.iter().map(|&id| i64::from(id)).collect();
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [b, t]), &device);
        let picked = logp
            .clone()
            .gather(2, ids.unsqueeze_dim::<3>(2))
            .squeeze_dim::<2>(2);
        let entropy = with_entropy.then(|| {
            let lp = logp.detach();
            let h = (lp.clone().exp() * lp).sum_dim(2).neg(); // [b, t, 1]
            h.into_data()
                .try_into_vec_as::<f32>()
                .unwrap_or_else(|e| panic!("a float tensor reads as f32: {e}"))
        });
        (picked, entropy)
    }

    /// Cached forward pass: appends `tokens` at positions `cache.len()..` and returns the
    /// final-normed hidden states of all the new positions.
    ///
    /// With a left-padded cache, row `b`'s first `left_pad[b]` slots are padding: masked as
    /// keys and skipped by RoPE positions (see [`KvCache`]).
    ///
    /// # Shapes
    /// - `tokens`: `[batch, seq]`, `batch` = the cache's
    /// - returns: `[batch, seq, hidden]`, in the activations' dtype (see [`Model::dtype`])
    ///
    /// # Panics
    /// If `seq` is 0, the cache was made for another batch size or configuration, positions
    /// pass `max_position_embeddings`, or a token id is not below `vocab_size`.
    pub fn forward_hidden_cached(&self, tokens: Tensor<2, Int>, cache: &mut KvCache) -> Tensor<3> {
        let [batch, seq] = tokens.dims();
        assert!(
            seq > 0,
            "forward_hidden_cached needs at least one token per row"
        );
        assert_eq!(
            batch,
            cache.batch(),
            "tokens have {batch} rows, the KV cache {}",
            cache.batch()
        );
        assert_eq!(
            cache.num_layers(),
            self.config.num_hidden_layers,
            "the KV cache was made for another model"
        );
        let rope = if cache.is_padded() {
            self.rope.gather(cache.positions(seq))
        } else {
            self.rope.range(cache.len(), seq)
        };
        let mask = cache.mask(seq, self.config.group_size());
        let mut x = self.model.embed_tokens.forward(tokens);
        for (i, layer) in self.model.layers.iter().enumerate() {
            x = layer.forward(x, &rope, mask.as_ref(), Some((&mut *cache, i)));
        }
        cache.advance(seq);
        self.model.norm.forward(x)
    }

    /// Cached forward pass returning only the last position's logits (generation): prefill
    /// with the whole prompt, then call again with one token at a time.
    ///
    /// # Shapes
    /// - `tokens`: `[batch, seq]`
    /// - returns: `[batch, vocab]`, f32
    ///
    /// # Panics
    /// As [`Model::forward_hidden_cached`].
    pub fn forward_cached(&self, tokens: Tensor<2, Int>, cache: &mut KvCache) -> Tensor<2> {
        let hidden = self.forward_hidden_cached(tokens, cache);
        let [batch, seq, _] = hidden.dims();
        // The head is the largest matmul; apply it to the last position only.
        let last = hidden.narrow(1, seq - 1, 1);
        self.logits(last).reshape([batch, self.config.vocab_size])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn attention_in_blocks_equals_attention_over_every_key() {
        let device = Device::flex();
        let (kv_heads, group, d) = (2, 2, 8);
        // A prefill from an empty cache, and one after 30 cached slots with a left-padded row;
        // no query is itself padding, so every row sees at least one key.
        for (start, left_pad, seq) in [(0, vec![0], 200), (30, vec![0, 7], 150)] {
            let batch = left_pad.len();
            let keys = start + seq;
            let mut rng = ChaCha8Rng::seed_from_u64(start as u64);
            let mut random = |rows: usize| {
                let values = (0..batch * kv_heads * rows * d)
                    .map(|_| rng.random_range(-1.0f32..1.0))
                    .collect();
                let data = TensorData::new(values, [batch, kv_heads, rows, d]);
                Tensor::<4>::from_data(data, &device)
            };
            let (q, k, v) = (random(group * seq), random(keys), random(keys));
            let mask =
                Tensor::<4, Bool>::from_data(attention_mask(&left_pad, start, seq, group), &device);
            let scale = 0.35;
            let want = attend(q.clone(), k.clone(), v.clone(), Some(&mask), scale);
            let got = attend_in_blocks(q, k, v, &mask, scale, group, seq);
            assert_eq!(got.dims(), want.dims());
            let (got, want): (Vec<f32>, Vec<f32>) = (
                got.into_data().try_to_vec().unwrap(),
                want.into_data().try_to_vec().unwrap(),
            );
            let diff = got
                .iter()
                .zip(&want)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(diff < 1e-5, "start {start}: {diff}");
        }
    }
}
