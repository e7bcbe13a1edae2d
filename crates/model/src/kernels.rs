//! The CPU fast path: hand-written kernels that the model's ops use on burn-flex, where
//! burn's general ops leave speed on the table. None of it is needed to read the model: every
//! forward in [`crate::model`] is written with burn's ops, and its private ops layer
//! (`ops.rs`) tries the kernel of each op first and falls back to those ops when it does not
//! apply. Setting the environment variable `REASONING_KERNELS=burn` (or calling
//! [`set_enabled`]) routes everything through burn's ops, to compare the two in one build.
//!
//! # Where the time goes, and what this module does about it
//!
//! **Inference** (burn-flex without autodiff: generation, scoring, rollouts):
//!
//! | op of the model | kernel | applies when | file |
//! |---|---|---|---|
//! | `x · Wᵀ`, decoding | [`skinny_linear`]: parallel, AVX2 + FMA, bf16 widened in registers | at most [`MAX_ROWS`] activation rows | `gemv.rs` |
//! | `x · Wᵀ`, prefill, bf16 `W` | [`wide_linear_bf16`]: the CPU's bf16 dot products (`avx512_bf16`), else `W` widened in parallel | more rows | `wide.rs` |
//! | `x · Wᵀ`, prefill, f32 `W` | [`wide_linear_f32`]: dot-product tiles with FMAs | AVX-512, ≥ 100,000 weights, `k ≤ 2048` | `wide.rs`, `dot_gemm.rs` |
//! | attention, decoding | `decode_attention`: scores, softmax and values in one stream per head over the cache | at most 16 query rows per K/V head | `decode_attention.rs` |
//! | attention, prefill | `prefill_attention`: the same fused per block of 64 query positions on the dot-product tiles, bf16 operands for a bf16 model | heads of at least [`PREFILL_ATTENTION_MIN_HEAD_DIM`] | `attention.rs` |
//! | attention softmax | `attention_softmax`: scale, mask and softmax in one in-place pass, vectorised `exp` | f32 scores | `elementwise.rs` |
//! | SwiGLU gate | `silu_mul`: `silu(gate) ⊙ up` in place | f32 | `elementwise.rs` |
//! | RoPE | `rope_rotate`: one pass, bit for bit burn's six ops | f32 | `elementwise.rs` |
//! | bf16 models | activations kept in f32 between the products ([`activations_in_f32`]), attention in f32 (`attends_in_f32`) | bf16 weights | here |
//!
//! **Training** (burn-flex with autodiff, f32): the large products, the log-softmax at the
//! targets, the attention softmax, the SwiGLU gate and RMSNorm run as burn-autodiff operations
//! with hand-written, parallel backward passes ([`autodiff`]), at SmolLM2's widths and up (its
//! `*_MIN_*` constants). The embedded tiny model (vocabulary 512, width 192, heads of 32) stays
//! on burn's ops in training and on burn's GEMM in prefill, so its documented runs are
//! reproduced bit for bit.
//!
//! Every kernel computes the equation of the burn ops it replaces, with f32 accumulation;
//! where it sums in another order, or keeps in f32 what burn would round to bf16, the results
//! agree to float rounding (tested: `tests/inference_kernels.rs`, `tests/training_kernels.rs`,
//! and each file's unit tests). Each kernel hands its inputs back (`None` or `Err(..)`) when it
//! does not apply: another backend, autodiff for an inference kernel, another dtype or shape.
//! Measurements: `docs/performance.md`.
//!
//! For the rest of the speed on a CPU (the allocator and rayon's pool), see
//! [`crate::runtime`].
//!
//! # Files
//!
//! - `gemv.rs`: the decoding products ([`skinny_linear`]) and the bandwidth probe
//!   ([`stream_sum`]).
//! - `wide.rs`: the prefill products ([`wide_linear_bf16`], [`wide_linear_f32`]).
//! - `dot_gemm.rs`: the AVX-512 dot-product tiles under the prefill products and attention.
//! - `decode_attention.rs`, `attention.rs`: attention fused for decoding and for prefill.
//! - `elementwise.rs`: the attention softmax, SwiGLU gate and RoPE, and the vectorised `exp`.
//! - [`autodiff`]: the training operations with their backward passes.
//! - this file: the on/off switch, the dtype policy of bf16 models, shared helpers.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::{DType as BurnDType, Tensor, bf16};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

mod attention;
pub mod autodiff;
mod decode_attention;
mod dot_gemm;
mod elementwise;
mod gemv;
mod wide;

pub use attention::PREFILL_ATTENTION_MIN_HEAD_DIM;
pub(crate) use attention::prefill_attention;
pub(crate) use decode_attention::decode_attention;
pub(crate) use elementwise::{attention_softmax, rope_rotate, silu_mul};
pub use gemv::{MAX_ROWS, skinny_linear, stream_sum};
pub use wide::{wide_linear_bf16, wide_linear_f32};

/// Row-wise kernels with fewer elements than this run on the calling thread.
const PARALLEL_MIN_ELEMENTS: usize = 1 << 16;

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
pub(crate) fn attends_in_f32<const D: usize>(keys: &Tensor<D>) -> bool {
    fast_path(keys)
}

/// Whether the inference fast paths apply to this tensor: burn-flex without autodiff, kernels
/// on.
pub(crate) fn fast_path<const D: usize>(t: &Tensor<D>) -> bool {
    enabled() && t.clone().try_into_primitive::<Flex>().is_ok()
}

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

/// Whether the AVX2 + FMA matrix kernel can run, detected once.
#[cfg(target_arch = "x86_64")]
fn avx2() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    })
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
/// Uniform random values in `[-1, 1)` for the kernels' tests.
#[cfg(test)]
fn random(len: usize, rng: &mut rand_chacha::ChaCha8Rng) -> Vec<f32> {
    use rand::RngExt;
    (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}
