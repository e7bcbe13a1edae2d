//! Wide products `x · Wᵀ` as grids of dot products with AVX-512, for prefill: bf16 × bf16 on
//! the CPU's `avx512_bf16` dot-product instruction, and f32 × f32 with FMA.
//!
//! `vdpbf16ps` multiplies 32 pairs of bf16 numbers and adds each adjacent pair of products
//! into one of 16 f32 lanes: 32 multiply-adds per instruction, twice as many as an f32 FMA of
//! the same width. A product `x · Wᵀ` with both operands stored along `k` is a grid of dot
//! products, so each tile of 4 activation rows × 4 weight rows keeps 16 vector accumulators,
//! loads each of its 8 rows once per vector of `k`, and sums each accumulator's lanes at the
//! end with one transposing tree of adds:
//!
//! ```text
//! out[r, j] = Σ_lanes Σ_p madd(x[r, p·L .. (p+1)·L], W[j, p·L .. (p+1)·L])     L = 32 (bf16), 16 (f32)
//! ```
//!
//! No operand is packed: both are read in place, row after row. The products of two bf16
//! numbers are exact in f32 and every sum is an f32 addition (round to nearest even), so the
//! bf16 result is the f32-accumulated product in another order of summation; the instruction
//! flushes denormal inputs and results to zero. The f32 path is a plain FMA dot product, the
//! same arithmetic as any f32 GEMM in another order. The work is split into blocks of 64 weight
//! rows × 256 activation rows over rayon's pool: a block's weights stay in L2 while its
//! activation rows stream past them.

use rayon::prelude::*;
use std::sync::OnceLock;

/// Weight rows per parallel block (a multiple of the tile's 4).
const BLOCK_COLS: usize = 64;
/// Activation rows per parallel block (a multiple of the tile's 4).
const BLOCK_ROWS: usize = 256;

/// Whether the CPU has AVX-512 F, BW, VL and BF16 (the bf16 products), detected once.
pub(super) fn available() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            available_f32() && std::arch::is_x86_feature_detected!("avx512bf16")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// Whether the CPU has AVX-512 F, BW and VL (the f32 products), detected once.
pub(super) fn available_f32() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vl")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// The operands' element type: bf16 bits or f32.
pub(super) trait Operand: Copy + Send + Sync + 'static {
    /// Elements per 512-bit vector.
    const LANES: usize;

    /// Whether the CPU can multiply this type here.
    fn supported() -> bool;

    /// Computes `out` rows `r0..r1` × columns `j0..j1` (see `avx512::block`).
    ///
    /// # Safety
    /// [`Operand::supported`] must hold; `x` holds rows `..r1` of `k` readable values each,
    /// `x.stride` apart, `w` rows `..j1` likewise, and `out` points to a row-major matrix
    /// with rows `n` apart and at least `r1` rows that no other thread writes in this block.
    unsafe fn block(
        x: Rows<Self>,
        w: Rows<Self>,
        k: usize,
        n: usize,
        rows: (usize, usize),
        cols: (usize, usize),
        out: OutPtr,
    );
}

/// Implements [`Operand`] for a type with its lane count and CPU check.
macro_rules! operand {
    ($ty:ty, $lanes:expr, $supported:path, $block:ident) => {
        impl Operand for $ty {
            const LANES: usize = $lanes;

            fn supported() -> bool {
                $supported()
            }

            unsafe fn block(
                x: Rows<Self>,
                w: Rows<Self>,
                k: usize,
                n: usize,
                rows: (usize, usize),
                cols: (usize, usize),
                out: OutPtr,
            ) {
                // SAFETY: forwarded from the caller.
                #[cfg(target_arch = "x86_64")]
                unsafe {
                    avx512::$block(x, w, k, n, rows.0, rows.1, cols.0, cols.1, out)
                };
                #[cfg(not(target_arch = "x86_64"))]
                unreachable!("{x:?} {w:?} {k} {n} {rows:?} {cols:?} {:?}", out);
            }
        }
    };
}

operand!(u16, 32, available, block_bf16);
operand!(f32, 16, available_f32, block_f32);

/// A matrix read in place by rows: row `r` starts at `ptr + r · stride`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rows<E> {
    ptr: *const E,
    stride: usize,
}

impl<E> Rows<E> {
    /// Rows `stride` elements apart in `data`.
    fn new(data: &[E], stride: usize) -> Self {
        Rows {
            ptr: data.as_ptr(),
            stride,
        }
    }
}

// SAFETY: the rows are only read, and outlive every parallel loop that reads them (see `gemm`).
unsafe impl<E: Sync> Send for Rows<E> {}
unsafe impl<E: Sync> Sync for Rows<E> {}

/// Where a product's `[m, n]` result goes: f32 values, or bf16 bits rounded from the f32 sums
/// (nearest even, as `bf16::from_f32`; denormals flush to zero).
pub(super) enum Out<'a> {
    /// The f32 sums themselves.
    F32(&'a mut [f32]),
    /// The sums rounded to bf16.
    Bf16(&'a mut [u16]),
}

/// A raw output pointer that may cross into rayon tasks; every task writes a disjoint block.
#[derive(Clone, Copy, Debug)]
pub(super) enum OutPtr {
    F32(*mut f32),
    Bf16(*mut u16),
}
// SAFETY: each task writes only its own rows × columns block of the output (see `gemm`).
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// `out[r · n + j] = Σ_i x[r · k + i] · w[j · k + i]` for `x: [m, k]` and `w: [n, k]` (both
/// bf16 bits, or both f32), `out: [m, n]`, in parallel.
///
/// # Panics
/// If the CPU lacks the instructions ([`Operand::supported`] is false) or a length disagrees
/// with the shapes.
pub(super) fn gemm<E: Operand>(x: &[E], m: usize, k: usize, w: &[E], n: usize, out: Out<'_>) {
    assert!(
        E::supported(),
        "this CPU lacks the AVX-512 instructions of this product"
    );
    assert_eq!(x.len(), m * k, "x is not [{m}, {k}]");
    assert_eq!(w.len(), n * k, "w is not [{n}, {k}]");
    let ptr = match out {
        Out::F32(o) => {
            assert_eq!(o.len(), m * n, "out is not [{m}, {n}]");
            OutPtr::F32(o.as_mut_ptr())
        }
        Out::Bf16(o) => {
            assert_eq!(o.len(), m * n, "out is not [{m}, {n}]");
            OutPtr::Bf16(o.as_mut_ptr())
        }
    };
    // SAFETY: the CPU has the instructions and the lengths match the shapes (asserted).
    unsafe { run(x, m, k, w, n, ptr) };
}

/// [`gemm`] into a fresh `[m, n]` buffer of f32 sums, never zeroed: the tiles write every
/// element (a product's output is as large as its activations, and zeroing it first is a
/// single-threaded pass of its own).
///
/// # Panics
/// As [`gemm`].
pub(super) fn gemm_f32_sums<E: Operand>(
    x: &[E],
    m: usize,
    k: usize,
    w: &[E],
    n: usize,
) -> Vec<f32> {
    assert!(
        E::supported(),
        "this CPU lacks the AVX-512 instructions of this product"
    );
    assert_eq!(x.len(), m * k, "x is not [{m}, {k}]");
    assert_eq!(w.len(), n * k, "w is not [{n}, {k}]");
    let mut out = Vec::<f32>::with_capacity(m * n);
    // SAFETY: as in `gemm`; the buffer holds m · n values, of which the blocks write every one
    // (each row r < m and column j < n belongs to exactly one block, and a block's tiles cover
    // it), so all are initialised when `run` returns.
    unsafe {
        run(x, m, k, w, n, OutPtr::F32(out.as_mut_ptr()));
        out.set_len(m * n);
    }
    out
}

/// The parallel blocks of [`gemm`].
///
/// # Safety
/// The CPU supports `E`, `x` and `w` hold `m · k` and `n · k` values, and `out` points to `m · n`
/// writable values that nothing else touches during the call.
unsafe fn run<E: Operand>(x: &[E], m: usize, k: usize, w: &[E], n: usize, out: OutPtr) {
    let (xr, wr) = (Rows::new(x, k), Rows::new(w, k));
    let row_blocks = m.div_ceil(BLOCK_ROWS);
    let col_blocks = n.div_ceil(BLOCK_COLS);
    (0..row_blocks * col_blocks).into_par_iter().for_each(|b| {
        let (rb, cb) = (b / col_blocks, b % col_blocks);
        let (r0, j0) = (rb * BLOCK_ROWS, cb * BLOCK_COLS);
        let (r1, j1) = ((r0 + BLOCK_ROWS).min(m), (j0 + BLOCK_COLS).min(n));
        // SAFETY: forwarded from the caller; block `b` writes only rows r0..r1 × columns
        // j0..j1 of `out`, disjoint from every other block, and `out` outlives the loop.
        unsafe { E::block(xr, wr, k, n, (r0, r1), (j0, j1), out) };
    });
}

/// `out[r · out_stride + j] = Σ_{i<k} x[r · x_stride + i] · w[j · w_stride + i]` for `r < m`,
/// `j < n`, on the calling thread: the tiles of [`gemm`] over matrices whose rows are longer
/// than the `k` values multiplied (a prefix of each row), for callers that run their own
/// parallel tasks (`kernels::prefill_attention`).
///
/// # Panics
/// If the CPU lacks the instructions ([`Operand::supported`] is false), a stride is below `k`
/// (or `out_stride` below `n`), or a slice is too short for its rows.
#[allow(clippy::too_many_arguments)]
pub(super) fn product<E: Operand>(
    (x, x_stride): (&[E], usize),
    m: usize,
    (w, w_stride): (&[E], usize),
    n: usize,
    k: usize,
    out: Out<'_>,
    out_stride: usize,
) {
    assert!(
        E::supported(),
        "this CPU lacks the AVX-512 instructions of this product"
    );
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        x_stride >= k && w_stride >= k && out_stride >= n,
        "strides below row lengths"
    );
    assert!(
        x.len() >= (m - 1) * x_stride + k,
        "x holds fewer than {m} rows of {k}"
    );
    assert!(
        w.len() >= (n - 1) * w_stride + k,
        "w holds fewer than {n} rows of {k}"
    );
    let need = (m - 1) * out_stride + n;
    let ptr = match out {
        Out::F32(o) => {
            assert!(o.len() >= need, "out holds fewer than {m} rows of {n}");
            OutPtr::F32(o.as_mut_ptr())
        }
        Out::Bf16(o) => {
            assert!(o.len() >= need, "out holds fewer than {m} rows of {n}");
            OutPtr::Bf16(o.as_mut_ptr())
        }
    };
    // SAFETY: the CPU has the instructions (asserted); rows ..m of x and ..n of w hold k
    // readable values each, and out holds m rows of n at out_stride (asserted), written by
    // this thread only (it holds the only mutable borrow).
    unsafe {
        E::block(
            Rows::new(x, x_stride),
            Rows::new(w, w_stride),
            k,
            out_stride,
            (0, m),
            (0, n),
            ptr,
        )
    };
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Operand, OutPtr, Rows};
    use std::arch::x86_64::*;

    /// One vector step of a dot product for an operand type.
    pub(in super::super) trait Madd: Operand {
        /// `acc + a · b` lane-wise (bf16: each f32 lane adds its two products).
        ///
        /// # Safety
        /// The CPU must support the type ([`Operand::supported`]).
        unsafe fn madd(acc: __m512, a: __m512i, b: __m512i) -> __m512;

        /// The first `len < LANES` elements at `p`, zeros after them.
        ///
        /// # Safety
        /// As [`Madd::madd`]; `p` must hold `len` readable elements.
        unsafe fn load_tail(p: *const Self, len: usize) -> __m512i;
    }

    impl Madd for u16 {
        #[inline]
        #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
        unsafe fn madd(acc: __m512, a: __m512i, b: __m512i) -> __m512 {
            _mm512_dpbf16_ps(acc, bh(a), bh(b))
        }

        #[inline]
        #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
        unsafe fn load_tail(p: *const u16, len: usize) -> __m512i {
            let mask: __mmask32 = (1u32 << len) - 1;
            // SAFETY: the masked-off elements are not read.
            unsafe { _mm512_maskz_loadu_epi16(mask, p.cast()) }
        }
    }

    impl Madd for f32 {
        #[inline]
        #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
        unsafe fn madd(acc: __m512, a: __m512i, b: __m512i) -> __m512 {
            _mm512_fmadd_ps(_mm512_castsi512_ps(a), _mm512_castsi512_ps(b), acc)
        }

        #[inline]
        #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
        unsafe fn load_tail(p: *const f32, len: usize) -> __m512i {
            let mask: __mmask16 = ((1u32 << len) - 1) as __mmask16;
            // SAFETY: the masked-off elements are not read.
            unsafe { _mm512_maskz_loadu_epi32(mask, p.cast()) }
        }
    }

    /// [`block`] for bf16 operands, compiled with the instructions they need.
    ///
    /// # Safety
    /// As [`block`]; the CPU must have AVX-512 F, BW, VL and BF16.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    pub(super) unsafe fn block_bf16(
        x: Rows<u16>,
        w: Rows<u16>,
        k: usize,
        n: usize,
        r0: usize,
        r1: usize,
        j0: usize,
        j1: usize,
        out: OutPtr,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe { block(x, w, k, n, r0, r1, j0, j1, out) }
    }

    /// [`block`] for f32 operands, compiled with the instructions they need.
    ///
    /// # Safety
    /// As [`block`]; the CPU must have AVX-512 F, BW and VL.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(super) unsafe fn block_f32(
        x: Rows<f32>,
        w: Rows<f32>,
        k: usize,
        n: usize,
        r0: usize,
        r1: usize,
        j0: usize,
        j1: usize,
        out: OutPtr,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe { block(x, w, k, n, r0, r1, j0, j1, out) }
    }

    /// Computes `out` rows `r0..r1` × columns `j0..j1` in tiles of up to 4 × 4.
    ///
    /// # Safety
    /// The CPU must support `E`; `x` holds rows `..r1` of `k` readable values (`x.stride`
    /// apart), `w` rows `..j1` likewise, and `out` points to a row-major matrix with rows `n`
    /// apart and at least `r1` rows that no other thread writes in this block.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)] // into `block_bf16` / `block_f32`, which carry the target features
    unsafe fn block<E: Madd>(
        x: Rows<E>,
        w: Rows<E>,
        k: usize,
        n: usize,
        r0: usize,
        r1: usize,
        j0: usize,
        j1: usize,
        out: OutPtr,
    ) {
        let mut r = r0;
        while r < r1 {
            let rows = (r1 - r).min(4);
            let mut j = j0;
            while j < j1 {
                let cols = (j1 - j).min(4);
                // SAFETY: rows r..r+rows of x and j..j+cols of w exist; out[r.., j..] is ours.
                unsafe {
                    let a = Rows {
                        ptr: x.ptr.add(r * x.stride),
                        stride: x.stride,
                    };
                    let b = Rows {
                        ptr: w.ptr.add(j * w.stride),
                        stride: w.stride,
                    };
                    let o = match out {
                        OutPtr::F32(p) => OutPtr::F32(p.add(r * n + j)),
                        OutPtr::Bf16(p) => OutPtr::Bf16(p.add(r * n + j)),
                    };
                    match (rows, cols) {
                        (4, 4) => tile::<E, 4, 4>(a, b, k, o, n),
                        (4, 3) => tile::<E, 4, 3>(a, b, k, o, n),
                        (4, 2) => tile::<E, 4, 2>(a, b, k, o, n),
                        (4, _) => tile::<E, 4, 1>(a, b, k, o, n),
                        (3, 4) => tile::<E, 3, 4>(a, b, k, o, n),
                        (3, 3) => tile::<E, 3, 3>(a, b, k, o, n),
                        (3, 2) => tile::<E, 3, 2>(a, b, k, o, n),
                        (3, _) => tile::<E, 3, 1>(a, b, k, o, n),
                        (2, 4) => tile::<E, 2, 4>(a, b, k, o, n),
                        (2, 3) => tile::<E, 2, 3>(a, b, k, o, n),
                        (2, 2) => tile::<E, 2, 2>(a, b, k, o, n),
                        (2, _) => tile::<E, 2, 1>(a, b, k, o, n),
                        (_, 4) => tile::<E, 1, 4>(a, b, k, o, n),
                        (_, 3) => tile::<E, 1, 3>(a, b, k, o, n),
                        (_, 2) => tile::<E, 1, 2>(a, b, k, o, n),
                        (_, _) => tile::<E, 1, 1>(a, b, k, o, n),
                    }
                }
                j += cols;
            }
            r += rows;
        }
    }

    /// One `R × C` tile: `R` activation rows at `x` against `C` weight rows at `w` (`k` values
    /// each, rows `x.stride` and `w.stride` apart), written to `out` (rows `n` apart).
    ///
    /// # Safety
    /// As [`block`], for these rows.
    #[allow(clippy::needless_range_loop)] // acc[r][c] meets xs[r] and the weight row c
    #[inline(always)]
    unsafe fn tile<E: Madd, const R: usize, const C: usize>(
        x: Rows<E>,
        w: Rows<E>,
        k: usize,
        out: OutPtr,
        n: usize,
    ) {
        // SAFETY: the callers (`block_bf16`, `block_f32`) have AVX-512 F.
        let mut acc = [[unsafe { _mm512_setzero_ps() }; C]; R];
        let mut xs = [unsafe { _mm512_setzero_si512() }; R];
        let mut p = 0;
        // SAFETY (loads and madd): the caller's CPU supports E; p + LANES <= k in the main
        // loop, and the tail's masked loads read only the k - p remaining values of each row.
        while p + E::LANES <= k {
            for (r, v) in xs.iter_mut().enumerate() {
                *v = unsafe { _mm512_loadu_si512(x.ptr.add(r * x.stride + p).cast()) };
            }
            for c in 0..C {
                let wv = unsafe { _mm512_loadu_si512(w.ptr.add(c * w.stride + p).cast()) };
                for r in 0..R {
                    acc[r][c] = unsafe { E::madd(acc[r][c], xs[r], wv) };
                }
            }
            p += E::LANES;
        }
        if p < k {
            for (r, v) in xs.iter_mut().enumerate() {
                *v = unsafe { E::load_tail(x.ptr.add(r * x.stride + p), k - p) };
            }
            for c in 0..C {
                let wv = unsafe { E::load_tail(w.ptr.add(c * w.stride + p), k - p) };
                for r in 0..R {
                    acc[r][c] = unsafe { E::madd(acc[r][c], xs[r], wv) };
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            // SAFETY: out[r, 0..C] is inside this tile.
            unsafe {
                if C == 4 {
                    let sums = sum4(row[0], row[1], row[2], row[3]);
                    match out {
                        OutPtr::F32(p) => _mm_storeu_ps(p.add(r * n), sums),
                        OutPtr::Bf16(p) => {
                            let b = std::mem::transmute::<__m128bh, __m128i>(_mm_cvtneps_pbh(sums));
                            _mm_storel_epi64(p.add(r * n).cast(), b);
                        }
                    }
                } else {
                    for (c, &v) in row.iter().enumerate() {
                        let sum = _mm512_reduce_add_ps(v);
                        match out {
                            OutPtr::F32(p) => *p.add(r * n + c) = sum,
                            OutPtr::Bf16(p) => {
                                *p.add(r * n + c) = burn::tensor::bf16::from_f32(sum).to_bits()
                            }
                        }
                    }
                }
            }
        }
    }

    /// The lane sums of four vectors, `[Σ a, Σ b, Σ c, Σ d]`, by a transposing tree of adds.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn sum4(a: __m512, b: __m512, c: __m512, d: __m512) -> __m128 {
        // Pairs interleaved: ab holds a and b partial sums in alternate lanes, cd likewise.
        let ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
        let cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
        // Each 128-bit lane now holds one partial sum of a, b, c and d, in that order.
        let abcd = _mm512_add_ps(
            _mm512_castpd_ps(_mm512_unpacklo_pd(
                _mm512_castps_pd(ab),
                _mm512_castps_pd(cd),
            )),
            _mm512_castpd_ps(_mm512_unpackhi_pd(
                _mm512_castps_pd(ab),
                _mm512_castps_pd(cd),
            )),
        );
        let halves = _mm256_add_ps(
            _mm512_castps512_ps256(abcd),
            _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(abcd), 1)),
        );
        _mm_add_ps(
            _mm256_castps256_ps128(halves),
            _mm256_extractf128_ps(halves, 1),
        )
    }

    /// Rounds f32 values to bf16 bits (nearest even; denormals flush to zero).
    ///
    /// # Safety
    /// The CPU must have AVX-512 F, BW, VL and BF16.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    pub(super) unsafe fn round_to_bf16(src: &[f32], dst: &mut [u16]) {
        let len = src.len().min(dst.len());
        let mut i = 0;
        while i + 16 <= len {
            // SAFETY: i + 16 <= len for both slices.
            unsafe {
                let v = _mm512_loadu_ps(src.as_ptr().add(i));
                let b = std::mem::transmute::<__m256bh, __m256i>(_mm512_cvtneps_pbh(v));
                _mm256_storeu_si256(dst.as_mut_ptr().add(i).cast(), b);
            }
            i += 16;
        }
        for (d, &s) in dst[i..len].iter_mut().zip(&src[i..len]) {
            *d = burn::tensor::bf16::from_f32(s).to_bits();
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn bh(v: __m512i) -> __m512bh {
        // SAFETY: both are 512-bit vectors of plain bits.
        unsafe { std::mem::transmute::<__m512i, __m512bh>(v) }
    }
}

/// Rounds f32 values to bf16 bits in parallel (nearest even, as `bf16::from_f32`; denormals
/// flush to zero).
///
/// # Panics
/// If the CPU lacks the instructions or the lengths differ.
pub(super) fn round_to_bf16(src: &[f32], dst: &mut [u16]) {
    assert!(available(), "bf16 rounding needs avx512_bf16");
    assert_eq!(
        src.len(),
        dst.len(),
        "rounding {} values into {}",
        src.len(),
        dst.len()
    );
    const CHUNK: usize = 1 << 15;
    let task = |(d, s): (&mut [u16], &[f32])| {
        // SAFETY: the CPU has the instructions (asserted).
        #[cfg(target_arch = "x86_64")]
        unsafe {
            avx512::round_to_bf16(s, d)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (d, s);
    };
    if src.len() > CHUNK {
        dst.par_chunks_mut(CHUNK)
            .zip(src.par_chunks(CHUNK))
            .for_each(task);
    } else {
        task((dst, src));
    }
}

#[cfg(test)]
mod tests {
    use crate::kernels::{dot_gemm, random};
    use burn::tensor::bf16;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Random values rounded to bf16, as bits and as the f64 numbers they are.
    fn random_bf16(len: usize, rng: &mut ChaCha8Rng) -> (Vec<u16>, Vec<f64>) {
        let bits: Vec<u16> = random(len, rng)
            .into_iter()
            .map(|v| bf16::from_f32(v).to_bits())
            .collect();
        let values = bits
            .iter()
            .map(|&b| f64::from(bf16::from_bits(b).to_f32()))
            .collect();
        (bits, values)
    }

    /// Asserts `out[r, j]` equals `Σ_i x[r, i] · w[j, i]` (in f64) to f32 rounding of the sum.
    fn assert_close_to_f64_product(out: &[f32], x: &[f64], w: &[f64], (m, k, n): Shape3) {
        for r in 0..m {
            for j in 0..n {
                let products = (0..k).map(|i| x[r * k + i] * w[j * k + i]);
                let want: f64 = products.clone().sum();
                let scale: f64 = products.map(f64::abs).sum();
                let got = f64::from(out[r * n + j]);
                assert!(
                    (got - want).abs() <= 1e-6 * scale + 1e-30,
                    "m {m} k {k} n {n} [{r}, {j}]: {got} vs {want}"
                );
            }
        }
    }

    /// `(m, k, n)` of a product `[m, k] · [n, k]ᵀ`.
    type Shape3 = (usize, usize, usize);

    #[test]
    fn bf16_gemm_matches_f64_reference_for_every_tile_and_tail() {
        if !dot_gemm::available() {
            eprintln!("skipped: this CPU has no avx512_bf16");
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        // Tiles of 1-4 rows and columns, k tails below and above 32, several parallel blocks.
        for &(m, k, n) in &[
            (1, 1, 1),
            (5, 37, 9),
            (4, 64, 4),
            (7, 31, 6),
            (17, 300, 70),
            (300, 96, 130),
        ] {
            let (xb, xv) = random_bf16(m * k, &mut rng);
            let (wb, wv) = random_bf16(n * k, &mut rng);
            let mut out = vec![f32::NAN; m * n];
            dot_gemm::gemm(&xb, m, k, &wb, n, dot_gemm::Out::F32(&mut out));
            // The bf16 result is the f32 one rounded.
            let mut rounded = vec![0u16; m * n];
            dot_gemm::gemm(&xb, m, k, &wb, n, dot_gemm::Out::Bf16(&mut rounded));
            for (o, b) in out.iter().zip(&rounded) {
                assert_eq!(*b, bf16::from_f32(*o).to_bits(), "m {m} k {k} n {n}");
            }
            assert_close_to_f64_product(&out, &xv, &wv, (m, k, n));
        }
    }

    #[test]
    fn f32_dot_gemm_matches_f64_reference_for_every_tile_and_tail() {
        if !dot_gemm::available_f32() {
            eprintln!("skipped: this CPU has no AVX-512");
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(23);
        for &(m, k, n) in &[
            (1, 1, 1),
            (5, 17, 9),
            (4, 16, 4),
            (7, 15, 6),
            (300, 96, 130),
        ] {
            let x = random(m * k, &mut rng);
            let w = random(n * k, &mut rng);
            let mut out = vec![f32::NAN; m * n];
            dot_gemm::gemm(&x, m, k, &w, n, dot_gemm::Out::F32(&mut out));
            let (xv, wv): (Vec<f64>, Vec<f64>) = (
                x.iter().copied().map(f64::from).collect(),
                w.iter().copied().map(f64::from).collect(),
            );
            assert_close_to_f64_product(&out, &xv, &wv, (m, k, n));
        }
    }

    #[test]
    fn bf16_gemm_rounds_its_sums_to_nearest_even() {
        if !dot_gemm::available() {
            eprintln!("skipped: this CPU has no avx512_bf16");
            return;
        }
        // Row r sums a_r + b_r exactly (k = 2, weights 1): halfway cases between two bf16
        // numbers, either side of them, and plain values; 4 columns take the vector path.
        let one = |bits: u16| f32::from(bf16::from_bits(bits));
        let pairs = [
            (1.0, 2f32.powi(-8)),                  // tie, rounds down to the even 1.0
            (one(0x3f81), 2f32.powi(-8)),          // tie, rounds up to the even 0x3f82
            (1.0, 2f32.powi(-8) + 2f32.powi(-16)), // just above the tie: up
            (-3.5, 0.25),
            (-(one(0x4001)), -(2f32.powi(-7))), // negative tie
        ];
        let (m, k, n) = (pairs.len(), 2, 4);
        let x: Vec<u16> = pairs
            .iter()
            .flat_map(|&(a, b)| [bf16::from_f32(a).to_bits(), bf16::from_f32(b).to_bits()])
            .collect();
        let w = vec![bf16::from_f32(1.0).to_bits(); n * k];
        let mut out = vec![0u16; m * n];
        dot_gemm::gemm(&x, m, k, &w, n, dot_gemm::Out::Bf16(&mut out));
        for (r, &(a, b)) in pairs.iter().enumerate() {
            let (a, b) = (bf16::from_f32(a).to_f32(), bf16::from_f32(b).to_f32());
            let want = bf16::from_f32(a + b).to_bits();
            assert_eq!(&out[r * n..(r + 1) * n], &[want; 4], "{a} + {b}");
        }
        assert_eq!(out[0], bf16::from_f32(1.0).to_bits());
        assert_eq!(out[n], 0x3f82);
    }
}
