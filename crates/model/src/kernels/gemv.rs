//! Decoding products: `x · Wᵀ` for a handful of activation rows, at the speed of reading `W`.
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
//! one thread (every projection of SmolLM2-135M at batch 1), handles several rows poorly, and
//! converts bf16 weights to a fresh f32 copy on every call. [`skinny_linear`] instead splits
//! the rows of `W` into blocks over rayon's pool (the one burn-flex uses), streams each block
//! once in memory order with every activation row kept hot, and widens bf16 to f32 in
//! registers (a 16-bit shift), so bf16 weights move half the bytes of f32 ones. Accumulation
//! is in f32 in every case, as PyTorch's CPU GEMV does.
//!
//! Several activation rows (batched decoding) are compute-bound enough that the hardware
//! prefetcher lets the weight stream stall, so their tiles prefetch the weight rows a few
//! tiles ahead. [`stream_sum`] is the same read stream without the arithmetic, for measuring
//! the bandwidth limit.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::{DType as BurnDType, Tensor, TensorData, bf16};
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use super::avx2;
use super::{bf16_bits, contiguous, enabled};

/// Most activation rows the skinny kernel takes; wider products go to burn's GEMM.
pub const MAX_ROWS: usize = 16;

/// Parallel tasks per rayon thread.
const BLOCKS_PER_THREAD: usize = 4;

/// Skinny products with fewer weights than this run on the calling thread when they have fewer
/// than 4 activation rows: SmolLM2's key and value projections (110 K weights) stay on one
/// thread, its other projections (330-885 K) are split. One core streams 18-20 GB/s of the
/// machine's 25-29, so splitting gains less than the second core's share: on a quiet machine
/// (load 1.3) batch-1 decode of SmolLM2's shapes went from 27.3-31.2 to 27.1-27.8 ms per token
/// when the threshold came down from 1 M to 256 K weights (docs/performance-history.md, step 7). On a
/// busy machine waiting for the second core's turn costs more (a 1536 × 576 product measured
/// 3-6x slower split than on one thread at load 6), which is why the threshold was 1 M before.
const PARALLEL_MIN_WEIGHTS: usize = 1 << 18;

/// With 4 or more activation rows a product is compute-bound, and splitting pays off sooner.
const PARALLEL_MIN_WEIGHTS_BATCHED: usize = 1 << 16;

/// A weight matrix as a borrowed row-major `[n, k]` slice.
#[derive(Clone, Copy)]
pub(super) enum Weights<'a> {
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
        // bf16 weights multiply bf16 activations, as in the wide products (`wide_linear_bf16`).
        BurnDType::F32 if matches!(weights, Weights::Bf16(_)) => x_flex
            .as_slice::<f32>()?
            .iter()
            .map(|&v| bf16::from_f32(v).to_f32())
            .collect(),
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

/// The sum of `data`, read once front to back at memory speed: 64 independent lanes, so the
/// loop vectorises without reordering any one sum. This is the read stream of a decode step
/// without its arithmetic; `cargo xtask bench bandwidth` times it on every core to measure the
/// bandwidth limit that decoding is held to.
pub fn stream_sum(data: &[f32]) -> f32 {
    let mut acc = [0f32; 64];
    let mut chunks = data.chunks_exact(64);
    for chunk in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// A raw pointer that may cross into rayon tasks; every task writes disjoint elements.
#[derive(Clone, Copy)]
pub(super) struct OutPtr(pub(super) *mut f32);
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
    let parallel = threads > 1
        && (n * k >= PARALLEL_MIN_WEIGHTS || (m >= 4 && n * k >= PARALLEL_MIN_WEIGHTS_BATCHED));
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
pub(super) unsafe fn block(
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
    if avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked).
        unsafe { gemv_avx2::block(x, m, k, w, n, j0, j1, out.0) };
        return;
    }
    // SAFETY: forwarded from the caller.
    unsafe { block_portable(x, m, k, w, n, j0, j1, out.0) }
}

/// Eight independent partial sums per dot product, so the loop vectorises without reordering
/// a single sum (no fast-math needed).
const LANES: usize = 8;

/// Plain-Rust kernel (CPUs without AVX2): one weight row at a time against every activation
/// row.
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
mod gemv_avx2 {
    //! AVX2 + FMA matrix kernel: one weight row at a time against up to four activation rows.
    //!
    //! 256-bit vectors on purpose: streaming weights with 512-bit loads measured 10-15% below
    //! 256-bit ones on this machine's AMD EPYC (20-23 against 17-21 GB/s on one core, 150
    //! matrices of 1536 × 576, f32 and bf16), and decoding is nothing but that stream.

    use std::arch::x86_64::*;

    use super::Weights;

    /// A weight element type the kernel widens to f32 in registers.
    trait Element: Copy {
        /// Loads 8 consecutive weights as f32.
        ///
        /// # Safety
        /// AVX2 present; 8 elements readable at `p`.
        unsafe fn load(p: *const Self) -> __m256;
        /// One weight as f32.
        ///
        /// # Safety
        /// `p` readable.
        unsafe fn scalar(p: *const Self) -> f32;
    }

    impl Element for f32 {
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m256 {
            // SAFETY: the caller's contract.
            unsafe { _mm256_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn scalar(p: *const f32) -> f32 {
            // SAFETY: the caller's contract.
            unsafe { *p }
        }
    }

    impl Element for u16 {
        /// bf16 bits: zero-extend to 32 bits and shift into the high half, exactly f32.
        #[inline(always)]
        unsafe fn load(p: *const u16) -> __m256 {
            // SAFETY: the caller's contract.
            unsafe {
                let h = _mm_loadu_si128(p.cast());
                _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h)))
            }
        }
        #[inline(always)]
        unsafe fn scalar(p: *const u16) -> f32 {
            // SAFETY: the caller's contract.
            f32::from_bits(u32::from(unsafe { *p }) << 16)
        }
    }

    /// See [`super::block`].
    ///
    /// # Safety
    /// The CPU supports AVX2 and FMA; as [`super::block`] otherwise.
    #[target_feature(enable = "avx2,fma")]
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
    #[target_feature(enable = "avx2,fma")]
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
        // One activation row (decoding a single sequence, memory-bound): one weight row at a
        // time, in memory order. The rows of `W` are contiguous, so the whole block is a
        // single sequential stream, which the hardware prefetcher follows best (tiles of
        // several rows, i.e. several short interleaved streams, measured ~25% slower here).
        //
        // Several activation rows (a batch, compute-bound): tiles of TW weight rows × 4
        // activation rows, so each weight load feeds 4 FMAs and each activation load TW; the
        // tile's weight rows are read from memory once and meet every activation row while
        // they are in L1.
        let mut j = j0;
        while j < j1 {
            let wr = if m == 1 { 1 } else { TW.min(j1 - j) };
            let mut r0 = 0;
            while r0 < m {
                let xr = 4.min(m - r0);
                // SAFETY: weight rows j..j+wr ≤ j1 ≤ n and activation rows r0..r0+xr ≤ m, as
                // `tile` requires.
                // The first pass over these weight rows also asks for the rows PF_TILES tiles
                // ahead (one activation row streams well without it; see PF_TILES).
                let pf = if r0 == 0 && j + wr < n {
                    w.wrapping_add((j + wr * PF_TILES) * k).cast::<i8>()
                } else {
                    std::ptr::null()
                };
                unsafe {
                    let (x, w, o) = (x.add(r0 * k), w.add(j * k), out.add(r0 * n + j));
                    match (wr, xr) {
                        (1, 1) => tile::<T, 1, 4, 1, false>(x, w, k, n, o, pf),
                        (1, 2) => tile::<T, 1, 2, 2, true>(x, w, k, n, o, pf),
                        (1, 3) => tile::<T, 1, 2, 3, true>(x, w, k, n, o, pf),
                        (1, _) => tile::<T, 1, 2, 4, true>(x, w, k, n, o, pf),
                        (2, 1) => tile::<T, 2, 2, 1, false>(x, w, k, n, o, pf),
                        (2, 2) => tile::<T, 2, 1, 2, true>(x, w, k, n, o, pf),
                        (2, 3) => tile::<T, 2, 1, 3, true>(x, w, k, n, o, pf),
                        (2, _) => tile::<T, 2, 1, 4, true>(x, w, k, n, o, pf),
                        (_, 1) => tile::<T, 3, 1, 1, false>(x, w, k, n, o, pf),
                        (_, 2) => tile::<T, 3, 1, 2, true>(x, w, k, n, o, pf),
                        (_, 3) => tile::<T, 3, 1, 3, true>(x, w, k, n, o, pf),
                        (_, _) => tile::<T, 3, 1, 4, true>(x, w, k, n, o, pf),
                    }
                }
                r0 += xr;
            }
            j += wr;
        }
    }

    /// How many tiles ahead a batched pass prefetches its weight rows (into L2). Computing a
    /// tile of several activation rows takes long enough that the hardware prefetcher lets
    /// the weight stream stall: the batch-8 kernel ran at about a third of its in-cache speed
    /// on weights coming from memory. With software prefetches 4 tiles ahead, SmolLM2's
    /// batch-8 decode went from 123-132 to 164-183 tokens/s (docs/performance-history.md, step 10);
    /// 1, 2, 8, 16, 32 and 64 tiles ahead were no better. One activation row (decoding one
    /// sequence) gained nothing from it and does not prefetch.
    const PF_TILES: usize = 4;

    /// Weight rows per tile when several activation rows share them (3 × 4 = 12 accumulators,
    /// plus 3 weight vectors and an activation vector: the 16 AVX2 registers).
    const TW: usize = 3;

    /// `W` weight rows against `X` activation rows: `out[r · n + c] = Σ_i x[r · k + i] ·
    /// w[c · k + i]` for `c < W`, `r < X`. With `PF`, the `W` rows' worth of bytes from `pf`
    /// on are prefetched into L2 over the main loop (`pf` may point anywhere, even past the
    /// weights or be null: prefetches are hints that never fault). `U` chunks of 8 columns are in flight per step, so
    /// `W · U · X` independent accumulators hide the FMA latency; the loops over the constant
    /// sizes unroll and the accumulators live in registers.
    ///
    /// # Safety
    /// AVX2 and FMA present; `W` weight rows and `X` activation rows of `k` elements readable;
    /// `out` writable at `r · n + c`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    // Explicit indices read best for a 3-D register tile (and unroll fully).
    #[allow(clippy::needless_range_loop)]
    unsafe fn tile<T: Element, const W: usize, const U: usize, const X: usize, const PF: bool>(
        x: *const f32,
        w: *const T,
        k: usize,
        n: usize,
        out: *mut f32,
        pf: *const i8,
    ) {
        let step = 8 * U;
        let full = k - k % step;
        let mut acc = [[[_mm256_setzero_ps(); X]; U]; W];
        let mut i = 0;
        // Prefetch the next W rows (as many bytes as this tile's rows) evenly over the main
        // loop, so the memory stream keeps going while the tile computes.
        let pf_total = W * k * size_of::<T>();
        let pf_step = pf_total.div_ceil((full / step).max(1)).next_multiple_of(64);
        let mut pf_at = 0;
        // SAFETY: every load stays within the rows (i + step ≤ full, then 8-wide steps, then
        // scalars up to k); prefetches are hints that never fault, and their addresses are
        // only formed with wrapping arithmetic.
        unsafe {
            while i < full {
                if PF && !pf.is_null() {
                    let end = (pf_at + pf_step).min(pf_total);
                    while pf_at < end {
                        _mm_prefetch::<_MM_HINT_T1>(pf.wrapping_add(pf_at));
                        pf_at += 64;
                    }
                }
                for u in 0..U {
                    let wv: [__m256; W] =
                        std::array::from_fn(|c| T::load(w.add(c * k + i + 8 * u)));
                    for r in 0..X {
                        let xv = _mm256_loadu_ps(x.add(r * k + i + 8 * u));
                        for c in 0..W {
                            acc[c][u][r] = _mm256_fmadd_ps(wv[c], xv, acc[c][u][r]);
                        }
                    }
                }
                i += step;
            }
            while i + 8 <= k {
                let wv: [__m256; W] = std::array::from_fn(|c| T::load(w.add(c * k + i)));
                for r in 0..X {
                    let xv = _mm256_loadu_ps(x.add(r * k + i));
                    for c in 0..W {
                        acc[c][0][r] = _mm256_fmadd_ps(wv[c], xv, acc[c][0][r]);
                    }
                }
                i += 8;
            }
            for c in 0..W {
                for r in 0..X {
                    let mut sum = acc[c][0][r];
                    for a in &acc[c][1..] {
                        sum = _mm256_add_ps(sum, a[r]);
                    }
                    // Horizontal sum of the 8 lanes.
                    let half =
                        _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps::<1>(sum));
                    let half = _mm_add_ps(half, _mm_movehl_ps(half, half));
                    let one = _mm_add_ss(half, _mm_movehdup_ps(half));
                    let mut total = _mm_cvtss_f32(one);
                    for t in i..k {
                        total += T::scalar(w.add(c * k + t)) * *x.add(r * k + t);
                    }
                    *out.add(r * n + c) = total;
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
