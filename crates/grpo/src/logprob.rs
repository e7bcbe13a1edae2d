//! Per-token log-probabilities of many completions in one batched forward pass (the book's
//! `sequence_logprob`, batched), and the entropy of the policy at each completion token.
//!
//! ```text
//! input_i   = prompt_i ++ completion_i, without its last token        right-padded to one length
//! logp_it   = log_softmax(z_{i, P_i − 1 + t})[o_it]                   at temperature 1, full vocabulary
//!             (or over K_it, the ids the sampler kept, with the keep-sampling mask)
//! H_it      = −Σ_v p_v log p_v  at the same position                 (no gradient)
//! ```
//!
//! `P_i` is prompt `i`'s length and `o_it` the `t`-th completion token: position `P_i − 1 + t`
//! predicts it. Padding goes at the end, where a causal model never looks, so no attention mask
//! is needed. Only positions from `min_i P_i − 1` on pass through the output head, so the
//! `[rows, positions, vocab]` logits cover the completions, not the prompts. Unlike the book,
//! which runs one forward pass per rollout, all rollouts of an update run as one batch (or as
//! micro-batches of a chosen size).

use burn::tensor::{Int, Tensor, TensorData};
use reasoning_model::Model;

/// Completions packed for one forward pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Packed {
    /// Rows `R`.
    pub rows: usize,
    /// Input length `L` (the longest prompt + completion, minus one).
    pub len: usize,
    /// First input position scored in any row: `min_i P_i − 1`.
    pub start: usize,
    /// Scored positions per row, `T = L − start`.
    pub cols: usize,
    /// Input ids, `[R · L]`, right-padded with `pad_id`.
    pub inputs: Vec<i64>,
    /// Target id per scored position, `[R · T]` (0 where not a completion token).
    pub targets: Vec<i64>,
    /// 1 where the position predicts a completion token, `[R · T]`.
    pub mask: Vec<f32>,
    /// The keep-sampling mask: per scored position, the ids its token was drawn from, `[R · T]`
    /// (empty lists: the whole vocabulary); empty when not kept.
    pub supports: Vec<Vec<u32>>,
}

impl Packed {
    /// Places each completion token's sampling support (`supports[i][t]` for token `t` of row
    /// `i`, as [`pack`] was given the rows) at the position that predicts it. A row with fewer
    /// supports than tokens (none recorded) stays unrestricted past them.
    pub fn set_supports(&mut self, pairs: &[(&[u32], &[u32])], supports: &[&[Vec<u32>]]) {
        let mut out = vec![Vec::new(); self.rows * self.cols];
        for (i, ((prompt, _), row)) in pairs.iter().zip(supports).enumerate() {
            for (t, support) in row.iter().enumerate() {
                out[i * self.cols + prompt.len() - 1 + t - self.start] = support.clone();
            }
        }
        self.supports = out;
    }
}

/// Packs `(prompt, completion)` pairs into one right-padded batch.
///
/// # Panics
/// If a prompt is empty.
pub fn pack(pairs: &[(&[u32], &[u32])], pad_id: u32) -> Packed {
    assert!(
        pairs.iter().all(|(p, _)| !p.is_empty()),
        "every prompt needs a token"
    );
    let rows = pairs.len();
    let len = pairs
        .iter()
        .map(|(p, c)| p.len() + c.len() - 1)
        .max()
        .unwrap_or(1)
        .max(1);
    let start = pairs.iter().map(|(p, _)| p.len() - 1).min().unwrap_or(0);
    let cols = len - start;
    let mut inputs = vec![i64::from(pad_id); rows * len];
    let mut targets = vec![0i64; rows * cols];
    let mut mask = vec![0f32; rows * cols];
    for (i, (prompt, completion)) in pairs.iter().enumerate() {
        let full: Vec<u32> = prompt.iter().chain(completion.iter()).copied().collect();
        for (j, &id) in full[..full.len() - 1].iter().enumerate() {
            inputs[i * len + j] = i64::from(id);
        }
        // Step 1: completion token t sits at full[P + t] and is predicted at input P − 1 + t.
        for (t, &id) in completion.iter().enumerate() {
            let col = prompt.len() - 1 + t - start;
            targets[i * cols + col] = i64::from(id);
            mask[i * cols + col] = 1.0;
        }
    }
    Packed {
        rows,
        len,
        start,
        cols,
        inputs,
        targets,
        mask,
        supports: Vec::new(),
    }
}

/// The log-probabilities of a packed batch, and optionally the entropies.
#[derive(Debug, Clone)]
pub struct TokenLogprobs {
    /// `log π(o_it)`, `[R, T]`, with gradient when the model is on an autodiff device.
    pub logp: Tensor<2>,
    /// Mean entropy over each row's completion tokens (no gradient), when asked for.
    pub entropy: Option<Vec<f64>>,
}

/// Runs `model` over a packed batch and returns the completion tokens' log-probabilities.
///
/// # Shapes
/// - returns `logp`: `[R, T]` with `T = packed.cols`
pub fn token_logprobs(model: &Model, packed: &Packed, with_entropy: bool) -> TokenLogprobs {
    let device = model.device();
    let (rows, len, cols) = (packed.rows, packed.len, packed.cols);
    let inputs =
        Tensor::<2, Int>::from_data(TensorData::new(packed.inputs.clone(), [rows, len]), &device);
    let hidden = model.forward_hidden(inputs); // [R, L, hidden]
    let hidden = hidden.narrow(1, packed.start, cols); // [R, T, hidden]
    let targets: Vec<u32> = packed.targets.iter().map(|&id| id as u32).collect();
    // Fused log-softmax, pick and entropy for wide vocabularies (see `Model::target_log_probs`),
    // over each token's sampling support when it is kept.
    let (logp, h) = if packed.supports.is_empty() {
        model.target_log_probs(hidden, &targets, with_entropy) // [R, T]
    } else {
        model.target_log_probs_within(hidden, &targets, &packed.supports, with_entropy)
    };
    // Step 2: H = −Σ p log p per position (no gradient), averaged over each row's completion.
    let entropy = h.map(|h| {
        (0..rows)
            .map(|i| {
                let row = &packed.mask[i * cols..(i + 1) * cols];
                let n: f32 = row.iter().sum();
                if n == 0.0 {
                    0.0
                } else {
                    let s: f32 = row.iter().zip(&h[i * cols..]).map(|(m, h)| m * h).sum();
                    f64::from(s / n)
                }
            })
            .collect()
    });
    TokenLogprobs { logp, entropy }
}

/// Reads `[R, T]` log-probabilities to the host (for the old policy or the reference model).
pub fn to_host(logp: Tensor<2>) -> Vec<f32> {
    host_f32(logp)
}

/// Reads any float tensor into a host vector of f32.
pub(crate) fn host_f32<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .unwrap_or_else(|e| panic!("a float tensor reads as f32: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_aligns_each_completion_token_with_the_position_that_predicts_it() {
        // Prompt lengths 3 and 2: start = 1. Row 0 inputs [1 2 3 7], row 1 [4 5 8 9].
        let p = pack(&[(&[1, 2, 3], &[7, 8]), (&[4, 5], &[8, 9, 6])], 0);
        assert_eq!((p.rows, p.len, p.start, p.cols), (2, 4, 1, 3));
        assert_eq!(p.inputs, vec![1, 2, 3, 7, 4, 5, 8, 9]);
        // Row 0: token 7 predicted at input 2 (col 1), 8 at input 3 (col 2).
        assert_eq!(p.targets, vec![0, 7, 8, 8, 9, 6]);
        assert_eq!(p.mask, vec![0.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
    }
}
