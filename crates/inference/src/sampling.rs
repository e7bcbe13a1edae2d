//! Choosing the next token from the model's logits (book chapter 4, sections 4.3-4.4).
//!
//! Greedy decoding takes the most likely token. Sampling draws from a reshaped distribution:
//!
//! ```text
//! temperature   p_i = exp(z_i / T) / Σ_j exp(z_j / T)         T < 1 sharpens, T > 1 flattens
//! top-k         keep the k most likely tokens
//! top-p         sort p descending: p_(1) ≥ p_(2) ≥ ...; keep token (r) iff
//!               Σ_{s<r} p_(s) < p          (the mass *before* it; the first is always kept)
//! min-p         keep token i iff p_i ≥ min_p · max_j p_j
//! renormalise   q_i = p_i / Σ_{kept} p_j, then draw i ~ q
//! ```
//!
//! `z` are the logits, `T` the temperature, `p` the top-p threshold. Filters apply in the
//! order top-k, top-p, min-p (as HF transformers orders its logits warpers), each on the
//! distribution renormalised over what the previous one kept. With only `temperature` and
//! `top_p` this is exactly the book's `generate_text_top_p_stream_cache`: its `top_p_filter`
//! keeps a token when the cumulative mass *before* it is below `p`, so `[0.5, 0.41, 0.09]` with
//! `p = 0.9` keeps the first two tokens.
//!
//! **How the draw works.** One uniform number `u ∈ [0, 1)` per token per sequence, from that
//! sequence's own [`ChaCha8Rng`]: the kept tokens are walked in descending probability (ties by
//! ascending id) until their cumulative mass passes `u · Σ kept`. Without filters they are
//! walked in id order. A sequence therefore consumes exactly one number per generated token,
//! whichever batch it runs in.
//!
//! **Cost.** The reference filters ([`top_p_filter`], ...) sort the whole vocabulary, as the
//! book does. [`Sampler`] only sorts the head of the distribution: it selects the top `m`
//! tokens in linear time (`select_nth_unstable`), sorts those, and widens `m` fourfold until the
//! kept set ends inside it. For Qwen3's 151,936 ids and `p = 0.9` that is usually one pass. The
//! property tests check that both give the same kept set.
//!
//! **The sorted sampler.** [`SortedSampling`] is the plain version of temperature + top-p: the
//! softmax in f64 over the whole vocabulary, sorted by descending probability (ties by
//! ascending id), the nucleus up to and including the token whose cumulative mass reaches `p`
//! (the same set as the rule above), and one inverse-CDF draw `u · Σ nucleus` walked in that
//! order, even without a nucleus. It keeps the same tokens as [`Sampler`] but rounds
//! differently and walks another order when nothing is filtered, so one seed draws other
//! tokens. The tiny model's measurements (`reasoning_arith::measure`, the table of
//! `models/tiny-arith/README.md`) were drawn with it, so it stays
//! ([`Decoding::SampleSorted`]).

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{InferenceError, Result};

/// Temperature and filters of a sampled decoding (book: `temperature`, `top_p`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    /// Divides the logits before the softmax; must be positive and finite.
    pub temperature: f32,
    /// Nucleus threshold in `(0, 1]`; `None` (or 1) keeps everything.
    pub top_p: Option<f32>,
    /// Keep only the `k` most likely tokens; `None` keeps everything.
    pub top_k: Option<usize>,
    /// Keep tokens at least `min_p` times as likely as the most likely one, `[0, 1]`.
    pub min_p: Option<f32>,
}

impl SamplingParams {
    /// Plain temperature sampling (book section 4.3).
    pub fn temperature(temperature: f32) -> Self {
        Self {
            temperature,
            top_p: None,
            top_k: None,
            min_p: None,
        }
    }

    /// Returns these parameters with a top-p threshold (book section 4.4).
    pub fn with_top_p(self, top_p: f32) -> Self {
        Self {
            top_p: Some(top_p),
            ..self
        }
    }

    /// Returns these parameters with a top-k cut.
    pub fn with_top_k(self, top_k: usize) -> Self {
        Self {
            top_k: Some(top_k),
            ..self
        }
    }

    /// Returns these parameters with a min-p cut.
    pub fn with_min_p(self, min_p: f32) -> Self {
        Self {
            min_p: Some(min_p),
            ..self
        }
    }

    /// Checks every parameter's domain.
    pub fn validate(&self) -> Result<()> {
        let bad = |name, value: String, reason| {
            Err(InferenceError::InvalidParameter {
                name,
                value,
                reason,
            })
        };
        check_temperature(self.temperature)?;
        if let Some(p) = self.top_p {
            check_top_p(p)?;
        }
        if self.top_k == Some(0) {
            return bad("top_k", "0".into(), "must be at least 1");
        }
        if let Some(m) = self.min_p
            && !(0.0..=1.0).contains(&m)
        {
            return bad("min_p", m.to_string(), "must be in [0, 1]");
        }
        Ok(())
    }

    fn filters(&self) -> bool {
        self.top_p.is_some_and(|p| p < 1.0)
            || self.top_k.is_some()
            || self.min_p.is_some_and(|m| m > 0.0)
    }
}

/// Checks that a temperature is positive and finite.
fn check_temperature<T: Into<f64> + Copy + std::fmt::Display>(t: T) -> Result<()> {
    let v: f64 = t.into();
    if v.is_finite() && v > 0.0 {
        return Ok(());
    }
    Err(InferenceError::InvalidParameter {
        name: "temperature",
        value: t.to_string(),
        reason: "must be positive and finite (use greedy decoding for 0)",
    })
}

/// Checks that a top-p threshold lies in `(0, 1]`.
fn check_top_p<T: Into<f64> + Copy + std::fmt::Display>(p: T) -> Result<()> {
    let v: f64 = p.into();
    if v > 0.0 && v <= 1.0 {
        return Ok(());
    }
    Err(InferenceError::InvalidParameter {
        name: "top_p",
        value: p.to_string(),
        reason: "must be in (0, 1]",
    })
}

/// Temperature and top-p of the sorted sampler (see the module docs): f64 probabilities over
/// the whole vocabulary, sorted, one inverse-CDF draw.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SortedSampling {
    /// Divides the logits before the softmax; must be positive and finite.
    pub temperature: f64,
    /// Keeps the most likely tokens until their mass reaches `top_p` (the token that crosses
    /// it included), in `(0, 1]`; 1 keeps all.
    pub top_p: f64,
}

impl SortedSampling {
    /// Checks that the temperature is positive and finite and `top_p` lies in `(0, 1]`.
    pub fn validate(&self) -> Result<()> {
        check_temperature(self.temperature)?;
        check_top_p(self.top_p)
    }

    /// Draws one token id from `softmax(logits / T)` restricted to the top-p nucleus,
    /// consuming exactly one number from `rng`.
    pub fn sample(&self, logits: &[f32], rng: &mut ChaCha8Rng) -> u32 {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let mut probs: Vec<(usize, f64)> = logits
            .iter()
            .enumerate()
            .map(|(i, &v)| (i, ((v as f64 - max) / self.temperature).exp()))
            .collect();
        let total: f64 = probs.iter().map(|p| p.1).sum();
        // Step 1: sort by probability (ties by id, so the order is deterministic).
        probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        // Step 2: the nucleus: tokens until the cumulative mass reaches top_p.
        let mut kept = 0;
        let mut mass = 0.0;
        for p in &probs {
            kept += 1;
            mass += p.1 / total;
            if mass >= self.top_p {
                break;
            }
        }
        let nucleus = &probs[..kept];
        let nucleus_mass: f64 = nucleus.iter().map(|p| p.1).sum();
        // Step 3: inverse-CDF draw within the renormalised nucleus.
        let mut u = rng.random::<f64>() * nucleus_mass;
        for p in nucleus {
            if u < p.1 {
                return p.0 as u32;
            }
            u -= p.1;
        }
        nucleus[kept - 1].0 as u32
    }
}

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Decoding {
    /// The most likely token (ties: the lowest id), as `torch.argmax`.
    Greedy,
    /// A draw from the filtered distribution.
    Sample(SamplingParams),
    /// A draw with the sorted sampler ([`SortedSampling`]): a full sort per token, kept so the
    /// tiny model's measurements reproduce; prefer [`Decoding::Sample`] elsewhere.
    SampleSorted(SortedSampling),
}

impl Decoding {
    /// The book's convention: temperature 0 means greedy, otherwise temperature plus optional
    /// top-p (`top_p` of 1 or more disables the filter).
    pub fn from_temperature(temperature: f32, top_p: Option<f32>) -> Result<Self> {
        if temperature == 0.0 {
            return Ok(Decoding::Greedy);
        }
        let params = SamplingParams {
            temperature,
            top_p: top_p.filter(|&p| p < 1.0),
            top_k: None,
            min_p: None,
        };
        params.validate()?;
        Ok(Decoding::Sample(params))
    }

    /// Whether this draws random numbers.
    pub fn is_sampled(&self) -> bool {
        matches!(self, Decoding::Sample(_) | Decoding::SampleSorted(_))
    }
}

/// Returns the index of the largest value (the first one on ties, as `torch.argmax`).
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// Divides logits by the temperature (the book's `scale_logits_by_temperature`).
///
/// # Panics
/// If `temperature` is not positive (a programmer error: validate parameters first).
pub fn scale_by_temperature(logits: &[f32], temperature: f32) -> Vec<f32> {
    assert!(temperature > 0.0, "temperature must be positive");
    logits.iter().map(|z| z / temperature).collect()
}

/// Returns `softmax(z)`, computed stably (the maximum is subtracted first).
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f64> = logits.iter().map(|&z| f64::from(z - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| (e / sum) as f32).collect()
}

/// Ids sorted by descending probability, ties by ascending id.
fn sorted_desc(probs: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    order
}

/// Zeroes what `keep` rejects and renormalises the rest to sum to 1.
fn renormalise(probs: &[f32], keep: impl Fn(usize) -> bool) -> Vec<f32> {
    let kept: Vec<f64> = (0..probs.len())
        .map(|i| if keep(i) { f64::from(probs[i]) } else { 0.0 })
        .collect();
    let sum = kept.iter().sum::<f64>().max(1e-12);
    kept.iter().map(|p| (p / sum) as f32).collect()
}

/// The book's `top_p_filter`: keeps each token whose cumulative mass before it (in descending
/// order) is below `top_p`, always the first, and renormalises. `top_p >= 1` keeps all.
pub fn top_p_filter(probs: &[f32], top_p: f32) -> Vec<f32> {
    if top_p >= 1.0 {
        return probs.to_vec();
    }
    let order = sorted_desc(probs);
    let mut keep = vec![false; probs.len()];
    let mut before = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        if rank > 0 && before >= f64::from(top_p) {
            break;
        }
        keep[i] = true;
        before += f64::from(probs[i]);
    }
    renormalise(probs, |i| keep[i])
}

/// Keeps the `k` most likely tokens (ties by ascending id) and renormalises.
pub fn top_k_filter(probs: &[f32], k: usize) -> Vec<f32> {
    let order = sorted_desc(probs);
    let mut keep = vec![false; probs.len()];
    for &i in order.iter().take(k) {
        keep[i] = true;
    }
    renormalise(probs, |i| keep[i])
}

/// Keeps tokens with probability at least `min_p` times the largest, and renormalises.
pub fn min_p_filter(probs: &[f32], min_p: f32) -> Vec<f32> {
    let max = probs.iter().copied().fold(0.0f32, f32::max);
    renormalise(probs, |i| probs[i] >= min_p * max)
}

/// The whole reference chain on one logits row: temperature, softmax, top-k, top-p, min-p.
/// Sorts the full vocabulary; [`Sampler`] computes the same distribution faster.
pub fn filtered_distribution(logits: &[f32], params: &SamplingParams) -> Vec<f32> {
    let mut probs = softmax(&scale_by_temperature(logits, params.temperature));
    if let Some(k) = params.top_k {
        probs = top_k_filter(&probs, k);
    }
    if let Some(p) = params.top_p {
        probs = top_p_filter(&probs, p);
    }
    if let Some(m) = params.min_p {
        probs = min_p_filter(&probs, m);
    }
    probs
}

/// Draws token ids from logits rows with [`SamplingParams`], reusing its buffers between calls.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplingParams,
    weights: Vec<f32>,
    pool: Vec<(f32, u32)>,
    /// Whether the top-p pool starts from the ids above a mass-holding line (always, except
    /// in the test that checks the line changes nothing).
    pool_line: bool,
}

impl Sampler {
    /// A sampler for `params` (validated).
    pub fn new(params: SamplingParams) -> Result<Self> {
        params.validate()?;
        Ok(Self {
            params,
            weights: Vec::new(),
            pool: Vec::new(),
            pool_line: true,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// Draws one token id from a logits row, consuming exactly one number from `rng`.
    pub fn sample(&mut self, logits: &[f32], rng: &mut ChaCha8Rng) -> u32 {
        let u: f64 = rng.random();
        if !self.params.filters() {
            let total = self.fill_weights(logits);
            let target = u * total;
            let mut acc = 0.0f64;
            let mut last = 0;
            for (i, &w) in self.weights.iter().enumerate() {
                if w > 0.0 {
                    acc += f64::from(w);
                    last = i;
                    if acc > target {
                        return i as u32;
                    }
                }
            }
            return last as u32;
        }
        self.kept_weights(logits);
        let total: f64 = self.pool.iter().map(|&(w, _)| f64::from(w)).sum();
        let target = u * total;
        let mut acc = 0.0f64;
        for &(w, id) in &self.pool {
            acc += f64::from(w);
            if acc > target {
                return id;
            }
        }
        self.pool.last().map_or(0, |&(_, id)| id)
    }

    /// The support `K_t` of the last [`sample`](Self::sample): the ids that top-k, top-p and
    /// min-p kept, ascending; `None` when the parameters filter nothing (every id could be
    /// drawn). DeepSeek-V3.2's "keep sampling mask" renormalises the policy over exactly this
    /// set at training time.
    pub fn last_support(&self) -> Option<Vec<u32>> {
        if !self.params.filters() {
            return None;
        }
        let mut ids: Vec<u32> = self.pool.iter().map(|&(_, id)| id).collect();
        ids.sort_unstable();
        Some(ids)
    }

    /// The filtered, renormalised distribution of a logits row: kept ids with their
    /// probabilities, most likely first (ties by ascending id).
    pub fn distribution(&mut self, logits: &[f32]) -> Vec<(u32, f64)> {
        if !self.params.filters() {
            let total = self.fill_weights(logits);
            let mut all: Vec<(u32, f64)> = self
                .weights
                .iter()
                .enumerate()
                .map(|(i, &w)| (i as u32, f64::from(w) / total))
                .collect();
            all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            return all;
        }
        self.kept_weights(logits);
        let total: f64 = self.pool.iter().map(|&(w, _)| f64::from(w)).sum();
        self.pool
            .iter()
            .map(|&(w, id)| (id, f64::from(w) / total))
            .collect()
    }

    /// `w_i = exp((z_i - max z) / T)` into `self.weights`; returns `Σ w_i`.
    fn fill_weights(&mut self, logits: &[f32]) -> f64 {
        let t = self.params.temperature;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        self.weights.clear();
        self.weights
            .extend(logits.iter().map(|&z| ((z - max) / t).exp()));
        self.weights.iter().map(|&w| f64::from(w)).sum()
    }

    /// Leaves the kept `(weight, id)` pairs in `self.pool`, sorted by descending weight.
    fn kept_weights(&mut self, logits: &[f32]) {
        let total = self.fill_weights(logits);
        let desc = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        self.pool.clear();
        // Min-p keeps a prefix of the sorted order (w ≥ min_p · w_max, and w_max = 1), so only
        // tokens above that line can ever be kept or precede a kept token.
        let floor = self.params.min_p.unwrap_or(0.0);
        let mut mass = total;
        match self.params.top_k {
            Some(k) if k < self.weights.len() => {
                // Step 1: top-k, by selection; its mass renormalises top-p.
                self.pool
                    .extend(self.weights.iter().enumerate().map(|(i, &w)| (w, i as u32)));
                self.pool.select_nth_unstable_by(k - 1, desc);
                self.pool.truncate(k);
                mass = self.pool.iter().map(|&(w, _)| f64::from(w)).sum();
            }
            _ => {
                // Only tokens above a line that already holds the top-p mass can be kept (the
                // first token below it is preceded by at least that mass), so the pool starts
                // with those: over a 49 K vocabulary usually a few dozen instead of every id.
                // The line starts at 1e-4 of the most likely token's weight (which is 1) and
                // drops until it holds the mass; the kept set is exactly the same as without it.
                let target = self
                    .params
                    .top_p
                    .filter(|&p| p < 1.0)
                    .map(|p| f64::from(p) * total);
                let mut line = match target {
                    Some(_) if self.pool_line => 1e-4f32.max(floor),
                    _ => floor,
                };
                loop {
                    self.pool.clear();
                    let mut held = 0.0f64;
                    for (i, &w) in self.weights.iter().enumerate() {
                        if w >= line && w > 0.0 {
                            self.pool.push((w, i as u32));
                            held += f64::from(w);
                        }
                    }
                    match target {
                        Some(t) if held < t * (1.0 + 1e-9) && line > floor => {
                            line = (line * 1e-4).max(floor)
                        }
                        _ => break,
                    }
                    if line < 1e-30 {
                        line = floor;
                    }
                }
            }
        }
        // Step 2: top-p over the head of the pool, widening the sorted head until the cut
        // falls inside it.
        let threshold = self.params.top_p.filter(|&p| p < 1.0).map(f64::from);
        let cut = match threshold {
            None => {
                self.pool.sort_unstable_by(desc);
                self.pool.len()
            }
            Some(p) => {
                let target = p * mass;
                let mut head = 64.min(self.pool.len());
                loop {
                    if head < self.pool.len() {
                        self.pool.select_nth_unstable_by(head - 1, desc);
                    }
                    self.pool[..head].sort_unstable_by(desc);
                    let mut before = 0.0f64;
                    let mut cut = None;
                    for (rank, &(w, _)) in self.pool[..head].iter().enumerate() {
                        if rank > 0 && before >= target {
                            cut = Some(rank);
                            break;
                        }
                        before += f64::from(w);
                    }
                    match cut {
                        Some(c) => break c,
                        None if head == self.pool.len() => break head,
                        None => head = (head * 4).min(self.pool.len()),
                    }
                }
            }
        };
        self.pool.truncate(cut.max(1));
        // Step 3: min-p, relative to the most likely token.
        if floor > 0.0 {
            let max = self.pool[0].0;
            let keep = self
                .pool
                .iter()
                .take_while(|&&(w, _)| w >= floor * max)
                .count();
            self.pool.truncate(keep.max(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6)
    }

    #[test]
    fn top_p_keeps_tokens_whose_preceding_mass_is_below_p() {
        // The book's example: [0.5, 0.41, 0.09] with p = 0.9 keeps the first two.
        let kept = top_p_filter(&[0.5, 0.41, 0.09], 0.9);
        assert!(close(&kept, &[0.5 / 0.91, 0.41 / 0.91, 0.0]), "{kept:?}");
        // With exactly representable masses: the mass before the third token is 0.75, so
        // p = 0.75 drops it (not below p) and p = 0.76 keeps it.
        let probs = [0.5, 0.25, 0.125, 0.125];
        assert_eq!(top_p_filter(&probs, 0.75)[2], 0.0);
        assert!(top_p_filter(&probs, 0.76)[2] > 0.0);
    }

    #[test]
    fn top_p_always_keeps_the_most_likely_token() {
        let kept = top_p_filter(&[0.1, 0.7, 0.2], 1e-9);
        assert!(close(&kept, &[0.0, 1.0, 0.0]), "{kept:?}");
    }

    #[test]
    fn top_p_of_one_keeps_the_distribution() {
        let p = [0.2, 0.3, 0.5];
        assert_eq!(top_p_filter(&p, 1.0), p.to_vec());
    }

    #[test]
    fn top_k_keeps_the_k_most_likely_with_ties_by_lower_id() {
        let kept = top_k_filter(&[0.25, 0.25, 0.4, 0.1], 2);
        assert!(
            close(&kept, &[0.25 / 0.65, 0.0, 0.4 / 0.65, 0.0]),
            "{kept:?}"
        );
    }

    #[test]
    fn min_p_keeps_tokens_relative_to_the_maximum() {
        // max = 0.5, min_p = 0.4: the line is 0.2, so 0.2 stays and 0.1 goes.
        let kept = min_p_filter(&[0.5, 0.2, 0.1, 0.2], 0.4);
        assert!(
            close(&kept, &[0.5 / 0.9, 0.2 / 0.9, 0.0, 0.2 / 0.9]),
            "{kept:?}"
        );
    }

    #[test]
    fn temperature_sharpens_below_one_and_flattens_above() {
        let z = [2.0, 1.0, 0.0];
        let base = softmax(&z);
        let sharp = softmax(&scale_by_temperature(&z, 0.5));
        let flat = softmax(&scale_by_temperature(&z, 5.0));
        assert!(sharp[0] > base[0] && base[0] > flat[0]);
        assert!(flat[2] > base[2] && base[2] > sharp[2]);
        assert!((base.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn the_sorted_sampler_keeps_the_tokens_that_reach_the_mass() {
        // Probabilities ≈ [0.665, 0.245, 0.090]: top_p 0.5 keeps only the first, 0.8 two.
        let row = [2.0f32, 1.0, 0.0];
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let s = SortedSampling {
            temperature: 1.0,
            top_p: 0.5,
        };
        assert!((0..200).all(|_| s.sample(&row, &mut rng) == 0));
        let s = SortedSampling {
            temperature: 1.0,
            top_p: 0.8,
        };
        let draws: Vec<u32> = (0..2000).map(|_| s.sample(&row, &mut rng)).collect();
        assert!(!draws.contains(&2));
        let ones = draws.iter().filter(|d| **d == 1).count() as f64 / 2000.0;
        assert!((ones - 0.245 / 0.91).abs() < 0.04, "{ones}");
        let bad = SortedSampling {
            temperature: 1.0,
            top_p: 0.0,
        };
        assert!(bad.validate().unwrap_err().to_string().contains("top_p"));
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
    }

    #[test]
    fn invalid_parameters_are_refused_with_their_name() {
        let err = Sampler::new(SamplingParams::temperature(0.0)).unwrap_err();
        assert!(err.to_string().contains("temperature = 0"), "{err}");
        let err = Sampler::new(SamplingParams::temperature(1.0).with_top_p(1.5)).unwrap_err();
        assert!(err.to_string().contains("top_p = 1.5"), "{err}");
        let err = Sampler::new(SamplingParams::temperature(1.0).with_top_k(0)).unwrap_err();
        assert!(err.to_string().contains("top_k"), "{err}");
        let err = Sampler::new(SamplingParams::temperature(1.0).with_min_p(-0.1)).unwrap_err();
        assert!(err.to_string().contains("min_p"), "{err}");
    }

    #[test]
    fn temperature_zero_means_greedy() {
        assert_eq!(
            Decoding::from_temperature(0.0, Some(0.9)).unwrap(),
            Decoding::Greedy
        );
        let Decoding::Sample(p) = Decoding::from_temperature(0.7, Some(1.0)).unwrap() else {
            panic!("expected sampling");
        };
        assert_eq!(p.top_p, None, "top_p = 1 disables the filter");
    }

    #[test]
    fn same_seed_draws_the_same_tokens() {
        let logits: Vec<f32> = (0..1000).map(|i| ((i * 37) % 101) as f32 / 20.0).collect();
        let params = SamplingParams::temperature(0.9).with_top_p(0.9);
        let draw = |seed| {
            let mut s = Sampler::new(params).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..50)
                .map(|_| s.sample(&logits, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn sample_frequencies_follow_the_filtered_distribution() {
        let logits = [1.0f32, 0.5, 0.0, -1.0, -3.0];
        let params = SamplingParams::temperature(0.8).with_top_p(0.8);
        let expected = filtered_distribution(&logits, &params);
        let mut s = Sampler::new(params).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = 40_000;
        let mut counts = [0usize; 5];
        for _ in 0..n {
            counts[s.sample(&logits, &mut rng) as usize] += 1;
        }
        for (i, (&c, &p)) in counts.iter().zip(&expected).enumerate() {
            let freq = c as f32 / n as f32;
            assert!((freq - p).abs() < 0.01, "token {i}: {freq} vs {p}");
            if p == 0.0 {
                assert_eq!(c, 0, "token {i} was filtered out but drawn");
            }
        }
    }

    #[test]
    fn unfiltered_sampling_matches_the_softmax() {
        let logits = [0.3f32, -0.2, 1.1];
        let expected = softmax(&scale_by_temperature(&logits, 1.3));
        let mut s = Sampler::new(SamplingParams::temperature(1.3)).unwrap();
        let dist = s.distribution(&logits);
        for (id, p) in dist {
            assert!((p as f32 - expected[id as usize]).abs() < 1e-6);
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn fast_filters_keep_the_same_set_as_the_reference(
                logits in proptest::collection::vec(-8.0f32..8.0, 1..600),
                t in 0.2f32..2.0,
                p in proptest::option::of(0.05f32..1.0),
                k in proptest::option::of(1usize..50),
                m in proptest::option::of(0.0f32..0.5),
            ) {
                let params = SamplingParams { temperature: t, top_p: p, top_k: k, min_p: m };
                let reference = filtered_distribution(&logits, &params);
                let mut s = Sampler::new(params).unwrap();
                let fast = s.distribution(&logits);
                let mut dense = vec![0.0f32; logits.len()];
                for (id, q) in fast {
                    dense[id as usize] = q as f32;
                }
                for (i, (a, b)) in dense.iter().zip(&reference).enumerate() {
                    prop_assert!((a - b).abs() < 1e-4, "id {}: fast {} vs reference {}", i, a, b);
                }
            }

            // Wide logits and long rows: most ids fall below the first line, and flat rows
            // make the line drop several times before it holds the top-p mass.
            #[test]
            fn the_pool_line_keeps_exactly_the_reference_set(
                logits in proptest::collection::vec(-40.0f32..40.0, 1..3000),
                flat in any::<bool>(),
                t in 0.2f32..3.0,
                p in 0.05f32..0.999,
                m in proptest::option::of(0.0f32..0.2),
            ) {
                let logits: Vec<f32> = if flat {
                    logits.iter().map(|z| z * 1e-3).collect()
                } else {
                    logits
                };
                let params = SamplingParams { temperature: t, top_p: Some(p), top_k: None, min_p: m };
                let mut fast = Sampler::new(params).unwrap();
                let mut full = Sampler::new(params).unwrap();
                full.pool_line = false;
                prop_assert_eq!(fast.distribution(&logits), full.distribution(&logits));
                let mut a = ChaCha8Rng::seed_from_u64(3);
                let mut b = ChaCha8Rng::seed_from_u64(3);
                for _ in 0..5 {
                    prop_assert_eq!(fast.sample(&logits, &mut a), full.sample(&logits, &mut b));
                }
            }
        }
    }
}
