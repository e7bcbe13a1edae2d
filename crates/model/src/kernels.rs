//! Hand-written CPU kernels for the shapes where burn-flex's general ops leave speed on the
//! table: the matrix-vector products of token-by-token decoding.
//!
//! Decoding one token multiplies a handful of activation rows (one per sequence of the batch)
//! with every weight matrix of the model. That is a *skinny* product, `[m, k] · Wᵀ` with
//! `m ≤ 16`, and its cost is reading `W` from memory once:
//!
//! ```text
//! y[r, j] = Σ_i x[r, i] · W[j, i]        r < m (≤ 16 rows), j < n (out features), i < k (in)
//! bytes read ≈ n · k · sizeof(W)         the x rows stay in L1/L2; W streams from DRAM once
//! ```
//!
//! burn-flex hands these to the `gemm` crate, which runs products below 192³ multiply-adds on
//! one thread (every projection of SmolLM2-135M at batch 1) and uses AVX2 even where AVX-512 is
//! available; bf16 weights are converted to a fresh f32 copy on every call. [`skinny_linear`]
//! instead splits the rows of `W` into blocks over rayon's pool (the one burn-flex uses), keeps
//! the `x` rows hot, and reads `W` exactly once, converting bf16 to f32 in registers (a 16-bit
//! shift), so bf16 weights move half the bytes of f32 ones. Accumulation is in f32 in every
//! case, as PyTorch's CPU GEMV does.
//!
//! The fast path applies only to burn-flex tensors without autodiff (inference: generation,
//! scoring, rollouts). Training tensors, other backends and wide products (prefill) go through
//! burn's matmul unchanged, so gradients and every other backend see exactly burn's ops.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::{DType as BurnDType, Tensor, TensorData, bf16};
use rayon::prelude::*;
use std::sync::OnceLock;

/// Most activation rows the skinny kernel takes; wider products go to burn's GEMM.
pub const MAX_ROWS: usize = 16;

/// Parallel tasks per rayon thread.
const BLOCKS_PER_THREAD: usize = 4;

/// Products with fewer weight elements than this run on the calling thread.
const PARALLEL_MIN_ELEMENTS: usize = 1 << 16;

/// Whether the hand-written kernels are used: yes unless the environment variable
/// `REASONING_KERNELS` is `burn` (read once), which routes everything through burn's ops so
/// the two can be compared in one build (`docs/performance.md`).
pub fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var("REASONING_KERNELS").map_or(true, |v| v != "burn"))
}

/// A weight matrix as a borrowed row-major `[n, k]` slice.
#[derive(Clone, Copy)]
enum Weights<'a> {
    F32(&'a [f32]),
    Bf16(&'a [u16]),
}

/// `x · wᵀ` for `x: [m, k]` (`m ≤` [`MAX_ROWS`]) and `w: [n, k]` on burn-flex without autodiff,
/// or `None` when the fast path does not apply (another backend, autodiff, other dtypes, too
/// many rows); the caller then uses burn's matmul.
///
/// The result has `x`'s dtype (f32 or bf16), computed with f32 accumulation.
///
/// # Shapes
/// - `x`: `[m, k]`
/// - `w`: `[n, k]`
/// - returns: `[m, n]`
pub fn skinny_linear(x: &Tensor<2>, w: &Tensor<2>) -> Option<Tensor<2>> {
    let [m, k] = x.dims();
    let [n, kw] = w.dims();
    if !enabled() || m == 0 || m > MAX_ROWS || k != kw || n == 0 || k == 0 {
        return None;
    }
    let x_dtype = x.dtype();
    if !matches!(x_dtype, BurnDType::F32 | BurnDType::BF16)
        || !matches!(w.dtype(), BurnDType::F32 | BurnDType::BF16)
    {
        return None;
    }
    // Both must be plain burn-flex tensors; autodiff or other backends fail the conversion.
    let w_flex = w.clone().try_into_primitive::<Flex>().ok()?;
    let x_flex = x.clone().try_into_primitive::<Flex>().ok()?;
    let w_flex = contiguous(w_flex);
    let weights = match w_flex.dtype() {
        BurnDType::F32 => Weights::F32(w_flex.as_slice::<f32>()?),
        BurnDType::BF16 => Weights::Bf16(bf16_bits(w_flex.as_slice::<bf16>()?)),
        _ => return None,
    };
    // The activation rows as f32 (a bf16 model's activations are converted once, here).
    let x_flex = contiguous(x_flex);
    let xs: Vec<f32> = match x_flex.dtype() {
        BurnDType::F32 => x_flex.as_slice::<f32>()?.to_vec(),
        BurnDType::BF16 => x_flex
            .as_slice::<bf16>()?
            .iter()
            .map(|v| v.to_f32())
            .collect(),
        _ => return None,
    };
    let mut out = vec![0f32; m * n];
    matmul_rows(&xs, m, k, weights, n, &mut out);
    let data = match x_dtype {
        BurnDType::BF16 => TensorData::new(out.into_iter().map(bf16::from_f32).collect(), [m, n]),
        _ => TensorData::new(out, [m, n]),
    };
    Some(Tensor::from_primitive::<Flex>(FlexTensor::from_data(data)))
}

/// The tensor itself when contiguous from offset 0, else a contiguous copy.
fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.layout().contiguous_offsets().is_some() {
        t
    } else {
        t.to_contiguous()
    }
}

/// bf16 values as their raw bits.
fn bf16_bits(v: &[bf16]) -> &[u16] {
    // SAFETY: `bf16` is `repr(transparent)` over `u16`: same size, alignment and validity.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u16>(), v.len()) }
}

/// A raw pointer that may cross into rayon tasks; every task writes disjoint elements.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: tasks write disjoint column ranges of the output (see `matmul_rows`).
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// `out[r · n + j] = Σ_i x[r · k + i] · w[j · k + i]`, parallel over blocks of weight rows.
fn matmul_rows(x: &[f32], m: usize, k: usize, w: Weights<'_>, n: usize, out: &mut [f32]) {
    assert_eq!(x.len(), m * k);
    assert_eq!(out.len(), m * n);
    match w {
        Weights::F32(s) => assert_eq!(s.len(), n * k),
        Weights::Bf16(s) => assert_eq!(s.len(), n * k),
    }
    let ptr = OutPtr(out.as_mut_ptr());
    // A few contiguous blocks per thread: long streams for the prefetcher, and spare blocks
    // for a thread that finishes early (the machine may be shared).
    let threads = rayon::current_num_threads();
    let parallel = threads > 1 && n * k >= PARALLEL_MIN_ELEMENTS;
    let block_rows = if parallel {
        n.div_ceil(threads * BLOCKS_PER_THREAD).next_multiple_of(8)
    } else {
        n
    };
    let blocks = n.div_ceil(block_rows);
    let task = move |b: usize| {
        let j0 = b * block_rows;
        let j1 = (j0 + block_rows).min(n);
        // SAFETY: block `b` writes only columns j0..j1 of each of the m output rows; blocks
        // are disjoint and `out` outlives the parallel loop.
        unsafe { block(x, m, k, w, n, j0, j1, ptr) };
    };
    if parallel && blocks > 1 {
        (0..blocks).into_par_iter().for_each(task);
    } else {
        (0..blocks).for_each(task);
    }
}

/// Computes columns `j0..j1` of every output row, with the best instruction set available.
///
/// # Safety
/// `out` must point to `m · n` writable floats, and no other thread may write columns `j0..j1`.
#[allow(clippy::too_many_arguments)]
unsafe fn block(
    x: &[f32],
    m: usize,
    k: usize,
    w: Weights<'_>,
    n: usize,
    j0: usize,
    j1: usize,
    out: OutPtr,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the CPU supports AVX-512F/BW/VL (checked above).
            unsafe { avx512::block(x, m, k, w, n, j0, j1, out.0) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA (checked above).
            unsafe { block_avx2(x, m, k, w, n, j0, j1, out.0) };
            return;
        }
    }
    // SAFETY: forwarded from the caller.
    unsafe { block_portable(x, m, k, w, n, j0, j1, out.0) }
}

/// The portable kernel compiled for AVX2 + FMA (the compiler vectorises the 8-lane loops).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn block_avx2(
    x: &[f32],
    m: usize,
    k: usize,
    w: Weights<'_>,
    n: usize,
    j0: usize,
    j1: usize,
    out: *mut f32,
) {
    // SAFETY: forwarded from the caller.
    unsafe { block_portable(x, m, k, w, n, j0, j1, out) }
}

/// Eight independent partial sums per dot product, so the loop vectorises without reordering
/// a single sum (no fast-math needed).
const LANES: usize = 8;

/// Plain-Rust kernel: one weight row at a time against every activation row.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn block_portable(
    x: &[f32],
    m: usize,
    k: usize,
    w: Weights<'_>,
    n: usize,
    j0: usize,
    j1: usize,
    out: *mut f32,
) {
    let mut row = vec![0f32; k];
    for j in j0..j1 {
        let wrow: &[f32] = match w {
            Weights::F32(s) => &s[j * k..(j + 1) * k],
            Weights::Bf16(s) => {
                for (d, &b) in row.iter_mut().zip(&s[j * k..(j + 1) * k]) {
                    *d = f32::from_bits(u32::from(b) << 16);
                }
                &row
            }
        };
        for r in 0..m {
            let xr = &x[r * k..(r + 1) * k];
            let mut acc = [0f32; LANES];
            let (wc, wt) = wrow.split_at(k - k % LANES);
            let (xc, xt) = xr.split_at(k - k % LANES);
            for (a, b) in wc.chunks_exact(LANES).zip(xc.chunks_exact(LANES)) {
                for l in 0..LANES {
                    acc[l] += a[l] * b[l];
                }
            }
            let mut sum: f32 = acc.iter().sum();
            for (a, b) in wt.iter().zip(xt) {
                sum += a * b;
            }
            // SAFETY: r < m and j < n, inside the caller's `m · n` buffer and its columns.
            unsafe { *out.add(r * n + j) = sum };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    //! AVX-512 kernel: one weight row at a time against up to four activation rows.

    use std::arch::x86_64::*;

    use super::Weights;

    /// A weight element type the kernel widens to f32 in registers.
    trait Element: Copy {
        /// Loads 16 consecutive weights as f32.
        ///
        /// # Safety
        /// AVX-512F/BW/VL present; 16 elements readable at `p`.
        unsafe fn load(p: *const Self) -> __m512;
        /// Loads the first `mask.count_ones()` weights at `p` as f32, zeros elsewhere.
        ///
        /// # Safety
        /// AVX-512F/BW/VL present; the masked elements readable at `p`.
        unsafe fn load_tail(p: *const Self, mask: __mmask16) -> __m512;
    }

    impl Element for f32 {
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m512 {
            // SAFETY: the caller's contract.
            unsafe { _mm512_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn load_tail(p: *const f32, mask: __mmask16) -> __m512 {
            // SAFETY: the caller's contract.
            unsafe { _mm512_maskz_loadu_ps(mask, p) }
        }
    }

    impl Element for u16 {
        /// bf16 bits: zero-extend to 32 bits and shift into the high half, exactly f32.
        #[inline(always)]
        unsafe fn load(p: *const u16) -> __m512 {
            // SAFETY: the caller's contract.
            unsafe {
                let h = _mm256_loadu_si256(p.cast());
                _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h)))
            }
        }
        #[inline(always)]
        unsafe fn load_tail(p: *const u16, mask: __mmask16) -> __m512 {
            // SAFETY: the caller's contract.
            unsafe {
                let h = _mm256_maskz_loadu_epi16(mask, p.cast());
                _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h)))
            }
        }
    }

    /// See [`super::block`].
    ///
    /// # Safety
    /// The CPU supports AVX-512F/BW/VL; as [`super::block`] otherwise.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn block(
        x: &[f32],
        m: usize,
        k: usize,
        w: Weights<'_>,
        n: usize,
        j0: usize,
        j1: usize,
        out: *mut f32,
    ) {
        // SAFETY: forwarded.
        unsafe {
            match w {
                Weights::F32(s) => block_typed(x.as_ptr(), m, k, s.as_ptr(), n, j0, j1, out),
                Weights::Bf16(s) => block_typed(x.as_ptr(), m, k, s.as_ptr(), n, j0, j1, out),
            }
        }
    }

    /// [`block`] for one weight element type.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn block_typed<T: Element>(
        x: *const f32,
        m: usize,
        k: usize,
        w: *const T,
        n: usize,
        j0: usize,
        j1: usize,
        out: *mut f32,
    ) {
        // One weight row at a time, in memory order: the rows of `W` are contiguous, so the
        // whole block is a single sequential stream, which the hardware prefetcher follows
        // best (tiles of several rows, i.e. several short interleaved streams, measured ~25%
        // slower at decode). Each row meets every activation row while it is still in L1, so
        // the weights stream from memory once whatever `m` is.
        for j in j0..j1 {
            let mut r0 = 0;
            while r0 < m {
                let xr = 4.min(m - r0);
                // SAFETY: weight row j < j1 ≤ n and activation rows r0..r0+X ≤ m, as `row`
                // requires.
                unsafe {
                    let (x, w, o) = (x.add(r0 * k), w.add(j * k), out.add(r0 * n + j));
                    match xr {
                        1 => row::<T, 4, 1>(x, w, k, n, o),
                        2 => row::<T, 2, 2>(x, w, k, n, o),
                        3 => row::<T, 2, 3>(x, w, k, n, o),
                        _ => row::<T, 2, 4>(x, w, k, n, o),
                    }
                }
                r0 += xr;
            }
        }
    }

    /// One weight row against `X` activation rows: `out[r · n] = Σ_i x[r · k + i] · w[i]` for
    /// `r < X`. `U` chunks of 16 columns are in flight per step, so `U · X` independent
    /// accumulators hide the FMA latency; the loops over the constant sizes unroll and the
    /// accumulators live in registers.
    ///
    /// # Safety
    /// AVX-512F/BW/VL present; `k` weights and `X` activation rows of `k` floats readable;
    /// `out` writable at `r · n` for `r < X`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    #[inline]
    unsafe fn row<T: Element, const U: usize, const X: usize>(
        x: *const f32,
        w: *const T,
        k: usize,
        n: usize,
        out: *mut f32,
    ) {
        let step = 16 * U;
        let full = k - k % step;
        let mut acc = [[_mm512_setzero_ps(); X]; U];
        let mut i = 0;
        // SAFETY: every load stays within the rows (i + step ≤ full, then 16-wide steps and
        // a masked tail up to k).
        unsafe {
            while i < full {
                for (u, a) in acc.iter_mut().enumerate() {
                    let wv = T::load(w.add(i + 16 * u));
                    for (r, v) in a.iter_mut().enumerate() {
                        *v = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x.add(r * k + i + 16 * u)), *v);
                    }
                }
                i += step;
            }
            while i + 16 <= k {
                let wv = T::load(w.add(i));
                for (r, v) in acc[0].iter_mut().enumerate() {
                    *v = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x.add(r * k + i)), *v);
                }
                i += 16;
            }
            if i < k {
                let mask: __mmask16 = ((1u32 << (k - i)) - 1) as __mmask16;
                let wv = T::load_tail(w.add(i), mask);
                for (r, v) in acc[0].iter_mut().enumerate() {
                    let xv = _mm512_maskz_loadu_ps(mask, x.add(r * k + i));
                    *v = _mm512_fmadd_ps(wv, xv, *v);
                }
            }
            for r in 0..X {
                let mut sum = acc[0][r];
                for a in &acc[1..] {
                    sum = _mm512_add_ps(sum, a[r]);
                }
                *out.add(r * n) = _mm512_reduce_add_ps(sum);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn reference(x: &[f32], m: usize, k: usize, w: &[f32], n: usize) -> Vec<f32> {
        let mut out = vec![0f32; m * n];
        for r in 0..m {
            for j in 0..n {
                out[r * n + j] = (0..k)
                    .map(|i| f64::from(x[r * k + i]) * f64::from(w[j * k + i]))
                    .sum::<f64>() as f32;
            }
        }
        out
    }

    fn random(len: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
        (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    #[test]
    fn skinny_kernel_matches_f64_reference_for_every_row_count_and_tail() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for &(m, k, n) in &[
            (1, 576, 200),
            (3, 37, 9),
            (5, 64, 131),
            (8, 1024, 70),
            (16, 15, 3),
            (9, 300, 1100),
        ] {
            let x = random(m * k, &mut rng);
            let w = random(n * k, &mut rng);
            let expected = reference(&x, m, k, &w, n);
            let mut out = vec![0f32; m * n];
            matmul_rows(&x, m, k, Weights::F32(&w), n, &mut out);
            let mut portable = vec![0f32; m * n];
            for b in 0..n.div_ceil(64) {
                let (j0, j1) = (b * 64, ((b + 1) * 64).min(n));
                // SAFETY: one thread, disjoint blocks, buffer of m · n.
                unsafe {
                    block_portable(&x, m, k, Weights::F32(&w), n, j0, j1, portable.as_mut_ptr())
                };
            }
            for ((a, p), e) in out.iter().zip(&portable).zip(&expected) {
                let tol = 1e-5 * (k as f32).sqrt().max(1.0);
                assert!((a - e).abs() < tol, "m={m} k={k} n={n}: {a} vs {e}");
                assert!(
                    (p - e).abs() < tol,
                    "portable m={m} k={k} n={n}: {p} vs {e}"
                );
            }
        }
    }

    #[test]
    fn bf16_weights_are_widened_exactly() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let (m, k, n) = (2, 45, 67);
        let x = random(m * k, &mut rng);
        let w: Vec<bf16> = random(n * k, &mut rng)
            .into_iter()
            .map(bf16::from_f32)
            .collect();
        let w32: Vec<f32> = w.iter().map(|v| v.to_f32()).collect();
        let expected = reference(&x, m, k, &w32, n);
        let mut out = vec![0f32; m * n];
        matmul_rows(&x, m, k, Weights::Bf16(bf16_bits(&w)), n, &mut out);
        for (a, e) in out.iter().zip(&expected) {
            assert!((a - e).abs() < 1e-4, "{a} vs {e}");
        }
    }

    #[test]
    fn skinny_linear_equals_burn_matmul_and_declines_what_it_cannot_do() {
        let device = burn::tensor::Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let (m, k, n) = (3, 96, 250);
        let x = Tensor::<2>::from_data(TensorData::new(random(m * k, &mut rng), [m, k]), &device);
        let w = Tensor::<2>::from_data(TensorData::new(random(n * k, &mut rng), [n, k]), &device);
        let fast = skinny_linear(&x, &w).expect("flex f32 takes the fast path");
        let slow = x.clone().matmul(w.clone().transpose());
        assert!(fast.all_close(slow, None, Some(1e-5)));
        // A strided (transposed) x is copied, not refused.
        let xt = Tensor::<2>::from_data(TensorData::new(random(m * k, &mut rng), [k, m]), &device)
            .transpose();
        let fast = skinny_linear(&xt, &w).expect("strided rows are made contiguous");
        assert!(fast.all_close(xt.matmul(w.clone().transpose()), None, Some(1e-5)));
        // Too many rows and autodiff tensors take burn's path.
        let wide = Tensor::<2>::zeros([MAX_ROWS + 1, k], &device);
        assert!(skinny_linear(&wide, &w).is_none());
        let ad = device.autodiff();
        let wa = Tensor::<2>::zeros([n, k], &ad).require_grad();
        let xa = Tensor::<2>::zeros([m, k], &ad);
        assert!(skinny_linear(&xa, &wa).is_none());
        // bf16 activations and weights give bf16 out.
        let (xb, wb) = (
            x.clone().cast(BurnDType::BF16),
            w.clone().cast(BurnDType::BF16),
        );
        let fast = skinny_linear(&xb, &wb).expect("bf16 takes the fast path");
        assert_eq!(fast.dtype(), BurnDType::BF16);
        let slow = xb.matmul(wb.transpose());
        assert!(
            fast.cast(BurnDType::F32)
                .all_close(slow.cast(BurnDType::F32), None, Some(0.05))
        );
    }
}
