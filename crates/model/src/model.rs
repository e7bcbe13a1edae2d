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
//!
//! Each operation (`x · Wᵀ`, RMSNorm, the SwiGLU gate, RoPE, attention, the log-softmax at the
//! targets) is one call into a private ops layer, which computes it with burn's tensor ops, or
//! with the same arithmetic on the CPU fast path ([`crate::kernels`]) where that applies. The
//! forwards below therefore read as the equations above.

use burn::module::{Module, Param};
use burn::tensor::{Bool, DType as BurnDType, Device, Int, Tensor, TensorData};

use crate::cache::{KvCache, attention_mask};
use crate::config::Config;
use crate::ops;
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
        ops::linear(x, self.weight.val())
    }
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
        ops::embedding(self.weight.val(), tokens)
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
        ops::rms_norm(x, self.weight.val(), self.eps)
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
        self.down_proj.forward(ops::silu_mul(gate, up))
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

        // A bf16 model on the CPU fast path attends in f32 (`ops::attention_operands`).
        let (q, k, v) = ops::attention_operands(q, k, v, x_dtype);

        // Step 2: append to the cache; attend over everything cached so far.
        let (k, v) = match cache {
            Some((cache, layer)) => cache.append(layer, k, v),
            None => (k, v),
        };

        // Step 3: each K/V head attends with its query group, [batch, kv_heads, group·seq, d].
        // Query head h = g_kv · group + r shares K/V head g_kv, as HF's repeat_kv orders them.
        let q = q.reshape([batch, kv_heads, group * seq, d]);
        let scale = (d as f64).sqrt().recip();
        let bf16_weights = self.k_proj.weight.val().dtype() == BurnDType::BF16;
        let context = ops::attention(q, k, v, mask, scale, group, bf16_weights);

        // Step 4: heads back to features, output projection in the model's dtype.
        let context = context.reshape([batch, heads, seq, d]).swap_dims(1, 2); // [batch, seq, heads, d]
        let context = context.reshape([batch, seq, heads * d]);
        self.o_proj.forward(ops::to_dtype(context, x_dtype))
    }
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

/// What [`Model::target_log_probs_within`] adds to the logits of ids outside a support.
const OUTSIDE_SUPPORT: f32 = -1e30;

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
    /// between its products in f32 on burn-flex inference:
    /// [`kernels::activations_in_f32`](crate::kernels::activations_in_f32)).
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
        ops::linear(hidden, weight).cast(BurnDType::F32)
    }

    /// `log softmax(logits)[target]` at every position of `hidden` (the token log-probabilities
    /// that SFT and GRPO train on), with gradient when `hidden` carries one, and optionally each
    /// position's entropy `−Σ_v p_v log p_v` (without gradient).
    ///
    /// For a vocabulary of at least [`LOG_SOFTMAX_MIN_VOCAB`](crate::kernels::autodiff::LOG_SOFTMAX_MIN_VOCAB)
    /// on burn-flex in f32, the log-softmax, the pick and the entropy are one parallel pass over
    /// the logits and the backward pass one more, written over the same buffer (the CPU fast
    /// path, [`crate::kernels`]); otherwise burn's `log_softmax` and `gather`.
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
        ops::log_softmax_gather(self.logits(hidden), targets, with_entropy)
    }

    /// [`target_log_probs`](Self::target_log_probs) renormalised over a support per position
    /// (DeepSeek-V3.2's "keep sampling mask"):
    ///
    /// ```text
    /// log π̃(o_t) = z_{o_t} − logsumexp_{v ∈ K_t} z_v
    /// ```
    ///
    /// where `K_t` is the set of ids the sampler kept (top-k, top-p) when it drew `o_t`. Ids
    /// outside `K_t` get `z − 10³⁰` before the fused log-softmax (not `−∞`, so the entropy's
    /// `p log p` stays 0 there), so their probability and gradient are exactly zero.
    ///
    /// `supports` holds one id list per position, row-major like `targets`; an empty list
    /// leaves its position over the whole vocabulary, and all empty is `target_log_probs`.
    ///
    /// # Panics
    /// As [`target_log_probs`](Self::target_log_probs); also if `supports` has another length
    /// than `targets`, or a non-empty support lacks its target or holds an id not below
    /// `vocab_size`.
    pub fn target_log_probs_within(
        &self,
        hidden: Tensor<3>,
        targets: &[u32],
        supports: &[Vec<u32>],
        with_entropy: bool,
    ) -> (Tensor<2>, Option<Vec<f32>>) {
        if supports.iter().all(Vec::is_empty) {
            return self.target_log_probs(hidden, targets, with_entropy);
        }
        let [b, t, _] = hidden.dims();
        let vocab = self.config.vocab_size;
        assert_eq!(targets.len(), b * t, "one target per position");
        assert_eq!(supports.len(), b * t, "one support per position");
        let mut mask = vec![0f32; b * t * vocab];
        for (pos, (support, &target)) in supports.iter().zip(targets).enumerate() {
            if support.is_empty() {
                continue;
            }
            assert!(
                support.contains(&target),
                "position {pos}: the target {target} is not in its support"
            );
            let row = &mut mask[pos * vocab..(pos + 1) * vocab];
            row.fill(OUTSIDE_SUPPORT);
            for &id in support {
                assert!(
                    (id as usize) < vocab,
                    "support id {id} is not below {vocab}"
                );
                row[id as usize] = 0.0;
            }
        }
        let logits = self.logits(hidden);
        let mask = Tensor::<3>::from_data(TensorData::new(mask, [b, t, vocab]), &logits.device());
        assert!(
            targets.iter().all(|&id| (id as usize) < vocab),
            "every target id must be below the vocabulary size {vocab}"
        );
        ops::log_softmax_gather(logits + mask, targets, with_entropy)
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
