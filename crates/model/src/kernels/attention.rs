//! Prefill attention in one fused pass per block of query positions, on the dot-product tiles
//! of the prefill products (`dot_gemm`).
//!
//! A prefill attends `seq` new positions of every query head over the cached keys. burn's ops
//! run it as two batched GEMMs per block of queries (packing both operands of each), a cast,
//! a mask narrowed and copied per block, and a concatenation of the blocks. Here one task
//! computes one query head's block of up to 64 positions from start to end:
//!
//! ```text
//! S = Q_blk · K[..seen]ᵀ                    [len, seen] f32, dot-product tiles along d
//! P = softmax(scale · S, hidden keys masked) row by row, in place (`softmax_row`)
//! O = P · V[..seen]                         [len, d], dot-product tiles along the keys (Vᵀ)
//! ```
//!
//! `seen` is one past the last key any row of the block may see (read from the mask), so a
//! causal prefill computes about 56% of the full score matrix at 512 tokens, as burn's blocked
//! path does. The blocks of every head and sequence run in parallel, longest first.
//!
//! A bf16 model (`bf16 = true`, on CPUs with `avx512_bf16`) attends as PyTorch's bf16 model
//! does: queries, keys and values rounded to bf16, their products summed in f32 on `vdpbf16ps`,
//! the softmax in f32, its weights rounded to bf16 for the product with the values (PyTorch's
//! CPU SDPA kernel converts them the same way), the context in f32. An f32 model attends in
//! f32 with FMAs: the arithmetic of burn's ops in another order of summation.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::{Bool, Tensor, TensorData};
use rayon::prelude::*;
use std::borrow::Cow;

use super::decode_attention::{AttentionOperands, MAX_ATTENTION_ROWS};
use super::dot_gemm::{self, Operand, Out};
use super::elementwise::softmax_row;
use super::enabled;

/// Smallest head width the fused prefill attention takes: SmolLM2's 64 and Qwen3's 128; narrower
/// heads (the embedded tiny model's 32) stay on burn's ops and their documented arithmetic.
pub const PREFILL_ATTENTION_MIN_HEAD_DIM: usize = 64;

/// Query positions per task.
const QUERY_BLOCK: usize = 64;

/// The operand type of the tiles, made from f32 values: f32 as they are (borrowed, or the
/// buffer itself), bf16 rounded to nearest even.
trait Element: Operand {
    /// The values as operands, borrowed where no conversion is needed.
    fn from_f32_slice(values: &[f32]) -> Cow<'_, [Self]>;
    /// The values as operands, reusing the buffer where no conversion is needed.
    fn from_f32s(values: Vec<f32>) -> Vec<Self>;
}

impl Element for f32 {
    fn from_f32_slice(values: &[f32]) -> Cow<'_, [f32]> {
        Cow::Borrowed(values)
    }

    fn from_f32s(values: Vec<f32>) -> Vec<f32> {
        values
    }
}

impl Element for u16 {
    fn from_f32_slice(values: &[f32]) -> Cow<'_, [u16]> {
        let mut bits = vec![0u16; values.len()];
        dot_gemm::round_to_bf16(values, &mut bits);
        Cow::Owned(bits)
    }

    fn from_f32s(values: Vec<f32>) -> Vec<u16> {
        Self::from_f32_slice(&values).into_owned()
    }
}

/// `softmax(scale · q kᵀ, hidden keys masked) · v` for a prefill on burn-flex f32 tensors
/// without autodiff, with heads of at least [`PREFILL_ATTENTION_MIN_HEAD_DIM`] on a CPU with
/// AVX-512 (and `avx512_bf16` when `bf16`); `None` when it does not apply (the caller then
/// uses burn's ops).
///
/// Rows are grouped as attention lays them out: the `group` query heads that share a K/V head
/// stacked along the sequence axis. The queries are the last `seq = rows / group` key slots.
/// A query row with no visible key (a padding position) gets the average of its block's
/// visible range of values; its output is never seen (its slot is hidden from every real
/// query).
///
/// # Shapes
/// - `q`: `[batch, kv_heads, group · seq, d]`
/// - `k`, `v`: `[batch, kv_heads, keys, d]` (views of a KV cache are read in place)
/// - `mask`: `[batch or 1, 1, group · seq, keys]`, true where a key is hidden
/// - returns: `[batch, kv_heads, group · seq, d]`, f32
pub(crate) fn prefill_attention(
    q: &Tensor<4>,
    k: &Tensor<4>,
    v: &Tensor<4>,
    scale: f32,
    mask: Option<&Tensor<4, Bool>>,
    group: usize,
    bf16: bool,
) -> Option<Tensor<4>> {
    let [b, h, rows, d] = q.dims();
    let keys = k.dims()[2];
    let supported = if bf16 {
        dot_gemm::available()
    } else {
        dot_gemm::available_f32()
    };
    if !enabled()
        || !supported
        || d < PREFILL_ATTENTION_MIN_HEAD_DIM
        || rows <= MAX_ATTENTION_ROWS
        || group == 0
        || !rows.is_multiple_of(group)
        || keys < rows / group
    {
        return None;
    }
    let ops = AttentionOperands::new(q, k, v, mask)?;
    let shape = Shape {
        heads: h,
        rows,
        seq: rows / group,
        keys,
        d,
    };
    let (qs, (ks, vs), mask_bytes) = (ops.queries(), ops.heads(), ops.mask());
    let out = if bf16 {
        attend::<u16>(qs, &ks, &vs, mask_bytes, scale, shape)
    } else {
        attend::<f32>(qs, &ks, &vs, mask_bytes, scale, shape)
    };
    let data = TensorData::new(out, [b, h, rows, d]);
    Some(Tensor::from_primitive::<Flex>(FlexTensor::from_data(data)))
}

/// The sizes of one [`prefill_attention`] call.
#[derive(Clone, Copy)]
struct Shape {
    /// K/V heads per sequence.
    heads: usize,
    /// Query rows per K/V head (`group · seq`).
    rows: usize,
    /// New positions (queries per query head).
    seq: usize,
    /// Key slots.
    keys: usize,
    /// Head width.
    d: usize,
}

/// [`prefill_attention`] on slices: `q` contiguous `[batch · kv_heads, rows, d]`, one `keys × d`
/// slice per (sequence, K/V head) in `ks` and `vs`; returns the context, laid out as `q`.
fn attend<E: Element>(
    q: &[f32],
    ks: &[&[f32]],
    vs: &[&[f32]],
    mask: Option<(&[u8], usize)>,
    scale: f32,
    shape: Shape,
) -> Vec<f32> {
    let Shape {
        heads,
        rows,
        seq,
        keys,
        d,
    } = shape;
    // Each head's keys as operands `[keys, d]`, and its values transposed, `[d, keys]`, so that
    // both products are grids of dot products along rows.
    let operands: Vec<(Cow<'_, [E]>, Vec<E>)> = ks
        .par_iter()
        .zip(vs)
        .map(|(k, v)| {
            let mut vt = vec![0f32; d * keys];
            for (l, row) in v.chunks_exact(d).enumerate() {
                for (i, &x) in row.iter().enumerate() {
                    vt[i * keys + l] = x;
                }
            }
            (E::from_f32_slice(k), E::from_f32s(vt))
        })
        .collect();
    let mut out = vec![0f32; q.len()];
    // One task per (sequence and K/V head, query head of its group, block of positions); the
    // output rows of each are one contiguous piece.
    let mut tasks: Vec<(usize, usize, &mut [f32])> = Vec::new();
    for (head, per_head) in out.chunks_mut(seq * d).enumerate() {
        for (blk, piece) in per_head.chunks_mut(QUERY_BLOCK * d).enumerate() {
            tasks.push((head, blk * QUERY_BLOCK, piece));
        }
    }
    // Longest first: a block late in the sequence sees the most keys.
    tasks.sort_by_key(|&(head, s0, _)| (std::cmp::Reverse(s0), head));
    tasks.into_par_iter().for_each(|(head, s0, ctx)| {
        let len = ctx.len() / d;
        let (kv, r) = (head / (rows / seq), head % (rows / seq)); // K/V head, query head in group
        let first_row = r * seq + s0; // of this K/V head's rows
        let q_rows = &q[(kv * rows + first_row) * d..(kv * rows + first_row + len) * d];
        let hidden_rows = mask.map(|(m, mb)| {
            let sequence = if mb == 1 { 0 } else { kv / heads };
            let at = (sequence * rows + first_row) * keys;
            &m[at..at + len * keys]
        });
        // One past the last key any row of the block sees (all keys without a mask, or when
        // no row sees any).
        let seen = hidden_rows
            .and_then(|m| {
                m.chunks_exact(keys)
                    .filter_map(|row| row.iter().rposition(|&hide| hide == 0))
                    .max()
            })
            .map_or(keys, |last| last + 1);
        let (k_op, vt_op) = &operands[kv];
        // Step 1: scores, [len, seen].
        let q_op = E::from_f32_slice(q_rows);
        let mut scores = vec![0f32; len * seen];
        dot_gemm::product::<E>(
            (&q_op, d),
            len,
            (k_op, d),
            seen,
            d,
            Out::F32(&mut scores),
            seen,
        );
        // Step 2: scale, mask and softmax each row in place.
        for (i, row) in scores.chunks_exact_mut(seen).enumerate() {
            let hidden = hidden_rows.map(|m| &m[i * keys..i * keys + seen]);
            softmax_row(row, scale, hidden);
        }
        // Step 3: context = weights · values, [len, d].
        let p = E::from_f32s(scores);
        dot_gemm::product::<E>((&p, seen), len, (vt_op, keys), d, seen, Out::F32(ctx), d);
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::attention_mask;
    use burn::tensor::activation::softmax;
    use burn::tensor::{DType as BurnDType, Device};
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// `[b, h, slots, d]` uniform in ±`amplitude`.
    fn random(shape: [usize; 4], amplitude: f32, rng: &mut ChaCha8Rng) -> Tensor<4> {
        let values = (0..shape.iter().product())
            .map(|_| rng.random_range(-amplitude..amplitude))
            .collect();
        Tensor::from_data(TensorData::new(values, shape), &Device::flex())
    }

    /// burn's ops: scale, mask with the most negative float, softmax, weighted values.
    fn reference(
        q: &Tensor<4>,
        k: &Tensor<4>,
        v: &Tensor<4>,
        scale: f32,
        mask: &Tensor<4, Bool>,
    ) -> Tensor<4> {
        let scores = q.clone().matmul(k.clone().swap_dims(2, 3)) * f64::from(scale);
        let shape = scores.dims();
        let scores = scores.mask_fill(mask.clone().expand(shape), f32::MIN);
        softmax(scores, 3).matmul(v.clone())
    }

    /// bf16 rounding of every value (as f32).
    fn rounded(t: &Tensor<4>) -> Tensor<4> {
        t.clone().cast(BurnDType::BF16).cast(BurnDType::F32)
    }

    /// Rows of `[b, h, rows, d]` whose query sees at least one key, as flat values.
    fn seeing_rows(t: Tensor<4>, mask: &Tensor<4, Bool>) -> Vec<f32> {
        let [b, h, rows, d] = t.dims();
        let [mb, _, _, keys] = mask.dims();
        let hidden: Vec<bool> = mask.clone().into_data().iter::<bool>().collect();
        let values: Vec<f32> = t.into_data().iter::<f32>().collect();
        let mut kept = Vec::new();
        for i in 0..b * h {
            let m = if mb == 1 { 0 } else { i / h };
            for r in 0..rows {
                let row = &hidden[(m * rows + r) * keys..(m * rows + r + 1) * keys];
                if row.iter().any(|&hide| !hide) {
                    kept.extend_from_slice(&values[(i * rows + r) * d..(i * rows + r + 1) * d]);
                }
            }
        }
        kept
    }

    fn max_difference(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
    }

    /// One prefill's operands: queries, keys and values (views of a larger cache buffer),
    /// the mask, the scale and the group size.
    struct Case {
        q: Tensor<4>,
        k: Tensor<4>,
        v: Tensor<4>,
        mask: Tensor<4, Bool>,
        scale: f32,
        group: usize,
    }

    /// A 150-token prefill from an empty cache (blocks of 64, 64 and 22) with SmolLM2's group
    /// and head width; and one after 30 cached slots of two rows, one left-padded by 37 (7
    /// padding queries), with Qwen3's head width.
    fn cases(seed: u64) -> Vec<Case> {
        // (left pads, cached slots before, new positions, group, head width, cache capacity)
        let shapes = [
            (vec![0], 0, 150, 3, 64, 150),
            (vec![0, 37], 30, 70, 2, 128, 120),
        ];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        shapes
            .into_iter()
            .map(|(left_pad, start, seq, group, d, capacity)| {
                let (b, h, keys) = (left_pad.len(), 2, start + seq);
                let mask = attention_mask(&left_pad, start, seq, group);
                Case {
                    q: random([b, h, group * seq, d], 2.0, &mut rng),
                    k: random([b, h, capacity, d], 2.0, &mut rng).narrow(2, 0, keys),
                    v: random([b, h, capacity, d], 1.0, &mut rng).narrow(2, 0, keys),
                    mask: Tensor::<4, Bool>::from_data(mask, &Device::flex()),
                    scale: (d as f32).sqrt().recip(),
                    group,
                }
            })
            .collect()
    }

    #[test]
    fn prefill_attention_equals_burns_ops_in_f32() {
        if !dot_gemm::available_f32() {
            return; // no AVX-512: the kernel declines (checked below)
        }
        for (i, c) in cases(0).iter().enumerate() {
            let got = prefill_attention(&c.q, &c.k, &c.v, c.scale, Some(&c.mask), c.group, false)
                .expect("applies: flex f32, wide heads, a prefill");
            assert_eq!(got.dims(), c.q.dims());
            let want = reference(&c.q, &c.k, &c.v, c.scale, &c.mask);
            let diff = max_difference(&seeing_rows(got, &c.mask), &seeing_rows(want, &c.mask));
            assert!(diff < 2e-5, "case {i}: {diff}");
        }
    }

    #[test]
    fn prefill_attention_in_bf16_equals_burns_ops_on_rounded_operands() {
        if !dot_gemm::available() {
            return; // no avx512_bf16: the kernel declines (checked below)
        }
        for (i, c) in cases(10).iter().enumerate() {
            let got = prefill_attention(&c.q, &c.k, &c.v, c.scale, Some(&c.mask), c.group, true)
                .expect("applies: flex f32, wide heads, a prefill, avx512_bf16");
            let got = seeing_rows(got, &c.mask);
            // The operands rounded to bf16 as the kernel does; the weights' rounding to bf16
            // (7 mantissa bits: relative 2⁻⁸ at most) moves a context value by at most
            // 2⁻⁸ · max |v| < 0.004.
            let (q, k, v) = (rounded(&c.q), rounded(&c.k), rounded(&c.v));
            let want = seeing_rows(reference(&q, &k, &v, c.scale, &c.mask), &c.mask);
            let diff = max_difference(&got, &want);
            assert!(diff < 4e-3, "case {i}: {diff}");
            // ... and unrounded f32 operands give measurably other values.
            let exact = seeing_rows(reference(&c.q, &c.k, &c.v, c.scale, &c.mask), &c.mask);
            assert!(max_difference(&got, &exact) > 1e-4, "case {i}: rounded");
        }
    }

    #[test]
    fn prefill_attention_declines_what_it_cannot_do() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (group, seq) = (2, 40);
        let mask =
            Tensor::<4, Bool>::from_data(attention_mask(&[0], 0, seq, group), &Device::flex());
        let q = random([1, 2, group * seq, 64], 1.0, &mut rng);
        let k = random([1, 2, seq, 64], 1.0, &mut rng);
        let applies = dot_gemm::available_f32();
        assert_eq!(
            prefill_attention(&q, &k, &k, 0.1, Some(&mask), group, false).is_some(),
            applies
        );
        // Heads narrower than 64 (the embedded tiny model's 32).
        let narrow = |t: &Tensor<4>| t.clone().narrow(3, 0, 32);
        assert!(
            prefill_attention(
                &narrow(&q),
                &narrow(&k),
                &narrow(&k),
                0.1,
                Some(&mask),
                group,
                false
            )
            .is_none()
        );
        // Decoding (at most 16 query rows: `decode_attention`).
        let few = q.clone().narrow(2, 0, 16);
        assert!(prefill_attention(&few, &k, &k, 0.1, None, group, false).is_none());
        // Autodiff tensors (training).
        let ad = Device::flex().autodiff();
        let qa = Tensor::<4>::from_data(q.clone().into_data(), &ad);
        let ka = Tensor::<4>::from_data(k.clone().into_data(), &ad);
        assert!(prefill_attention(&qa, &ka, &ka, 0.1, Some(&mask), group, false).is_none());
    }
}
