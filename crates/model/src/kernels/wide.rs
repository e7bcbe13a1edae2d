//! Prefill products: `x · Wᵀ` for more activation rows than the decoding products take.
//!
//! Wide products (prefill) with f32 weights go to burn's GEMM, except where the dot-product
//! tiles of [`dot_gemm`](super::dot_gemm) are faster ([`wide_linear_f32`]: AVX-512, at least
//! 100,000 weights, `k ≤ 2048`). With bf16 weights [`wide_linear_bf16`] multiplies bf16
//! numbers on the CPU's `avx512_bf16` dot-product instruction (`vdpbf16ps`: 32 multiply-adds
//! per instruction, f32 sums), twice the multiply-adds per cycle of an f32 FMA; on CPUs without
//! it, it widens the weight to f32 in parallel (burn-flex would do it one element at a time)
//! and runs burn's f32 GEMM. A bf16 model keeps its activations in f32 between the products
//! ([`activations_in_f32`](super::activations_in_f32)), so the element-wise work runs
//! burn-flex's f32 code rather than its per-element bf16 conversions.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::{DType as BurnDType, Tensor, TensorData, bf16};
use rayon::prelude::*;

use super::dot_gemm;
use super::gemv::MAX_ROWS;
use super::{PARALLEL_MIN_ELEMENTS, bf16_bits, bf16_bits_mut, contiguous, enabled};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::random;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

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
