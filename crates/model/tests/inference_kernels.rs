//! The inference kernels (prefill and decode products, fused attention, RoPE, SwiGLU gate)
//! give the logits that burn's ops give, on random models whose heads are wide enough for the
//! fused prefill attention (`kernels::prefill_attention`): a full forward pass, and a cached,
//! left-padded batch (a prefill after a cached prefix, then one decode step).
//! One test in its own binary: it switches the kernels off and on for the whole process.

mod common;

use burn::tensor::{Int, Tensor, TensorData};
use reasoning_model::kernels::{self, PREFILL_ATTENTION_MIN_HEAD_DIM};
use reasoning_model::{Config, DType, Device, KvCache, Model};

/// A small random model with Qwen3's (128) or SmolLM2's (64) head width.
fn config(qwen3: bool) -> Config {
    let head_dim = if qwen3 {
        2 * PREFILL_ATTENTION_MIN_HEAD_DIM
    } else {
        PREFILL_ATTENTION_MIN_HEAD_DIM
    };
    Config {
        vocab_size: 1000,
        max_position_embeddings: 256,
        ..common::preset(qwen3).shrunk(256, 512, head_dim)
    }
}

/// Logits of a 150-token forward pass, then of a cached left-padded batch: 60 prompt tokens
/// (row 1 padded by 9), 40 more, one decode step; all as f32 values in one vector.
fn logits(model: &Model, kernels_on: bool) -> Vec<f32> {
    kernels::set_enabled(kernels_on);
    let device = model.device();
    let vocab = model.config().vocab_size as i64;
    let ids = |n: usize, salt: i64| -> Vec<i64> {
        (0..n as i64)
            .map(|i| (i * 2_654_435_761 + salt) % vocab)
            .collect()
    };
    let tokens = |v: Vec<i64>, shape: [usize; 2]| {
        Tensor::<2, Int>::from_data(TensorData::new(v, shape), &device)
    };
    let mut out: Vec<f32> = model
        .forward(tokens(ids(150, 1), [1, 150]))
        .into_data()
        .iter::<f32>()
        .collect();
    let mut cache = KvCache::with_left_padding(model.config(), vec![0, 9], 128, &device);
    for (len, salt) in [(60, 2), (40, 3), (1, 4)] {
        let hidden = model.forward_hidden_cached(tokens(ids(2 * len, salt), [2, len]), &mut cache);
        let logits = model.logits(hidden);
        // Row 1's padding positions are never read; keep the real ones.
        let [_, seq, v] = logits.dims();
        let values: Vec<f32> = logits.into_data().iter::<f32>().collect();
        let pad = if cache.len() == len { 9 } else { 0 };
        out.extend_from_slice(&values[..seq * v]);
        out.extend_from_slice(&values[(seq + pad) * v..]);
    }
    out
}

#[test]
fn inference_kernels_give_burns_logits() {
    for qwen3 in [true, false] {
        for dtype in [DType::F32, DType::BF16] {
            let model = Model::init(&config(qwen3), &Device::flex(), 5).cast(dtype);
            let reference = logits(&model, false);
            let got = logits(&model, true);
            kernels::set_enabled(true);
            assert_eq!(got.len(), reference.len());
            let scale = reference.iter().fold(0f32, |m, x| m.max(x.abs()));
            let worst = got
                .iter()
                .zip(&reference)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            // f32: the same arithmetic in other orders of summation. bf16: burn's ops round
            // every activation to bf16, the kernels keep them in f32 between the products
            // (`kernels::activations_in_f32`), so the two differ by bf16 roundings.
            let tolerance = if dtype == DType::F32 { 1e-4 } else { 0.05 };
            assert!(
                worst <= tolerance * scale,
                "qwen3 {qwen3}, {dtype:?}: logits differ by {worst} (largest {scale})"
            );
        }
    }
}
