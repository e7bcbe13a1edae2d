//! `Model::target_log_probs_within` (DeepSeek-V3.2's keep-sampling mask): the log-probability
//! renormalised over each position's support equals `z_o − logsumexp_{v∈K} z_v` computed on the
//! host in f64, positions without a support equal `target_log_probs`, and the fused kernel's
//! loss and gradients through the mask equal burn's ops. One test in its own binary: it
//! switches the kernels off and on for the whole process.

mod common;

use burn::tensor::{Int, Tensor, TensorData};
use reasoning_model::kernels::{self, autodiff};
use reasoning_model::{Config, Device, Model};

const ROWS: usize = 2;
const LEN: usize = 12;

fn tokens(model: &Model, vocab: usize) -> Tensor<2, Int> {
    let ids: Vec<i64> = (0..ROWS * LEN)
        .map(|i| ((i as i64 * 2_654_435_761) % vocab as i64).abs())
        .collect();
    Tensor::from_data(TensorData::new(ids, [ROWS, LEN]), &model.device())
}

/// Seeded supports: every third position unrestricted, the others 1-9 ids around the target.
fn supports_and_targets(vocab: usize) -> (Vec<Vec<u32>>, Vec<u32>) {
    let mut supports = Vec::new();
    let mut targets = Vec::new();
    for pos in 0..ROWS * LEN {
        let target = ((pos * 7919 + 13) % vocab) as u32;
        targets.push(target);
        if pos % 3 == 0 {
            supports.push(Vec::new());
        } else {
            let mut s: Vec<u32> = (0..pos % 9)
                .map(|k| ((pos * 31 + k * 101) % vocab) as u32)
                .chain([target])
                .collect();
            s.sort_unstable();
            s.dedup();
            supports.push(s);
        }
    }
    (supports, targets)
}

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}

/// The masked log-probabilities and entropies against the f64 formula on the host.
fn check_values(model: &Model, vocab: usize) {
    let hidden = model.forward_hidden(tokens(model, vocab));
    let logits: Vec<f32> = model
        .logits(hidden.clone())
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    let (supports, targets) = supports_and_targets(vocab);
    let (within, entropy) =
        model.target_log_probs_within(hidden.clone(), &targets, &supports, true);
    let (full, _) = model.target_log_probs(hidden, &targets, false);
    let (within, full, entropy) = (host(within), host(full), entropy.unwrap());
    let mut restricted = 0;
    for pos in 0..ROWS * LEN {
        let z = &logits[pos * vocab..(pos + 1) * vocab];
        let ids: Vec<usize> = if supports[pos].is_empty() {
            (0..vocab).collect()
        } else {
            supports[pos].iter().map(|&i| i as usize).collect()
        };
        let max = ids
            .iter()
            .map(|&i| f64::from(z[i]))
            .fold(f64::MIN, f64::max);
        let sum: f64 = ids.iter().map(|&i| (f64::from(z[i]) - max).exp()).sum();
        let lse = max + sum.ln();
        let expected = f64::from(z[targets[pos] as usize]) - lse;
        let h: f64 = ids
            .iter()
            .map(|&i| {
                let lp = f64::from(z[i]) - lse;
                -lp.exp() * lp
            })
            .sum();
        assert!(
            (f64::from(within[pos]) - expected).abs() < 1e-5,
            "vocab {vocab}, position {pos}: {} vs {expected}",
            within[pos]
        );
        assert!(
            (f64::from(entropy[pos]) - h).abs() < 1e-4,
            "vocab {vocab}, position {pos}: entropy {} vs {h}",
            entropy[pos]
        );
        if supports[pos].is_empty() {
            assert_eq!(
                within[pos], full[pos],
                "position {pos}: no support, no change"
            );
        } else if supports[pos].len() > 1 {
            // Renormalising over a subset raises the probability of its members.
            assert!(within[pos] > full[pos], "position {pos}");
            restricted += 1;
        }
    }
    assert!(restricted > 10);
}

/// `−mean(log π̃)` and every parameter's gradient.
fn loss_and_gradients(model: &Model, vocab: usize, kernels_on: bool) -> (f32, Vec<Vec<f32>>) {
    kernels::set_enabled(kernels_on);
    let hidden = model.forward_hidden(tokens(model, vocab));
    let (supports, targets) = supports_and_targets(vocab);
    let (logp, _) = model.target_log_probs_within(hidden, &targets, &supports, false);
    let loss = logp.mean().neg();
    let value = loss.clone().into_scalar::<f32>();
    let grads = loss.backward();
    let gradients = common::param_gradients(model, &grads)
        .into_iter()
        .map(|(_, g)| g)
        .collect();
    (value, gradients)
}

#[test]
fn the_support_mask_renormalises_values_and_gradients() {
    // A vocabulary wide enough for the fused kernel, and one below it (burn's ops).
    for vocab in [autodiff::LOG_SOFTMAX_MIN_VOCAB, 96] {
        let config = Config::tiny_qwen3(vocab, 0);
        let model = Model::init(&config, &Device::flex(), 5);
        check_values(&model, vocab);
        let model = Model::init(&config, &Device::flex().autodiff(), 5);
        let (loss_ref, grads_ref) = loss_and_gradients(&model, vocab, false);
        let (loss, grads) = loss_and_gradients(&model, vocab, true);
        kernels::set_enabled(true);
        assert!(loss.is_finite() && (loss - loss_ref).abs() <= 1e-5 * loss_ref.abs());
        for (g, r) in grads.iter().zip(&grads_ref) {
            assert!(
                g.iter().all(|x| x.is_finite()),
                "vocab {vocab}: non-finite gradient"
            );
            let scale = r.iter().fold(0f32, |m, x| m.max(x.abs()));
            let worst = g.iter().zip(r).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                worst <= 1e-4 * scale.max(1e-12),
                "vocab {vocab}: {worst} vs {scale}"
            );
        }
    }
}
