//! The fixture checks of `reference.rs` on every burn backend this build has, and our
//! hand-written burn-flex kernels against burn's own ops.
//!
//! burn-flex always runs. `cargo test -p reasoning-model --features ndarray` (or `wgpu`) adds
//! that backend; each rebuilds burn, so build them in a separate target dir
//! (`CARGO_TARGET_DIR=target/wgpu`; CI runs the wgpu set in `xtask/tests/gpu.rs`). wgpu picks
//! the best adapter; on a machine without a GPU that is Mesa's software Vulkan device
//! (`apt-get install mesa-vulkan-drivers`).

mod common;

use burn::tensor::{Int, Tensor};
use common::{
    Reference, cached_greedy, fixture, load, max_abs_diff, reference_logits_diff, tokens, values,
};
use reasoning_model::{DType, Device, DeviceSpec, KvCache, kernels};

/// The f32 fixture checkpoints (HF folders and a GGUF copy).
const CHECKPOINTS: [(&str, &str); 3] = [
    ("qwen3-tied", "qwen3-tied"),
    ("llama-tied", "llama-tied"),
    ("llama-tied.gguf", "llama-tied"),
];

/// burn-flex plus every backend compiled in, with the logits tolerance against HF's f32.
fn devices() -> Vec<(DeviceSpec, Device, f32)> {
    let mut out = vec![(DeviceSpec::Cpu, Device::flex(), 1e-4)];
    for spec in [DeviceSpec::Ndarray, DeviceSpec::Wgpu] {
        if let Ok(device) = spec.device() {
            out.push((spec, device, 1e-4));
        }
    }
    out
}

#[test]
fn logits_match_transformers_on_every_compiled_backend() {
    for (spec, device, tol) in devices() {
        for (path, reference) in CHECKPOINTS {
            let model = load(path, &device);
            let r = Reference::read(&fixture(reference));
            let diff = reference_logits_diff(&model, &r, &device);
            assert!(diff < tol, "{spec} {path}: max |Δlogit| = {diff}");
        }
    }
}

#[test]
fn greedy_continuations_through_the_cache_match_transformers_on_every_compiled_backend() {
    for (spec, device, _) in devices() {
        for (path, reference) in CHECKPOINTS {
            let model = load(path, &device);
            let r = Reference::read(&fixture(reference));
            let prompt_len = r.input_ids[0].len();
            let (generated, _) = cached_greedy(&model, &r, &device);
            for (b, row) in generated.iter().enumerate() {
                assert_eq!(
                    row[..],
                    r.greedy_ids[b][prompt_len..],
                    "{spec} {path}, row {b}"
                );
            }
        }
    }
}

#[test]
fn flex_kernels_and_burn_ops_give_the_same_logits() {
    // Prefill (fused softmax and SwiGLU), batch-2 decode (skinny products) and a bf16 copy
    // (bf16 weights widened in registers), with the kernels on and off. Other tests in this
    // binary may run meanwhile; both paths are correct, so they are unaffected.
    let device = Device::flex();
    for path in ["qwen3-tied", "llama-tied"] {
        for dtype in [DType::F32, DType::BF16] {
            let model = load(path, &device).cast(dtype);
            let r = Reference::read(&fixture(path));
            let run = |on: bool| {
                kernels::set_enabled(on);
                let mut cache = KvCache::new(model.config(), 2, 16, &device);
                let mut all =
                    values(model.forward_cached(tokens(&r.input_ids, &device), &mut cache));
                let mut next: Tensor<2, Int> = Tensor::from_data(
                    burn::tensor::TensorData::new(vec![3i64, 5], [2, 1]),
                    &device,
                );
                for _ in 0..3 {
                    let logits = model.forward_cached(next, &mut cache);
                    all.extend(values(logits.clone()));
                    next = logits.argmax(1);
                }
                all
            };
            let (fast, slow) = (run(true), run(false));
            kernels::set_enabled(true);
            let tol = if dtype == DType::F32 { 1e-4 } else { 0.1 };
            let diff = max_abs_diff(&fast, &slow);
            assert!(diff < tol, "{path} {dtype}: max |Δlogit| = {diff}");
        }
    }
}
