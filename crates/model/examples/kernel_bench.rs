//! The decode-shaped product `x · Wᵀ` (`x`: a few rows) with burn's matmul and with the
//! hand-written kernel of `reasoning_model::kernels`, in ms and GB/s of weights read.
//!
//! `cargo run -p reasoning-model --example kernel_bench -- [rows] [k] [n] [reps] [f32|bf16]`
//!
//! The default `1 576 49152` is SmolLM2-135M's output head at batch 1 (113 MB of f32
//! weights): memory-bound, so GB/s near the machine's bandwidth is the ceiling.
use std::time::Instant;

use burn::tensor::{DType, Device, Tensor, TensorData};
use reasoning_model::kernels::skinny_linear;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: usize| args.get(i).map_or(default, |a| a.parse().unwrap());
    let (m, k, n, reps) = (arg(0, 1), arg(1, 576), arg(2, 49152), arg(3, 20));
    let bf16 = args.get(4).is_some_and(|a| a == "bf16");
    let device = Device::flex();
    let x: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let w: Vec<f32> = (0..n * k).map(|i| (i % 13) as f32 * 0.01).collect();
    let mut x = Tensor::<2>::from_data(TensorData::new(x, [m, k]), &device);
    let mut w = Tensor::<2>::from_data(TensorData::new(w, [n, k]), &device);
    if bf16 {
        x = x.cast(DType::BF16);
        w = w.cast(DType::BF16);
    }
    let bytes = (n * k * if bf16 { 2 } else { 4 }) as f64;
    let time = |f: &dyn Fn() -> Tensor<2>| {
        let start = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(f());
        }
        start.elapsed().as_secs_f64() / reps as f64
    };
    for round in 0..3 {
        let burn = time(&|| x.clone().matmul(w.clone().transpose()));
        let ours = time(&|| skinny_linear(&x, &w).expect("flex tensors take the fast path"));
        println!(
            "round {round}: [{m}, {k}] x [{n}, {k}]^T: burn {:.3} ms ({:.1} GB/s), kernel {:.3} ms \
             ({:.1} GB/s)",
            burn * 1e3,
            bytes / burn / 1e9,
            ours * 1e3,
            bytes / ours / 1e9
        );
    }
}
