//! Hand-written CPU kernels for the shapes where burn-flex's general ops leave speed on the
//! table: the matrix-vector products of token-by-token decoding, and the attention softmax and
//! SwiGLU gate, fused.
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
//! [`attention_softmax`] folds the `1/√d` scale and the mask into one in-place softmax with a
//! vectorised `exp` that skips hidden keys (burn-flex's softmax calls the scalar `expf`, and
//! the masked half of a causal score matrix then takes its slow underflow path);
//! [`silu_mul`] computes SwiGLU's `silu(gate) ⊙ up` in one in-place pass;
//! [`decode_attention`] computes a decode step's attention per K/V head in one stream over the
//! cached keys (through the skinny product) and one over the cached values, where burn would
//! run two tiny batched GEMMs that re-pack the cache at every step:
//!
//! ```text
//! o[r] = Σ_l softmax_l(scale · q[r]·K[l], hidden keys masked) · V[l]      r < rows (≤ 16)
//! ```
//!
//! Several activation rows (batched decoding) are compute-bound enough that the hardware
//! prefetcher lets the weight stream stall, so their tiles prefetch the weight rows a few
//! tiles ahead.
//!
//! Wide products (prefill) with f32 weights go to burn's GEMM. With bf16 weights
//! [`wide_linear_bf16`] multiplies bf16 numbers on the CPU's `avx512_bf16` dot-product
//! instruction (`vdpbf16ps`: 32 multiply-adds per instruction, f32 sums), twice the
//! multiply-adds per cycle of an f32 FMA; on CPUs without it, it widens the weight to f32 in
//! parallel (burn-flex would do it one element at a time) and runs burn's f32 GEMM. A bf16
//! model keeps its activations in f32 between the products ([`activations_in_f32`]), so the
//! element-wise work runs burn-flex's f32 code rather than its per-element bf16 conversions.
//! f32 prefill products use the same tiles with f32 FMAs ([`wide_linear_f32`]);
//! [`prefill_attention`] runs a prefill's attention on them too, scores, softmax and weighted
//! values fused per block of query positions (bf16 operands for a bf16 model); and
//! [`rope_rotate`] applies RoPE in one pass where burn runs six ops.
//!
//! Every kernel above applies only to burn-flex tensors without autodiff (inference:
//! generation, scoring, rollouts) and hands its input back otherwise. Training has its own
//! kernels in [`autodiff`]: the log-softmax at the targets, the attention softmax, the SwiGLU
//! gate and RMSNorm as burn-autodiff operations with hand-written backward passes, used for
//! f32 burn-flex models of SmolLM2's width and up (the embedded tiny model and every other
//! backend train through burn's ops). `REASONING_KERNELS=burn` (or [`set_enabled`]) switches
//! them all off.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::{DType as BurnDType, Tensor, TensorData, bf16};
use rayon::prelude::*;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

mod attention;
pub mod autodiff;
mod dot_gemm;

pub use attention::{PREFILL_ATTENTION_MIN_HEAD_DIM, prefill_attention};

/// Most activation rows the skinny kernel takes; wider products go to burn's GEMM.
pub const MAX_ROWS: usize = 16;

/// Parallel tasks per rayon thread.
const BLOCKS_PER_THREAD: usize = 4;

/// Row-wise kernels with fewer elements than this run on the calling thread.
const PARALLEL_MIN_ELEMENTS: usize = 1 << 16;

/// Skinny products with fewer weights than this run on the calling thread when they have fewer
/// than 4 activation rows: SmolLM2's key and value projections (110 K weights) stay on one
/// thread, its other projections (330-885 K) are split. One core streams 18-20 GB/s of the
/// machine's 25-29, so splitting gains less than the second core's share: on a quiet machine
/// (load 1.3) batch-1 decode of SmolLM2's shapes went from 27.3-31.2 to 27.1-27.8 ms per token
/// when the threshold came down from 1 M to 256 K weights (docs/performance-history.md, step 7). On
/// a busy machine waiting for the second core's turn costs more (a 1536 × 576 product measured
/// 3-6x slower split than on one thread at load 6), which is why the threshold was 1 M before.
const PARALLEL_MIN_WEIGHTS: usize = 1 << 18;

/// With 4 or more activation rows a product is compute-bound, and splitting pays off sooner.
const PARALLEL_MIN_WEIGHTS_BATCHED: usize = 1 << 16;

/// Whether the hand-written kernels are used: yes unless the environment variable
/// `REASONING_KERNELS` is `burn` (read on first use) or [`set_enabled`] said otherwise. With
/// them off every op goes through burn, so the two can be compared in one build
/// (`docs/performance.md`).
pub fn enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        ON => true,
        OFF => false,
        _ => {
            let on = std::env::var("REASONING_KERNELS").map_or(true, |v| v != "burn");
            STATE.store(if on { ON } else { OFF }, Ordering::Relaxed);
            on
        }
    }
}

/// Switches the hand-written kernels on or off for the whole process (benchmarks that compare
/// them with burn's ops step by step). Both give the same results up to float rounding.
pub fn set_enabled(on: bool) {
    STATE.store(if on { ON } else { OFF }, Ordering::Relaxed);
}

/// [`enabled`]'s state: not yet read from the environment, on, or off.
static STATE: AtomicU8 = AtomicU8::new(UNSET);
const UNSET: u8 = 0;
const ON: u8 = 1;
const OFF: u8 = 2;

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

/// `x · wᵀ` for a bf16 weight `w: [n, k]` and more than [`MAX_ROWS`] activation rows
/// (prefill) on burn-flex without autodiff, or `None` when it does not apply.
///
/// On CPUs with `avx512_bf16` the product runs on its bf16 dot-product instruction: an f32 `x`
/// is rounded to bf16 (as PyTorch's bf16 layers receive it), products of bf16 numbers are
/// summed in f32 in tiles of 4 × 4 dot products, and the result is f32 for an f32 `x`, rounded
/// to bf16 for a bf16 one (docs/performance-history.md, step 13). Elsewhere, burn-flex's own bf16
/// product would widen both operands to f32 one element at a time on the calling thread; here
/// the weight is widened in parallel with a 16-bit shift that compiles to vector code, then
/// burn's f32 GEMM runs and the result is cast to `x`'s dtype: the same values as burn's.
///
/// # Shapes
/// - `x`: `[m, k]` (`m >` [`MAX_ROWS`])
/// - `w`: `[n, k]`, bf16
/// - returns: `[m, n]` in `x`'s dtype
pub fn wide_linear_bf16(x: &Tensor<2>, w: &Tensor<2>) -> Option<Tensor<2>> {
    let [m, k] = x.dims();
    let [n, kw] = w.dims();
    if !enabled() || m <= MAX_ROWS || k != kw || n == 0 || k == 0 {
        return None;
    }
    if w.dtype() != BurnDType::BF16 || !matches!(x.dtype(), BurnDType::F32 | BurnDType::BF16) {
        return None;
    }
    // Both must be plain burn-flex tensors; autodiff or other backends fail the conversion.
    let w_flex = contiguous(w.clone().try_into_primitive::<Flex>().ok()?);
    let x_flex = x.clone().try_into_primitive::<Flex>().ok()?;
    let bits = bf16_bits(w_flex.as_slice::<bf16>()?);
    if dot_gemm::available() {
        // The CPU's bf16 dot products with f32 accumulation; an f32 x is rounded to bf16 first
        // and gets the f32 sums, a bf16 x gets them rounded.
        let x_flex = contiguous(x_flex);
        let data = if x.dtype() == BurnDType::BF16 {
            let xs = bf16_bits(x_flex.as_slice::<bf16>()?);
            let mut out = vec![bf16::ZERO; m * n];
            let sink = dot_gemm::Out::Bf16(bf16_bits_mut(&mut out));
            dot_gemm::gemm(xs, m, k, bits, n, sink);
            TensorData::new(out, [m, n])
        } else {
            let mut xs = vec![0u16; m * k];
            dot_gemm::round_to_bf16(x_flex.as_slice::<f32>()?, &mut xs);
            TensorData::new(dot_gemm::gemm_f32_sums(&xs, m, k, bits, n), [m, n])
        };
        return Some(Tensor::from_primitive::<Flex>(FlexTensor::from_data(data)));
    }
    let mut wide = vec![0f32; n * k];
    const CHUNK: usize = 1 << 16;
    let widen = |(dst, src): (&mut [f32], &[u16])| {
        for (d, &b) in dst.iter_mut().zip(src) {
            *d = f32::from_bits(u32::from(b) << 16);
        }
    };
    if n * k >= PARALLEL_MIN_ELEMENTS {
        wide.par_chunks_mut(CHUNK)
            .zip(bits.par_chunks(CHUNK))
            .for_each(widen);
    } else {
        widen((&mut wide, bits));
    }
    let w32: Tensor<2> =
        Tensor::from_primitive::<Flex>(FlexTensor::from_data(TensorData::new(wide, [n, k])));
    let y = x.clone().cast(BurnDType::F32).matmul(w32.transpose());
    Some(y.cast(x.dtype()))
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

/// Products with fewer weights than this stay on burn's GEMM in [`wide_linear_f32`]: they are a
/// small share of any prefill, and it keeps the embedded tiny model (at most 98,304 weights per
/// matrix) on exactly the arithmetic of its documented runs. SmolLM2-135M's smallest, the key
/// and value projections (576 × 192 = 110,592), are above it.
const WIDE_F32_MIN_WEIGHTS: usize = 100_000;

/// Longest `k` for [`wide_linear_f32`]: its tiles read 8 rows of `k` floats without blocking
/// `k`, and from 3072 on (Qwen3-0.6B's down projection) burn's packed GEMM was faster (90 against
/// 85 GMAC/s; 81-89 against 55-83 GMAC/s for `k` of 576-2048, docs/performance-history.md step 16).
const WIDE_F32_MAX_K: usize = 2048;

/// `x · wᵀ` for f32 `x: [m, k]` (`m >` [`MAX_ROWS`], prefill) and f32 `w: [n, k]` with at least
/// 100,000 weights and `k ≤ 2048`, on burn-flex without autodiff and a CPU with AVX-512; `None`
/// otherwise (the caller then uses burn's matmul).
///
/// The same dot-product tiles as the bf16 products of [`wide_linear_bf16`], with f32 FMAs: 4
/// activation rows × 4 weight rows per tile, both read in place along `k` (burn's GEMM packs
/// both operands first), 16 vector accumulators summed by one transposing tree. The same f32
/// arithmetic as burn's GEMM in another order of summation (docs/performance-history.md, step 16).
///
/// # Shapes
/// - `x`: `[m, k]`; `w`: `[n, k]`
/// - returns: `[m, n]`, f32
pub fn wide_linear_f32(x: &Tensor<2>, w: &Tensor<2>) -> Option<Tensor<2>> {
    let [m, k] = x.dims();
    let [n, kw] = w.dims();
    if !enabled()
        || m <= MAX_ROWS
        || k != kw
        || n * k < WIDE_F32_MIN_WEIGHTS
        || k > WIDE_F32_MAX_K
        || x.dtype() != BurnDType::F32
        || w.dtype() != BurnDType::F32
        || !dot_gemm::available_f32()
    {
        return None;
    }
    let w_flex = contiguous(w.clone().try_into_primitive::<Flex>().ok()?);
    let x_flex = contiguous(x.clone().try_into_primitive::<Flex>().ok()?);
    let (xs, ws) = (x_flex.as_slice::<f32>()?, w_flex.as_slice::<f32>()?);
    let data = TensorData::new(dot_gemm::gemm_f32_sums(xs, m, k, ws, n), [m, n]);
    Some(Tensor::from_primitive::<Flex>(FlexTensor::from_data(data)))
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
pub fn rope_rotate(x: &Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Option<Tensor<4>> {
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

/// Most query rows per K/V head that [`decode_attention`] takes (decoding: the query group of
/// one new position, or a few).
pub const MAX_ATTENTION_ROWS: usize = 16;

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
pub fn decode_attention(
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
struct AttentionOperands {
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
    fn new(
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
    fn queries(&self) -> &[f32] {
        self.q.as_slice::<f32>().expect("checked in `new`")
    }

    /// Each (sequence, K/V head)'s `keys × d` key rows and value rows.
    fn heads(&self) -> (Vec<&[f32]>, Vec<&[f32]>) {
        let run = self.keys * self.d;
        let (k, v) = (self.k.storage::<f32>(), self.v.storage::<f32>());
        (
            self.k_starts.iter().map(|&o| &k[o..o + run]).collect(),
            self.v_starts.iter().map(|&o| &v[o..o + run]).collect(),
        )
    }

    /// The mask, one byte per (mask row, query, key), and its batch size (1 or `b`).
    fn mask(&self) -> Option<(&[u8], usize)> {
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

/// bf16 values as their raw bits, writable.
fn bf16_bits_mut(v: &mut [bf16]) -> &mut [u16] {
    // SAFETY: `bf16` is `repr(transparent)` over `u16`, and every bit pattern is a valid both.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u16>(), v.len()) }
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
    if avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked).
        unsafe { gemv_avx2::block(x, m, k, w, n, j0, j1, out.0) };
        return;
    }
    // SAFETY: forwarded from the caller.
    unsafe { block_portable(x, m, k, w, n, j0, j1, out.0) }
}

/// Whether the AVX2 + FMA matrix kernel can run, detected once.
#[cfg(target_arch = "x86_64")]
fn avx2() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    })
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

// ---------------------------------------------------------------------------------------------
// Attention softmax and the SwiGLU gate: fused, in place, vectorised exp.
// ---------------------------------------------------------------------------------------------

/// Hands back a burn-flex tensor's primitive, or the tensor itself when it lives elsewhere
/// (another backend, or autodiff).
// The `Err` variants below hand back the caller's own tensors, the same size as `Ok`'s, so
// boxing them would only add an allocation.
#[allow(clippy::result_large_err)]
fn into_flex<const D: usize>(t: Tensor<D>) -> Result<FlexTensor, Tensor<D>> {
    match t.clone().try_into_primitive::<Flex>() {
        Ok(flex) => {
            // Dropping the original leaves `flex` the only handle, so it can be written in place.
            drop(t);
            Ok(flex)
        }
        Err(_) => Err(t),
    }
}

/// Whether a model with this bf16 weight keeps its activations (the residual stream, norms,
/// attention, the SwiGLU gate) in f32: yes on burn-flex without autodiff while the kernels are
/// on. The weights stay bf16 and every product with them multiplies bf16 numbers (an f32
/// activation is rounded to bf16 first, as PyTorch's bf16 layers see it) with f32
/// accumulation; only the element-wise work between the products keeps f32, where PyTorch's
/// bf16 model rounds after every op. burn-flex runs bf16 element-wise ops by converting one
/// element at a time, so this is both faster and more accurate.
pub fn activations_in_f32(weight: &Tensor<2>) -> bool {
    enabled()
        && weight.dtype() == BurnDType::BF16
        && weight.clone().try_into_primitive::<Flex>().is_ok()
}

/// Whether attention over `keys` should run in f32 although the model is bf16: yes for
/// burn-flex tensors without autodiff while the kernels are on (burn-flex multiplies bf16 by
/// converting both operands to f32 inside each product). With [`activations_in_f32`] the
/// activations reaching attention are f32 already.
pub fn attends_in_f32<const D: usize>(keys: &Tensor<D>) -> bool {
    fast_path(keys)
}

/// Whether the inference fast paths apply to this tensor: burn-flex without autodiff, kernels
/// on.
pub fn fast_path<const D: usize>(t: &Tensor<D>) -> bool {
    enabled() && t.clone().try_into_primitive::<Flex>().is_ok()
}

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
pub fn attention_softmax(
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
fn softmax_row(row: &mut [f32], scale: f32, hidden: Option<&[u8]>) {
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
fn exp_shifted(row: &mut [f32], scale: f32, shift: f32) {
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
pub fn silu_mul<const D: usize>(
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
fn silu_mul_slice(g: &mut [f32], u: &[f32]) {
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

/// Whether the AVX-512 kernels can run (F, BW and VL), detected once.
#[cfg(target_arch = "x86_64")]
fn avx512() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
    })
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
    fn wide_f32_product_equals_burns_matmul_where_it_applies() {
        let device = burn::tensor::Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(29);
        let tensor = |rows: usize, cols: usize, rng: &mut ChaCha8Rng| {
            let data = TensorData::new(random(rows * cols, rng), [rows, cols]);
            Tensor::<2>::from_data(data, &device)
        };
        // 512 × 520 weights (k with a tail), 17 and 40 rows.
        let w = tensor(512, 520, &mut rng);
        for m in [17, 40] {
            let x = tensor(m, 520, &mut rng);
            let Some(got) = wide_linear_f32(&x, &w) else {
                assert!(!dot_gemm::available_f32(), "applies on an AVX-512 CPU");
                return;
            };
            let want = x.matmul(w.clone().transpose());
            let (got, want): (Vec<f32>, Vec<f32>) = (
                got.into_data().try_to_vec().unwrap(),
                want.into_data().try_to_vec().unwrap(),
            );
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()), "m {m}: {g} vs {w}");
            }
        }
        // Not for 16 rows, small weights (the tiny model's), k above 2048, bf16, autodiff.
        let x = tensor(20, 520, &mut rng);
        assert!(wide_linear_f32(&x.clone().narrow(0, 0, 16), &w).is_none());
        let tiny = |t: &Tensor<2>| t.clone().narrow(1, 0, 192); // 512 × 192 weights
        assert!(wide_linear_f32(&tiny(&x), &tiny(&w)).is_none());
        let long = tensor(128, 3072, &mut rng);
        assert!(wide_linear_f32(&tensor(20, 3072, &mut rng), &long).is_none());
        let x16 = x.clone().cast(BurnDType::BF16);
        assert!(wide_linear_f32(&x16, &w.clone().cast(BurnDType::BF16)).is_none());
        let ad = burn::tensor::Device::flex().autodiff();
        let (xa, wa) = (
            Tensor::<2>::from_data(x.into_data(), &ad),
            Tensor::<2>::from_data(w.into_data(), &ad),
        );
        assert!(wide_linear_f32(&xa, &wa).is_none());
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

    #[test]
    fn wide_bf16_product_equals_burns_matmul_of_the_bf16_operands() {
        let device = burn::tensor::Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        let dpbf16 = dot_gemm::available();
        // Above and below the parallel threshold; a k that is not a multiple of the vector width.
        for &(m, k, n) in &[(17, 37, 9), (64, 300, 260), (40, 1024, 96)] {
            let w =
                Tensor::<2>::from_data(TensorData::new(random(n * k, &mut rng), [n, k]), &device)
                    .cast(BurnDType::BF16);
            let x32 =
                Tensor::<2>::from_data(TensorData::new(random(m * k, &mut rng), [m, k]), &device);
            for x in [x32.clone(), x32.cast(BurnDType::BF16)] {
                // burn multiplies only equal dtypes: an f32 x meets the exactly widened weight,
                // rounded to bf16 first where the bf16 dot products run.
                let want = match x.dtype() {
                    BurnDType::BF16 => x.clone().matmul(w.clone().transpose()),
                    _ if dpbf16 => x
                        .clone()
                        .cast(BurnDType::BF16)
                        .cast(BurnDType::F32)
                        .matmul(w.clone().cast(BurnDType::F32).transpose()),
                    _ => x.clone().matmul(w.clone().cast(BurnDType::F32).transpose()),
                };
                let got = wide_linear_bf16(&x, &w).expect("the wide bf16 path applies");
                assert_eq!(got.dtype(), x.dtype());
                let (got, want): (Vec<f32>, Vec<f32>) = (
                    got.cast(BurnDType::F32).into_data().try_to_vec().unwrap(),
                    want.cast(BurnDType::F32).into_data().try_to_vec().unwrap(),
                );
                if !dpbf16 {
                    assert_eq!(got, want, "m {m} k {k} n {n} x {:?}", x.dtype());
                    continue;
                }
                // The CPU's bf16 dot products sum in another order: f32 sums agree to float
                // rounding, and a bf16 result may round to the neighbouring bf16 number (at
                // most 2^-7 relative apart).
                let tolerance = match x.dtype() {
                    BurnDType::BF16 => 1.0 / 128.0,
                    _ => 1e-5,
                };
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (g - w).abs() <= w.abs() * tolerance + 1e-5,
                        "m {m} k {k} n {n} x {:?}: {g} vs {w}",
                        x.dtype()
                    );
                }
            }
        }
        // Not for f32 weights, a few rows (the skinny kernel's), or autodiff tensors.
        let x = Tensor::<2>::from_data(TensorData::new(random(20 * 8, &mut rng), [20, 8]), &device);
        let w = Tensor::<2>::from_data(TensorData::new(random(4 * 8, &mut rng), [4, 8]), &device);
        assert!(wide_linear_bf16(&x, &w).is_none());
        assert!(
            wide_linear_bf16(
                &x.clone().narrow(0, 0, 16),
                &w.clone().cast(BurnDType::BF16)
            )
            .is_none()
        );
        let ad = burn::tensor::Device::flex().autodiff();
        let xa = Tensor::<2>::from_data(x.into_data(), &ad);
        let wa = Tensor::<2>::from_data(w.cast(BurnDType::BF16).into_data(), &ad);
        assert!(wide_linear_bf16(&xa, &wa).is_none());
    }
}
