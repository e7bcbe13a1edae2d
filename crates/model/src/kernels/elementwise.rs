//! Element-wise and row-wise passes, fused and in place: the attention softmax, SwiGLU's gate
//! and RoPE.
//!
//! [`attention_softmax`] folds the `1/√d` scale and the mask into one in-place softmax with a
//! vectorised `exp` that skips hidden keys (burn-flex's softmax calls the scalar `expf`, and
//! the masked half of a causal score matrix then takes its slow underflow path);
//! [`silu_mul`] computes SwiGLU's `silu(gate) ⊙ up` in one in-place pass; [`rope_rotate`]
//! applies RoPE in one pass where burn runs six ops. The row kernels ([`softmax_row`],
//! [`exp_shifted`]) serve the fused attention and the training softmax too.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::{DType as BurnDType, Tensor, TensorData};
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use super::avx512;
use super::{PARALLEL_MIN_ELEMENTS, contiguous, enabled, into_flex};

/// Rows of work per parallel task in the row-wise kernels.
const ROWS_PER_TASK: usize = 32;

/// `softmax(scale · scores + M)` over the last axis, in place, where `M` hides the keys that
/// `mask` marks `true`, on burn-flex f32 tensors without autodiff; `Err(scores)` hands the
/// input back when the kernel does not apply (the caller then runs burn's ops).
///
/// One pass per row computes the scaled maximum over the visible keys, a second the
/// exponentials (vectorised) and their sum, a third the normalisation; hidden keys get exactly
/// 0 without computing an exponential. A row with no visible key (a padding query) gets the
/// uniform average over every key, as filling hidden scores with the most negative finite
/// float and taking burn's softmax does.
///
/// # Shapes
/// - `scores`: `[batch, heads, queries, keys]`, f32
/// - `mask`: `[batch or 1, 1, queries, keys]`, `true` = hidden
/// - returns: the same shape as `scores`
#[allow(clippy::result_large_err)]
pub(crate) fn attention_softmax(
    scores: Tensor<4>,
    scale: f32,
    mask: Option<&Tensor<4, burn::tensor::Bool>>,
) -> Result<Tensor<4>, Tensor<4>> {
    let [b, h, q, k] = scores.dims();
    if !enabled() || scores.dtype() != BurnDType::F32 || k == 0 {
        return Err(scores);
    }
    // The mask as bytes, one row of `k` per (batch row or 1) × query.
    let mask_flex = match mask {
        Some(m) => {
            let [mb, mh, mq, mk] = m.dims();
            if (mb != 1 && mb != b) || mh != 1 || mq != q || mk != k {
                return Err(scores);
            }
            match m.clone().try_into_primitive::<Flex>() {
                Ok(f) if matches!(f.dtype(), BurnDType::Bool(_)) && f.dtype().size() == 1 => {
                    Some((contiguous(f), mb))
                }
                _ => return Err(scores),
            }
        }
        None => None,
    };
    let mut flex = match into_flex(scores) {
        Ok(f) => contiguous(f),
        Err(t) => return Err(t),
    };
    let mask_bytes: Option<(&[u8], usize)> = match &mask_flex {
        Some((f, mb)) => {
            let (start, end) = f
                .layout()
                .contiguous_offsets()
                .expect("made contiguous above");
            Some((&f.storage::<u8>()[start..end], *mb))
        }
        None => None,
    };
    let data = flex.storage_mut::<f32>();
    let rows_per_head = q;
    let task = |(chunk, rows): (usize, &mut [f32])| {
        for (i, row) in rows.chunks_exact_mut(k).enumerate() {
            let r = chunk * ROWS_PER_TASK + i; // global row: ((b · h) + head) · q + query
            let query = r % rows_per_head;
            let batch = r / (rows_per_head * h);
            let hidden = mask_bytes.map(|(m, mb)| {
                let mrow = if mb == 1 { query } else { batch * q + query };
                &m[mrow * k..(mrow + 1) * k]
            });
            softmax_row(row, scale, hidden);
        }
    };
    if b * h * q * k >= PARALLEL_MIN_ELEMENTS {
        data.par_chunks_mut(ROWS_PER_TASK * k)
            .enumerate()
            .for_each(task);
    } else {
        data.chunks_mut(ROWS_PER_TASK * k)
            .enumerate()
            .for_each(task);
    }
    Ok(Tensor::from_primitive::<Flex>(flex))
}

/// In-place `softmax(scale · row)` over the entries where `hidden` is 0 (all when `None`).
pub(super) fn softmax_row(row: &mut [f32], scale: f32, hidden: Option<&[u8]>) {
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: the CPU supports AVX-512F/BW/VL (checked).
        unsafe { avx512::softmax_row(row, scale, hidden) };
        return;
    }
    softmax_row_portable(row, scale, hidden);
}

/// [`softmax_row`] in plain Rust.
fn softmax_row_portable(row: &mut [f32], scale: f32, hidden: Option<&[u8]>) {
    let visible = |j: usize| hidden.is_none_or(|m| m[j] == 0);
    let mut max = f32::NEG_INFINITY;
    for (j, &v) in row.iter().enumerate() {
        if visible(j) && v * scale > max {
            max = v * scale;
        }
    }
    if max == f32::NEG_INFINITY {
        // No visible key: the uniform average (see `attention_softmax`).
        row.fill(1.0 / row.len() as f32);
        return;
    }
    // exp(scale · v − max) for visible entries, 0 for hidden ones.
    match hidden {
        None => exp_shifted(row, scale, max),
        Some(m) => {
            exp_shifted(row, scale, max);
            for (v, &hide) in row.iter_mut().zip(m) {
                if hide != 0 {
                    *v = 0.0;
                }
            }
        }
    }
    let sum: f32 = row.iter().sum();
    let inv = 1.0 / sum;
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// `v ← exp(scale · v − shift)` for every entry (a hidden entry may be any finite value; the
/// caller zeroes it afterwards, and the exponential is clamped so it cannot overflow).
pub(super) fn exp_shifted(row: &mut [f32], scale: f32, shift: f32) {
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: the CPU supports AVX-512F/BW/VL (checked).
        unsafe { avx512::exp_shifted(row, scale, shift) };
        return;
    }
    for v in row.iter_mut() {
        *v = (*v * scale - shift).min(88.0).exp();
    }
}

/// `gate ← silu(gate) ⊙ up` (SwiGLU's hidden activation) in place on burn-flex f32 tensors
/// without autodiff; `Err((gate, up))` hands both back when the kernel does not apply.
///
/// ```text
/// silu(z) = z · sigmoid(z) = z / (1 + exp(−z))
/// ```
///
/// # Shapes
/// - `gate`, `up`: `[..., intermediate]`, the same shape
/// - returns: that shape
#[allow(clippy::type_complexity, clippy::result_large_err)]
pub(crate) fn silu_mul<const D: usize>(
    gate: Tensor<D>,
    up: Tensor<D>,
) -> Result<Tensor<D>, (Tensor<D>, Tensor<D>)> {
    if !enabled()
        || gate.dtype() != BurnDType::F32
        || up.dtype() != BurnDType::F32
        || gate.dims() != up.dims()
    {
        return Err((gate, up));
    }
    let up_flex = match into_flex(up) {
        Ok(f) => contiguous(f),
        Err(up) => return Err((gate, up)),
    };
    let mut gate_flex = match into_flex(gate) {
        Ok(f) => contiguous(f),
        Err(gate) => return Err((gate, Tensor::from_primitive::<Flex>(up_flex))),
    };
    {
        let (start, end) = up_flex
            .layout()
            .contiguous_offsets()
            .expect("made contiguous above");
        let u = &up_flex.storage::<f32>()[start..end];
        let g = gate_flex.storage_mut::<f32>();
        let chunk = 1 << 14;
        let task = |(gc, uc): (&mut [f32], &[f32])| silu_mul_slice(gc, uc);
        if g.len() >= PARALLEL_MIN_ELEMENTS {
            g.par_chunks_mut(chunk)
                .zip(u.par_chunks(chunk))
                .for_each(task);
        } else {
            task((g, u));
        }
    }
    Ok(Tensor::from_primitive::<Flex>(gate_flex))
}

/// `g ← g / (1 + exp(−g)) · u`, element by element.
pub(super) fn silu_mul_slice(g: &mut [f32], u: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: the CPU supports AVX-512F/BW/VL (checked).
        unsafe { avx512::silu_mul(g, u) };
        return;
    }
    for (g, &u) in g.iter_mut().zip(u) {
        *g = *g / (1.0 + (-*g).min(88.0).exp()) * u;
    }
}

/// Split-halves RoPE in one pass, `x ⊙ cos + rotate_half(x) ⊙ sin` with
/// `rotate_half([x₁, x₂]) = [−x₂, x₁]`, on burn-flex f32 tensors without autodiff; `None` when
/// it does not apply (the caller runs burn's ops: two narrows, a negation, a concatenation,
/// two products and a sum, each a pass over the tensor, after a copy of the transposed input).
///
/// `x` may be a strided view (the heads-first view of a projection's output); the result is a
/// fresh contiguous tensor. Each value is computed with burn's operations in burn's order,
/// `(x · cos) + ((−x₂) · sin)`, so the result is bit-identical to burn's.
///
/// # Shapes
/// - `x`: `[batch, heads, seq, d]`, contiguous along `d`
/// - `cos`, `sin`: `[batch or 1, 1, seq, d]`
/// - returns: `[batch, heads, seq, d]`
pub(crate) fn rope_rotate(x: &Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Option<Tensor<4>> {
    let [b, h, seq, d] = x.dims();
    let [cb, ch, cs, cd] = cos.dims();
    if !enabled()
        || d == 0
        || !d.is_multiple_of(2)
        || (cb != 1 && cb != b)
        || (ch, cs, cd) != (1, seq, d)
        || sin.dims() != cos.dims()
        || [x.dtype(), cos.dtype(), sin.dtype()] != [BurnDType::F32; 3]
    {
        return None;
    }
    let x = x.clone().try_into_primitive::<Flex>().ok()?;
    let cos = cos.clone().try_into_primitive::<Flex>().ok()?;
    let sin = sin.clone().try_into_primitive::<Flex>().ok()?;
    // Element (i0, i1, i2, j) of a tensor sits at start + i0·s0 + i1·s1 + i2·s2 + j.
    let strides = |t: &FlexTensor| -> Option<(usize, [usize; 3])> {
        let l = t.layout();
        let st = l.strides();
        if st[3] != 1 || st[..3].iter().any(|&s| s < 0) {
            return None;
        }
        Some((
            l.start_offset(),
            [st[0] as usize, st[1] as usize, st[2] as usize],
        ))
    };
    let ((x0, xs), (c0, cst), (s0, sst)) = (strides(&x)?, strides(&cos)?, strides(&sin)?);
    if cst != sst {
        return None;
    }
    let (xa, ca, sa) = (
        x.storage::<f32>(),
        cos.storage::<f32>(),
        sin.storage::<f32>(),
    );
    // Bounds of the last element each view reaches.
    let last = |start: usize, st: [usize; 3], dims: [usize; 3]| {
        start + (dims[0] - 1) * st[0] + (dims[1] - 1) * st[1] + (dims[2] - 1) * st[2] + d
    };
    if b == 0 || h == 0 || seq == 0 {
        return None;
    }
    if last(x0, xs, [b, h, seq]) > xa.len()
        || last(c0, cst, [cb, 1, seq]) > ca.len()
        || last(s0, sst, [cb, 1, seq]) > sa.len()
    {
        return None;
    }
    let half = d / 2;
    let mut out = vec![0f32; b * h * seq * d];
    let head = |(i, o): (usize, &mut [f32])| {
        let (bi, hi) = (i / h, i % h);
        let ci = if cb == 1 { 0 } else { bi };
        for (t, row) in o.chunks_exact_mut(d).enumerate() {
            let xr = &xa[x0 + bi * xs[0] + hi * xs[1] + t * xs[2]..][..d];
            let cr = &ca[c0 + ci * cst[0] + t * cst[2]..][..d];
            let sr = &sa[s0 + ci * sst[0] + t * sst[2]..][..d];
            let (x1, x2) = xr.split_at(half);
            let (o1, o2) = row.split_at_mut(half);
            for j in 0..half {
                o1[j] = x1[j] * cr[j] + (-x2[j]) * sr[j];
                o2[j] = x2[j] * cr[half + j] + x1[j] * sr[half + j];
            }
        }
    };
    if b * h > 1 && out.len() >= PARALLEL_MIN_ELEMENTS {
        out.par_chunks_mut(seq * d).enumerate().for_each(head);
    } else {
        out.chunks_mut(seq * d).enumerate().for_each(head);
    }
    let data = TensorData::new(out, [b, h, seq, d]);
    Some(Tensor::from_primitive::<Flex>(FlexTensor::from_data(data)))
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    //! AVX-512 elementwise kernels: a vectorised `exp` for the attention softmax and SiLU.

    use std::arch::x86_64::*;

    /// `exp(x)` for 16 lanes, within 2 ulp for `x` in [−87, 88] (inputs are clamped there):
    /// `x = n · ln 2 + r`, `|r| ≤ ln 2 / 2`, `exp(r)` by its degree-6 Taylor polynomial
    /// (relative error below 2e−7 on that interval), then `· 2ⁿ` with `vscalefps`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    #[inline]
    fn exp16(x: __m512) -> __m512 {
        let x = _mm512_max_ps(
            _mm512_min_ps(x, _mm512_set1_ps(88.0)),
            _mm512_set1_ps(-87.0),
        );
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
        );
        // ln 2 split in a high part exact in f32 and a low correction (Cody-Waite).
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_359_4), x);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.121_944_4e-4), r);
        let mut p = _mm512_set1_ps(1.0 / 720.0);
        for c in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
            p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
        }
        _mm512_scalef_ps(p, n)
    }

    /// See [`super::exp_shifted`].
    ///
    /// # Safety
    /// The CPU supports AVX-512F/BW/VL.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(super) unsafe fn exp_shifted(row: &mut [f32], scale: f32, shift: f32) {
        let (s, m) = (_mm512_set1_ps(scale), _mm512_set1_ps(shift));
        let mut chunks = row.chunks_exact_mut(16);
        for c in &mut chunks {
            // SAFETY: `c` holds exactly 16 floats.
            unsafe {
                let v = _mm512_loadu_ps(c.as_ptr());
                let e = exp16(_mm512_fmsub_ps(v, s, m));
                _mm512_storeu_ps(c.as_mut_ptr(), e);
            }
        }
        let tail = chunks.into_remainder();
        if !tail.is_empty() {
            let mask: __mmask16 = ((1u32 << tail.len()) - 1) as __mmask16;
            // SAFETY: the mask covers only the tail's elements.
            unsafe {
                let v = _mm512_maskz_loadu_ps(mask, tail.as_ptr());
                let e = exp16(_mm512_fmsub_ps(v, s, m));
                _mm512_mask_storeu_ps(tail.as_mut_ptr(), mask, e);
            }
        }
    }

    /// See [`super::softmax_row`]: the same three passes, 16 lanes at a time, with the
    /// hidden keys as a lane mask (bytes widened and compared with zero).
    ///
    /// # Safety
    /// The CPU supports AVX-512F/BW/VL; `hidden`, when given, is as long as `row`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(super) unsafe fn softmax_row(row: &mut [f32], scale: f32, hidden: Option<&[u8]>) {
        let n = row.len();
        let s = _mm512_set1_ps(scale);
        // Lanes of chunk `i` that are visible (and inside the row).
        let visible = |i: usize| -> __mmask16 {
            let inside: __mmask16 = if i + 16 <= n {
                0xffff
            } else {
                ((1u32 << (n - i)) - 1) as __mmask16
            };
            match hidden {
                None => inside,
                // SAFETY: the masked load reads only bytes inside the row.
                Some(m) => unsafe {
                    let bytes = _mm_maskz_loadu_epi8(inside, m.as_ptr().add(i).cast());
                    _mm512_mask_cmpeq_epi32_mask(
                        inside,
                        _mm512_cvtepu8_epi32(bytes),
                        _mm512_setzero_si512(),
                    )
                },
            }
        };
        let p = row.as_mut_ptr();
        // SAFETY (all three passes): chunk loads and stores are masked to the row.
        unsafe {
            // Pass 1: the scaled maximum over visible keys.
            let mut maxv = _mm512_set1_ps(f32::NEG_INFINITY);
            let mut i = 0;
            while i < n {
                let k = visible(i);
                let v = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, p.add(i)), s);
                maxv = _mm512_mask_max_ps(maxv, k, maxv, v);
                i += 16;
            }
            let max = _mm512_reduce_max_ps(maxv);
            if max == f32::NEG_INFINITY {
                // No visible key: the uniform average.
                row.fill(1.0 / n as f32);
                return;
            }
            // Pass 2: exp(scale · v − max) on visible keys, exactly 0 on hidden ones; the sum.
            let m = _mm512_set1_ps(max);
            let mut sum = _mm512_setzero_ps();
            let mut i = 0;
            while i < n {
                let inside: __mmask16 = if i + 16 <= n {
                    0xffff
                } else {
                    ((1u32 << (n - i)) - 1) as __mmask16
                };
                let k = visible(i);
                let e = exp16(_mm512_fmsub_ps(_mm512_maskz_loadu_ps(k, p.add(i)), s, m));
                let e = _mm512_maskz_mov_ps(k, e);
                sum = _mm512_add_ps(sum, e);
                _mm512_mask_storeu_ps(p.add(i), inside, e);
                i += 16;
            }
            // Pass 3: normalise.
            let inv = _mm512_set1_ps(1.0 / _mm512_reduce_add_ps(sum));
            let mut i = 0;
            while i < n {
                let inside: __mmask16 = if i + 16 <= n {
                    0xffff
                } else {
                    ((1u32 << (n - i)) - 1) as __mmask16
                };
                let v = _mm512_maskz_loadu_ps(inside, p.add(i));
                _mm512_mask_storeu_ps(p.add(i), inside, _mm512_mul_ps(v, inv));
                i += 16;
            }
        }
    }

    /// See [`super::silu_mul_slice`].
    ///
    /// # Safety
    /// The CPU supports AVX-512F/BW/VL; `g` and `u` have the same length.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(super) unsafe fn silu_mul(g: &mut [f32], u: &[f32]) {
        let one = _mm512_set1_ps(1.0);
        let kernel = |gv: __m512, uv: __m512| {
            let e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), gv));
            _mm512_mul_ps(_mm512_div_ps(gv, _mm512_add_ps(one, e)), uv)
        };
        let n = g.len().min(u.len());
        let mut i = 0;
        // SAFETY: i + 16 ≤ n inside the loop; the masked tail touches only i..n.
        unsafe {
            while i + 16 <= n {
                let out = kernel(
                    _mm512_loadu_ps(g.as_ptr().add(i)),
                    _mm512_loadu_ps(u.as_ptr().add(i)),
                );
                _mm512_storeu_ps(g.as_mut_ptr().add(i), out);
                i += 16;
            }
            if i < n {
                let mask: __mmask16 = ((1u32 << (n - i)) - 1) as __mmask16;
                let gv = _mm512_maskz_loadu_ps(mask, g.as_ptr().add(i));
                let uv = _mm512_maskz_loadu_ps(mask, u.as_ptr().add(i));
                _mm512_mask_storeu_ps(g.as_mut_ptr().add(i), mask, kernel(gv, uv));
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
    fn fused_attention_softmax_equals_scale_mask_fill_softmax() {
        use burn::tensor::Bool;
        use burn::tensor::activation::softmax;
        let device = burn::tensor::Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        let (b, h, q, k) = (2, 3, 5, 37);
        let scores = Tensor::<4>::from_data(
            TensorData::new(random(b * h * q * k, &mut rng), [b, h, q, k]),
            &device,
        ) * 9.0;
        // Row 0: causal-like with a left pad of 3; row 1: query 2 sees no key at all.
        let mut hidden = vec![false; b * q * k];
        for query in 0..q {
            for key in 0..k {
                hidden[query * k + key] = key < 3 || key > 30 + query;
                hidden[(q + query) * k + key] = query == 2 || key % 4 == 1;
            }
        }
        let mask = Tensor::<4, Bool>::from_data(TensorData::new(hidden, [b, 1, q, k]), &device);
        let scale = 0.125f32;
        let expected = softmax(
            (scores.clone() * f64::from(scale))
                .mask_fill(mask.clone().expand([b, h, q, k]), f32::MIN),
            3,
        );
        let fused = attention_softmax(scores.clone(), scale, Some(&mask)).expect("flex f32");
        assert!(fused.clone().all_close(expected, None, Some(1e-6)));
        let row: Vec<f32> = fused
            .narrow(0, 1, 1)
            .narrow(2, 2, 1)
            .into_data()
            .iter::<f32>()
            .collect();
        assert!(
            row.iter().all(|&v| (v - 1.0 / k as f32).abs() < 1e-7),
            "uniform: {row:?}"
        );
        // Without a mask, and with one mask row shared by the batch.
        let unmasked = attention_softmax(scores.clone(), scale, None).expect("flex f32");
        assert!(unmasked.all_close(
            softmax(scores.clone() * f64::from(scale), 3),
            None,
            Some(1e-6)
        ));
        let shared = mask.clone().narrow(0, 0, 1);
        let fused = attention_softmax(scores.clone(), scale, Some(&shared)).expect("flex f32");
        let expected = softmax(
            (scores * f64::from(scale)).mask_fill(shared.expand([b, h, q, k]), f32::MIN),
            3,
        );
        assert!(fused.all_close(expected, None, Some(1e-6)));
        // Autodiff scores are handed back untouched.
        let ad = Tensor::<4>::zeros([1, 1, 2, 3], &device.autodiff()).require_grad();
        assert!(attention_softmax(ad, scale, None).is_err());
    }

    #[test]
    fn fused_silu_mul_equals_silu_times_up() {
        use burn::tensor::activation::silu;
        let device = burn::tensor::Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let shape = [3, 7, 45];
        let n = shape.iter().product();
        let gate =
            Tensor::<3>::from_data(TensorData::new(random(n, &mut rng), shape), &device) * 30.0;
        let up = Tensor::<3>::from_data(TensorData::new(random(n, &mut rng), shape), &device);
        let expected = silu(gate.clone()) * up.clone();
        let fused = match silu_mul(gate, up) {
            Ok(t) => t,
            Err(_) => panic!("flex f32 takes the fused path"),
        };
        assert!(fused.all_close(expected, Some(1e-5), Some(1e-6)));
    }

    #[test]
    fn vectorised_exp_is_within_two_ulp_of_libm() {
        let xs: Vec<f32> = (0..4000)
            .map(|i| -87.0 + i as f32 * (175.0 / 4000.0))
            .collect();
        let mut got = xs.clone();
        exp_shifted(&mut got, 1.0, 0.0);
        for (&x, &g) in xs.iter().zip(&got) {
            let want = x.exp();
            let ulp = (want.to_bits() as i64 - g.to_bits() as i64).abs();
            assert!(ulp <= 2, "exp({x}) = {g}, libm {want} ({ulp} ulp)");
        }
    }

    #[test]
    fn softmax_row_kernels_agree_on_masks_tails_and_empty_rows() {
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        for len in [1, 7, 16, 33, 100] {
            for pattern in 0..3 {
                let row = random(len, &mut rng);
                let hidden: Vec<u8> = (0..len)
                    .map(|j| match pattern {
                        0 => 0,
                        1 => u8::from(j % 3 == 1),
                        _ => 1,
                    })
                    .collect();
                let (mut a, mut b) = (row.clone(), row.clone());
                softmax_row(&mut a, 0.7, Some(&hidden));
                softmax_row_portable(&mut b, 0.7, Some(&hidden));
                for (x, y) in a.iter().zip(&b) {
                    assert!(
                        (x - y).abs() < 1e-6,
                        "len {len} pattern {pattern}: {a:?} vs {b:?}"
                    );
                }
                let total: f32 = a.iter().sum();
                assert!((total - 1.0).abs() < 1e-5, "sums to {total}");
            }
        }
    }
}
