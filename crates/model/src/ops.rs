//! The model's operations, each run on the CPU fast path where it applies and on burn's ops
//! otherwise, so that the forwards in [`crate::model`] and [`crate::rope`] read like their
//! equations.
//!
//! ```text
//! linear(x, W)                 x · Wᵀ
//! embedding(E, tokens)         E[tokens]
//! rms_norm(x, w, ε)            x / sqrt(mean(x²) + ε) ⊙ w           statistics in f32
//! silu_mul(gate, up)           silu(gate) ⊙ up,  silu(z) = z · sigmoid(z)
//! rope(x, cos, sin)            x ⊙ cos + rotate_half(x) ⊙ sin
//! attention(q, k, v, M, s)     softmax(s · q kᵀ + M) · v            per K/V head and its query group
//! log_softmax_gather(z, t)     log softmax(z)[t]                    and optionally the entropy
//! ```
//!
//! Each function first offers its inputs to the kernels of [`crate::kernels`], which hand them
//! back when they do not apply (another backend, autodiff for an inference kernel, a width
//! below a training kernel's threshold, another dtype, or `REASONING_KERNELS=burn`), and then
//! computes the equation with burn's tensor ops. The burn branch is the reference: it is what
//! every backend but burn-flex runs, and what the embedded tiny model trains with.

use burn::tensor::activation::{log_softmax, silu, softmax};
use burn::tensor::{Bool, DType as BurnDType, Int, Tensor, TensorData};

use crate::kernels::{self, autodiff};

/// `x · wᵀ` for `x: [..., k]`, `w: [n, k]`, folding the leading dimensions into one so the
/// backend sees a single 2-D matmul against a transposed (zero-copy) view of `w`.
///
/// Fast paths: decoding (a few rows) on the matrix-vector kernel, prefill on the dot-product
/// tiles (bf16 weights, or f32 weights of at least 100,000 entries), training a large weight
/// without burn-flex's zeroed, re-copied outputs.
///
/// # Shapes
/// - `x`: `[..., k]`; `w`: `[n, k]`
/// - returns: `[..., n]`
pub(crate) fn linear<const D: usize>(x: Tensor<D>, w: Tensor<2>) -> Tensor<D> {
    let dims = x.dims();
    let k = dims[D - 1];
    let rows = dims[..D - 1].iter().product::<usize>();
    let n = w.dims()[0];
    let x = x.reshape([rows, k]);
    let y = match kernels::skinny_linear(&x, &w)
        .or_else(|| kernels::wide_linear_bf16(&x, &w))
        .or_else(|| kernels::wide_linear_f32(&x, &w))
    {
        Some(y) => y,
        None if x.is_autodiff() && n * k >= autodiff::LINEAR_MIN_WEIGHTS => {
            match autodiff::linear(x, w) {
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

/// One row of `weight` per token. A bf16 model on the CPU fast path keeps its activations in
/// f32 from here on ([`kernels::activations_in_f32`]; the cast is exact).
///
/// # Shapes
/// - `weight`: `[vocab, hidden]`; `tokens`: `[batch, seq]`
/// - returns: `[batch, seq, hidden]`
pub(crate) fn embedding(weight: Tensor<2>, tokens: Tensor<2, Int>) -> Tensor<3> {
    let [batch, seq] = tokens.dims();
    let hidden = weight.dims()[1];
    let f32_activations = kernels::activations_in_f32(&weight);
    let x = weight
        .select(0, tokens.reshape([batch * seq]))
        .reshape([batch, seq, hidden]);
    if f32_activations {
        x.cast(BurnDType::F32)
    } else {
        x
    }
}

/// `x / sqrt(mean(x²) + eps) ⊙ weight` over the last dimension, the statistics in f32 and the
/// result cast back to `x`'s dtype before the scale, as in HF's `Qwen3RMSNorm`/`LlamaRMSNorm`.
///
/// Fast path: training a wide f32 model, one fused pass each way.
///
/// # Shapes
/// - `x`: `[..., dim]`; `weight`: `[dim]`
/// - returns: `x`'s shape
pub(crate) fn rms_norm<const D: usize>(x: Tensor<D>, weight: Tensor<1>, eps: f64) -> Tensor<D> {
    let dtype = x.dtype();
    let width = x.dims()[D - 1];
    let x = if width >= autodiff::RMS_NORM_MIN_WIDTH && x.is_autodiff() {
        match autodiff::rms_norm(x, weight.clone(), eps) {
            Ok(y) => return y,
            Err((x, _)) => x,
        }
    } else {
        x
    };
    let x = x.cast(BurnDType::F32);
    let mean_square = x.clone().square().mean_dim(D - 1);
    let normed = x * (mean_square + eps).sqrt().recip();
    // bf16 weights meet the f32 activations of a bf16 model (`kernels::activations_in_f32`).
    let weight = to_dtype(weight, dtype);
    normed.cast(dtype) * weight.unsqueeze::<D>()
}

/// `silu(gate) ⊙ up`, SwiGLU's hidden activation.
///
/// Fast paths: inference, one fused pass in place; training a wide model, one fused pass each
/// way.
///
/// # Shapes
/// - `gate`, `up`: `[batch, seq, intermediate]`
/// - returns: the same shape
pub(crate) fn silu_mul(gate: Tensor<3>, up: Tensor<3>) -> Tensor<3> {
    let wide = gate.dims()[2] >= autodiff::SILU_MIN_WIDTH;
    match kernels::silu_mul(gate, up) {
        Ok(hidden) => hidden,
        Err((gate, up)) if wide => match autodiff::silu_mul(gate, up) {
            Ok(hidden) => hidden,
            Err((gate, up)) => silu(gate) * up,
        },
        Err((gate, up)) => silu(gate) * up,
    }
}

/// Split-halves RoPE, `x ⊙ cos + rotate_half(x) ⊙ sin` with `rotate_half([x₁, x₂]) =
/// [−x₂, x₁]`; the f32 tables are cast to the activations' dtype first, as HF does.
///
/// Fast path: inference, one pass with the same values bit for bit.
///
/// # Shapes
/// - `x`: `[batch, heads, seq, head_dim]`
/// - `cos`, `sin`: `[batch or 1, 1, seq, head_dim]`
/// - returns: `x`'s shape
pub(crate) fn rope(x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Tensor<4> {
    if let Some(rotated) = kernels::rope_rotate(&x, cos, sin) {
        return rotated;
    }
    let dtype = x.dtype();
    let [_, _, _, d] = x.dims();
    let half = d / 2;
    let x1 = x.clone().narrow(3, 0, half);
    let x2 = x.clone().narrow(3, half, half);
    let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
    x * cos.clone().cast(dtype) + rotated * sin.clone().cast(dtype)
}

/// Queries, keys and values in the dtype attention computes in: their own, except that a bf16
/// model on the CPU fast path attends in f32.
///
/// burn-flex converts bf16 operands to f32 inside every product, which at decode would
/// re-convert the whole cached K and V of every layer at every step. Casting the new keys and
/// values once keeps the cache in f32 (twice the cache memory; the values are the same bf16
/// numbers).
pub(crate) fn attention_operands(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    model_dtype: BurnDType,
) -> (Tensor<4>, Tensor<4>, Tensor<4>) {
    if model_dtype == BurnDType::BF16 && kernels::attends_in_f32(&k) {
        let f32 = BurnDType::F32;
        (q.cast(f32), k.cast(f32), v.cast(f32))
    } else {
        (q, k, v)
    }
}

/// Causal grouped-query attention, `softmax(scale · q kᵀ, hidden keys masked) · v`, for the
/// query rows of each K/V head (its `group` query heads stacked along the sequence axis).
///
/// Fast paths: decoding, scores, softmax and weighted values in one pass per head over the
/// cache; a prefill with heads of 64 and up, the same three steps fused per block of query
/// positions on the dot-product tiles of the prefill products, on bf16 operands when
/// `bf16_weights`. Otherwise burn's ops, a long causal prefill in blocks of query positions
/// each against the keys it can see ([`attend_in_blocks`]).
///
/// # Shapes
/// - `q`: `[batch, kv_heads, group · seq, d]` (rows ordered by group, then position)
/// - `k`, `v`: `[batch, kv_heads, keys, d]`
/// - `mask`: `[batch or 1, 1, group · seq, keys]`, true where a key is hidden; `None`: all visible
/// - returns: `[batch, kv_heads, group · seq, d]`
pub(crate) fn attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    mask: Option<&Tensor<4, Bool>>,
    scale: f64,
    group: usize,
    bf16_weights: bool,
) -> Tensor<4> {
    let seq = q.dims()[2] / group;
    let fused = kernels::decode_attention(&q, &k, &v, scale as f32, mask).or_else(|| {
        kernels::prefill_attention(&q, &k, &v, scale as f32, mask, group, bf16_weights)
    });
    match fused {
        Some(context) => context,
        None => match mask {
            Some(mask) if seq >= 2 * QUERY_BLOCK && kernels::fast_path(&k) => {
                attend_in_blocks(q, k, v, mask, scale, group, seq)
            }
            _ => attend(q, k, v, mask, scale),
        },
    }
}

/// Query positions per block in [`attend_in_blocks`].
const QUERY_BLOCK: usize = 64;

/// `softmax(scale · q kᵀ, hidden keys masked) · v` with burn's products (the softmax fused on
/// burn-flex: inference, or training with heads of at least 64).
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
    // NaN cannot leak into real rows through 0 · NaN in the next product.
    let scores = scores.cast(BurnDType::F32);
    let wide = q_dims[3] >= autodiff::ATTENTION_MIN_HEAD_DIM;
    let fused = match kernels::attention_softmax(scores, scale as f32, mask) {
        Err(scores) if wide => autodiff::attention_softmax(scores, scale as f32, mask),
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

/// `log softmax(logits)[target]` at every position, with gradient when `logits` carries one,
/// and optionally each position's entropy `−Σ_v p_v log p_v` (without gradient).
///
/// Fast path: a vocabulary of at least [`autodiff::LOG_SOFTMAX_MIN_VOCAB`] on burn-flex in
/// f32, where the log-softmax, the pick and the entropy are one parallel pass over the logits
/// and the backward pass one more, written over the same buffer.
///
/// # Shapes
/// - `logits`: `[batch, positions, vocab]`
/// - `targets`: `batch · positions` token ids, row-major, each below `vocab`
/// - returns: `[batch, positions]` log-probabilities, and the entropies in the same order
pub(crate) fn log_softmax_gather(
    logits: Tensor<3>,
    targets: &[u32],
    with_entropy: bool,
) -> (Tensor<2>, Option<Vec<f32>>) {
    let [b, t, vocab] = logits.dims();
    let device = logits.device();
    let logits = if vocab >= autodiff::LOG_SOFTMAX_MIN_VOCAB {
        match autodiff::log_softmax_gather(logits, targets, with_entropy) {
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

/// `t` in `dtype` (no op when it is already).
pub(crate) fn to_dtype<const D: usize>(t: Tensor<D>, dtype: BurnDType) -> Tensor<D> {
    if t.dtype() == dtype { t } else { t.cast(dtype) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::attention_mask;
    use burn::tensor::Device;
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
