//! The decode-shaped product `x · Wᵀ` (`x`: a few rows) with burn's matmul and with the
//! hand-written kernel of `reasoning_model::kernels`, in ms per product and GB/s of weights read.
//!
//! `cargo run -p reasoning-model --example kernel_bench -- [rows] [k] [n] [copies] [f32|bf16] [burn|kernel]`
//!
//! Each round multiplies `x` with `copies` different weight matrices in turn, so with enough
//! copies the weights stream from DRAM as in decoding (a model's weights do not fit in the
//! caches) rather than from the cache. The default `1 576 1536 150` is SmolLM2-135M's
//! gate/up projection at batch 1, 530 MB in all: memory-bound, so GB/s near the machine's
//! bandwidth (`cargo xtask bench bandwidth`) is the ceiling. More than 16 rows (a prefill-shaped
//! product, e.g. `512 1024 3072 4 bf16`) time `wide_linear_bf16` or `wide_linear_f32` instead.
use std::time::Instant;

use burn::tensor::{DType, Device, Tensor, TensorData};
use reasoning_model::kernels::{skinny_linear, wide_linear_bf16, wide_linear_f32};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: usize| args.get(i).map_or(default, |a| a.parse().unwrap());
    let (m, k, n, copies) = (arg(0, 1), arg(1, 576), arg(2, 1536), arg(3, 150));
    let bf16 = args.get(4).is_some_and(|a| a == "bf16");
    let device = Device::flex();
    let dtype = if bf16 { DType::BF16 } else { DType::F32 };
    let x: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let x = Tensor::<2>::from_data(TensorData::new(x, [m, k]), &device).cast(dtype);
    let ws: Vec<Tensor<2>> = (0..copies)
        .map(|c| {
            let w: Vec<f32> = (0..n * k).map(|i| ((i + c) % 13) as f32 * 0.01).collect();
            Tensor::<2>::from_data(TensorData::new(w, [n, k]), &device).cast(dtype)
        })
        .collect();
    let bytes = (n * k * if bf16 { 2 } else { 4 }) as f64;
    let macs = (m * n * k) as f64;
    let time = |f: &dyn Fn(&Tensor<2>) -> Tensor<2>| {
        let start = Instant::now();
        for w in &ws {
            std::hint::black_box(f(w));
        }
        start.elapsed().as_secs_f64() / copies as f64
    };
    // `only` (6th argument): time just `burn` or just `kernel`, e.g. under `perf stat`.
    let only = args.get(5).cloned().unwrap_or_default();
    for round in 0..3 {
        let burn = if only == "kernel" {
            f64::NAN
        } else {
            time(&|w| x.clone().matmul(w.clone().transpose()))
        };
        let ours = if only == "burn" {
            f64::NAN
        } else {
            time(&|w| {
                skinny_linear(&x, w)
                    .or_else(|| wide_linear_bf16(&x, w))
                    .or_else(|| wide_linear_f32(&x, w))
                    .expect("flex tensors take the fast path")
            })
        };
        println!(
            "round {round}: [{m}, {k}] x [{n}, {k}]^T {}: burn {:.3} ms ({:.1} GB/s, {:.1} \
             GMAC/s), kernel {:.3} ms ({:.1} GB/s, {:.1} GMAC/s)",
            if bf16 { "bf16" } else { "f32" },
            burn * 1e3,
            bytes / burn / 1e9,
            macs / burn / 1e9,
            ours * 1e3,
            bytes / ours / 1e9,
            macs / ours / 1e9
        );
    }
}
