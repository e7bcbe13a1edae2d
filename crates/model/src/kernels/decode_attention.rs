//! Decode attention: a few query rows over the KV cache in one pass per head.
//!
//! [`decode_attention`] computes a decode step's attention per K/V head in one stream over the
//! cached keys (through the decoding product's kernel) and one over the cached values, where
//! burn would run two tiny batched GEMMs that re-pack the cache at every step:
//!
//! ```text
//! o[r] = Σ_l softmax_l(scale · q[r]·K[l], hidden keys masked) · V[l]      r < rows (≤ 16)
//! ```
//!
//! [`AttentionOperands`] reads the operands of an attention call in place; the prefill
//! attention ([`super::attention`]) uses it too.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::{DType as BurnDType, Tensor, TensorData};
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use super::avx2;
use super::elementwise::softmax_row;
use super::gemv::{OutPtr, Weights, block};
use super::{PARALLEL_MIN_ELEMENTS, contiguous, enabled};

/// Most query rows per K/V head that [`decode_attention`] takes (decoding: the query group of
/// one new position, or a few).
pub(super) const MAX_ATTENTION_ROWS: usize = 16;

/// Attention of a few query rows over a KV cache in one pass per head, on burn-flex f32
/// tensors without autodiff: `softmax(scale · q kᵀ, hidden keys masked) · v`, or `None` when
/// the fast path does not apply (the caller then uses burn's ops).
///
/// burn's batched matmul treats each head's `[rows, d] × [d, keys]` product as a tiny GEMM and
/// re-packs the cached keys and values at every step; here each head streams its cached rows
/// once for the scores (the skinny product kernel) and once for the values, straight from the
/// cache buffer (its rows are contiguous even though the cache is a narrowed view), heads in
/// parallel. The mask has the layout of [`attention_softmax`]'s.
///
/// # Shapes
/// - `q`: `[batch, kv_heads, rows, d]` (`rows ≤` [`MAX_ATTENTION_ROWS`])
/// - `k`, `v`: `[batch, kv_heads, keys, d]`
/// - `mask`: `[batch or 1, 1, rows, keys]`, true where a key is hidden
/// - returns: `[batch, kv_heads, rows, d]`
pub(crate) fn decode_attention(
    q: &Tensor<4>,
    k: &Tensor<4>,
    v: &Tensor<4>,
    scale: f32,
    mask: Option<&Tensor<4, burn::tensor::Bool>>,
) -> Option<Tensor<4>> {
    let [b, h, rows, d] = q.dims();
    let keys = k.dims()[2];
    if !enabled() || rows == 0 || rows > MAX_ATTENTION_ROWS || keys == 0 {
        return None;
    }
    let ops = AttentionOperands::new(q, k, v, mask)?;
    let (qs, (ks, vs), mask_bytes) = (ops.queries(), ops.heads(), ops.mask());
    let mut out = vec![0f32; b * h * rows * d];
    let head = |(i, ctx): (usize, &mut [f32])| {
        let (bi, xs) = (i / h, &qs[i * rows * d..(i + 1) * rows * d]);
        let (ks, vs) = (ks[i], vs[i]);
        // Step 1: scores = q kᵀ, one stream over the cached keys.
        let mut scores = vec![0f32; rows * keys];
        // SAFETY: one thread writes all `rows · keys` scores of this head.
        unsafe {
            block(
                xs,
                rows,
                d,
                Weights::F32(ks),
                keys,
                0,
                keys,
                OutPtr(scores.as_mut_ptr()),
            )
        };
        // Step 2: scale, mask and softmax each row in place.
        for (r, row) in scores.chunks_exact_mut(keys).enumerate() {
            let hidden = mask_bytes.map(|(m, mb)| {
                let mrow = if mb == 1 { r } else { bi * rows + r };
                &m[mrow * keys..(mrow + 1) * keys]
            });
            softmax_row(row, scale, hidden);
        }
        // Step 3: context = weights · v, one stream over the cached values.
        weighted_rows(&scores, rows, keys, vs, d, ctx);
    };
    if b * h > 1 && b * h * keys * d >= PARALLEL_MIN_ELEMENTS {
        out.par_chunks_mut(rows * d).enumerate().for_each(head);
    } else {
        out.chunks_mut(rows * d).enumerate().for_each(head);
    }
    let data = TensorData::new(out, [b, h, rows, d]);
    Some(Tensor::from_primitive::<Flex>(FlexTensor::from_data(data)))
}

/// The burn-flex f32 operands of an attention call (`q: [b, h, rows, d]`, `k`, `v`:
/// `[b, h, keys, d]`, `mask: [b or 1, 1, rows, keys]`), checked and read in place: the queries
/// contiguous, each (sequence, K/V head)'s key and value rows, the mask as bytes.
pub(super) struct AttentionOperands {
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
    k_starts: Vec<usize>,
    v_starts: Vec<usize>,
    mask: Option<(FlexTensor, usize)>,
    keys: usize,
    d: usize,
}

impl AttentionOperands {
    /// The operands, or `None` when a tensor is not a plain burn-flex one, the shapes
    /// disagree with the ones above, the mask is not one byte per key, or a head's rows are
    /// not one contiguous run (the views of a KV cache are).
    pub(super) fn new(
        q: &Tensor<4>,
        k: &Tensor<4>,
        v: &Tensor<4>,
        mask: Option<&Tensor<4, burn::tensor::Bool>>,
    ) -> Option<Self> {
        let [b, h, rows, d] = q.dims();
        let [kb, kh, keys, kd] = k.dims();
        if (kb, kh, kd) != (b, h, d)
            || v.dims() != [b, h, keys, d]
            || [q.dtype(), k.dtype(), v.dtype()] != [BurnDType::F32; 3]
        {
            return None;
        }
        let mask = match mask {
            Some(m) => {
                let [mb, mh, mq, mk] = m.dims();
                if (mb != 1 && mb != b) || mh != 1 || mq != rows || mk != keys {
                    return None;
                }
                let f = m.clone().try_into_primitive::<Flex>().ok()?;
                if !matches!(f.dtype(), BurnDType::Bool(_)) || f.dtype().size() != 1 {
                    return None;
                }
                f.layout().contiguous_offsets()?;
                Some((contiguous(f), mb))
            }
            None => None,
        };
        let q = contiguous(q.clone().try_into_primitive::<Flex>().ok()?);
        q.as_slice::<f32>()?;
        let k = k.clone().try_into_primitive::<Flex>().ok()?;
        let v = v.clone().try_into_primitive::<Flex>().ok()?;
        let (k_starts, v_starts) = (head_offsets(&k, b, h, d)?, head_offsets(&v, b, h, d)?);
        let (k_len, v_len) = (k.storage::<f32>().len(), v.storage::<f32>().len());
        if k_starts.iter().any(|&o| o + keys * d > k_len)
            || v_starts.iter().any(|&o| o + keys * d > v_len)
        {
            return None;
        }
        Some(AttentionOperands {
            q,
            k,
            v,
            k_starts,
            v_starts,
            mask,
            keys,
            d,
        })
    }

    /// The queries, `[b · h · rows · d]` contiguous.
    pub(super) fn queries(&self) -> &[f32] {
        self.q.as_slice::<f32>().expect("checked in `new`")
    }

    /// Each (sequence, K/V head)'s `keys × d` key rows and value rows.
    pub(super) fn heads(&self) -> (Vec<&[f32]>, Vec<&[f32]>) {
        let run = self.keys * self.d;
        let (k, v) = (self.k.storage::<f32>(), self.v.storage::<f32>());
        (
            self.k_starts.iter().map(|&o| &k[o..o + run]).collect(),
            self.v_starts.iter().map(|&o| &v[o..o + run]).collect(),
        )
    }

    /// The mask, one byte per (mask row, query, key), and its batch size (1 or `b`).
    pub(super) fn mask(&self) -> Option<(&[u8], usize)> {
        self.mask.as_ref().map(|(f, mb)| {
            let (start, end) = f.layout().contiguous_offsets().expect("made contiguous");
            (&f.storage::<u8>()[start..end], *mb)
        })
    }
}

/// Where each (sequence, head) of a `[b, h, keys, d]` tensor starts in its storage, when every
/// head's rows are one contiguous `keys × d` run (a KV cache's narrowed view is); `None`
/// otherwise.
fn head_offsets(t: &FlexTensor, b: usize, h: usize, d: usize) -> Option<Vec<usize>> {
    let l = t.layout();
    let st = l.strides();
    if st[3] != 1 || st[2] != d as isize || st[0] < 0 || st[1] < 0 {
        return None;
    }
    let (s0, s1) = (st[0] as usize, st[1] as usize);
    Some(
        (0..b * h)
            .map(|i| l.start_offset() + (i / h) * s0 + (i % h) * s1)
            .collect(),
    )
}

/// `out[r] = Σ_l w[r · keys + l] · v[l]` for the `rows` weight rows and `keys` value rows of
/// width `d`: each value row is read once and meets every weight row.
fn weighted_rows(w: &[f32], rows: usize, keys: usize, v: &[f32], d: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked).
        unsafe { weighted_rows_avx2(w, rows, keys, v, d, out) };
        return;
    }
    weighted_rows_portable(w, rows, keys, v, d, out);
}

/// [`weighted_rows`] compiled for AVX2 + FMA (the same code; the compiler vectorises the
/// loop over `d`).
///
/// # Safety
/// The CPU supports AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn weighted_rows_avx2(
    w: &[f32],
    rows: usize,
    keys: usize,
    v: &[f32],
    d: usize,
    out: &mut [f32],
) {
    weighted_rows_portable(w, rows, keys, v, d, out);
}

#[inline(always)]
fn weighted_rows_portable(
    w: &[f32],
    rows: usize,
    keys: usize,
    v: &[f32],
    d: usize,
    out: &mut [f32],
) {
    out.fill(0.0);
    for (l, vrow) in v.chunks_exact(d).take(keys).enumerate() {
        for (r, acc) in out.chunks_exact_mut(d).take(rows).enumerate() {
            let weight = w[r * keys + l];
            if weight != 0.0 {
                for (a, x) in acc.iter_mut().zip(vrow) {
                    *a += weight * x;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::random;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn decode_attention_equals_burns_ops_on_a_narrowed_cache() {
        use burn::tensor::Bool;
        use burn::tensor::activation::softmax;
        let device = burn::tensor::Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (b, h, rows, d, capacity, keys) = (2, 3, 2, 16, 12, 9);
        let t = |n: usize, shape: [usize; 4], rng: &mut ChaCha8Rng| {
            Tensor::<4>::from_data(TensorData::new(random(n, rng), shape), &device)
        };
        let q = t(b * h * rows * d, [b, h, rows, d], &mut rng) * 3.0;
        // The cache is a buffer of `capacity` slots narrowed to the `keys` filled ones.
        let k = t(b * h * capacity * d, [b, h, capacity, d], &mut rng).narrow(2, 0, keys);
        let v = t(b * h * capacity * d, [b, h, capacity, d], &mut rng).narrow(2, 0, keys);
        // Row 0 has a left pad of 2; row 1 hides every other key for query row 1.
        let mut hidden = vec![false; b * rows * keys];
        for r in 0..rows {
            for key in 0..keys {
                hidden[r * keys + key] = key < 2;
                hidden[(rows + r) * keys + key] = r == 1 && key % 2 == 0;
            }
        }
        let mask =
            Tensor::<4, Bool>::from_data(TensorData::new(hidden, [b, 1, rows, keys]), &device);
        let scale = 0.25f32;
        let reference = |mask: Option<&Tensor<4, Bool>>| {
            let scores = q.clone().matmul(k.clone().swap_dims(2, 3)) * f64::from(scale);
            let scores = match mask {
                Some(m) => scores.mask_fill(m.clone().expand([b, h, rows, keys]), f32::MIN),
                None => scores,
            };
            softmax(scores, 3).matmul(v.clone())
        };
        for mask in [Some(&mask), None] {
            let fused = decode_attention(&q, &k, &v, scale, mask).expect("flex f32, few rows");
            assert_eq!(fused.dims(), [b, h, rows, d]);
            assert!(fused.all_close(reference(mask), None, Some(1e-5)));
        }
        // Too many query rows, or autodiff tensors, take burn's path.
        let many = t(b * h * 17 * d, [b, h, 17, d], &mut rng);
        assert!(decode_attention(&many, &k, &v, scale, None).is_none());
        let ad_device = device.autodiff();
        let qa = Tensor::<4>::from_data(q.clone().into_data(), &ad_device);
        let ka = Tensor::<4>::from_data(k.clone().into_data(), &ad_device);
        let va = Tensor::<4>::from_data(v.clone().into_data(), &ad_device);
        assert!(decode_attention(&qa, &ka, &va, scale, None).is_none());
    }
}
