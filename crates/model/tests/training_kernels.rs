//! The training kernels (`kernels::autodiff`: fused log-softmax at the targets, attention
//! softmax, SwiGLU gate and RMSNorm, each with its own backward pass) give the loss and every
//! parameter's gradient that burn's ops give, on a random model wide enough to use them all.
//! One test in its own binary: it switches the kernels off and on for the whole process.

mod common;

use burn::tensor::{Int, Tensor, TensorData};
use reasoning_model::kernels::{self, autodiff};
use reasoning_model::{Config, Device, Model};

/// A random model at the kernels' smallest widths.
fn config(qwen3: bool) -> Config {
    let mut c = if qwen3 {
        Config::qwen3_0_6b()
    } else {
        Config::smollm2_135m()
    };
    c.vocab_size = autodiff::LOG_SOFTMAX_MIN_VOCAB;
    c.hidden_size = autodiff::RMS_NORM_MIN_WIDTH;
    c.intermediate_size = autodiff::SILU_MIN_WIDTH;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 8;
    c.num_key_value_heads = 2;
    c.head_dim = autodiff::ATTENTION_MIN_HEAD_DIM;
    c.max_position_embeddings = 64;
    c.tie_word_embeddings = !qwen3;
    c
}

/// The SFT loss `−Σ w · log p(target)` over positions 4.. and every parameter's gradient.
fn loss_and_gradients(
    model: &Model,
    ids: &[i64],
    kernels_on: bool,
) -> (f32, Vec<(String, Vec<f32>)>) {
    kernels::set_enabled(kernels_on);
    let device = model.device();
    let (batch, len) = (2, ids.len() / 2);
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [batch, len]), &device);
    let hidden = model.forward_hidden(tokens.clone().narrow(1, 0, len - 1));
    let start = 4;
    let hidden = hidden.narrow(1, start, len - 1 - start);
    let targets: Vec<u32> = (0..batch)
        .flat_map(|b| {
            ids[b * len + start + 1..(b + 1) * len]
                .iter()
                .map(|&id| id as u32)
        })
        .collect();
    let (logp, _) = model.target_log_probs(hidden, &targets, false);
    let weights: Vec<f32> = (0..targets.len())
        .map(|i| 0.5 + (i % 3) as f32 * 0.25)
        .collect();
    let weights = Tensor::<2>::from_data(TensorData::new(weights, logp.dims()), &device);
    let loss = (logp * weights)
        .sum()
        .neg()
        .div_scalar(targets.len() as f64);
    let value = loss.clone().into_scalar::<f32>();
    let grads = loss.backward();
    let gradients = common::param_gradients(model, &grads);
    (value, gradients)
}

#[test]
fn training_kernels_give_burns_loss_and_gradients() {
    for qwen3 in [true, false] {
        let model = Model::init(&config(qwen3), &Device::flex().autodiff(), 11);
        let vocab = autodiff::LOG_SOFTMAX_MIN_VOCAB as i64;
        let ids: Vec<i64> = (0..2 * 40)
            .map(|i| (i * 2_654_435_761_i64) % vocab)
            .collect();
        let (loss_ref, grads_ref) = loss_and_gradients(&model, &ids, false);
        let (loss, grads) = loss_and_gradients(&model, &ids, true);
        kernels::set_enabled(true);
        assert!(
            (loss - loss_ref).abs() <= 1e-5 * loss_ref.abs(),
            "qwen3 {qwen3}: loss {loss} against burn's {loss_ref}"
        );
        for ((name, g), (_, r)) in grads.iter().zip(&grads_ref) {
            let scale = r.iter().fold(0f32, |m, x| m.max(x.abs()));
            assert!(scale > 0.0, "{name}: all-zero gradient");
            let worst = g.iter().zip(r).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                worst <= 1e-4 * scale,
                "qwen3 {qwen3}, {name}: gradient differs by {worst} (largest entry {scale})"
            );
        }
    }
}
