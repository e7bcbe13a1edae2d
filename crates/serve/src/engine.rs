//! The continuous-batching engine: one thread owns the model and runs every request's decode
//! steps together.
//!
//! ```text
//! loop:
//!   admit    new jobs while rows + n ≤ max_batch: prefill their prompts together, left-padded
//!            (one prefill per prompt for its n choices), draw each choice's first token, join
//!            the batch (KvCache::concat)
//!   decode   one forward pass over every row's last token, [rows, 1] → [rows, vocab]
//!   draw     each row from its own sampler and random stream
//!   leave    rows that hit a stop id, their token budget, the context's end, or whose client
//!            went away (KvCache::select_rows; trim_padding once 64 slots are padding in
//!            every row)
//! ```
//!
//! A request waits in the queue only while the batch is full. A client that disconnects is
//! noticed before the next decode step (its event channel is closed), so its row stops within
//! one step and frees its slot. Each choice draws from its own stream, seeded by the request's
//! `seed` (or a server counter) and the choice index, so the same seed gives the same text
//! whatever else is in the batch (up to floating-point sums, which do not depend on the batch
//! on burn-flex).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use burn::tensor::{Int, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;
use reasoning_inference::{Sampler, SamplingParams, sample_stream};
use reasoning_model::{KvCache, Model};
use tokio::sync::mpsc::UnboundedSender;

use crate::metrics::Metrics;

/// One token's log-probability and, when asked for, the most likely alternatives.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    /// `log p(token)` at temperature 1 over the tokenizer's ids.
    pub logprob: f32,
    /// The `k` most likely ids with their log-probabilities, most likely first.
    pub top: Vec<(u32, f32)>,
}

/// Why a choice ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// A stop id.
    Stop,
    /// Its token budget or the context's end.
    Length,
}

/// What the engine tells a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Choice `choice` generated `id`.
    Token {
        /// The choice.
        choice: usize,
        /// The id.
        id: u32,
        /// With log-probabilities asked for.
        logprob: Option<TokenLogprob>,
    },
    /// Choice `choice` ended.
    Finished {
        /// The choice.
        choice: usize,
        /// Why.
        finish: Finish,
    },
}

/// One request for the engine.
#[derive(Debug)]
pub struct Job {
    /// Prompt ids (checked against the vocabulary and context by the caller).
    pub prompt: Vec<u32>,
    /// Choices.
    pub n: usize,
    /// Sampling; `None` is greedy.
    pub sampling: Option<SamplingParams>,
    /// Seed of the choices' streams.
    pub seed: u64,
    /// Most new tokens per choice.
    pub max_tokens: usize,
    /// Ids that end a choice.
    pub stop_ids: Vec<u32>,
    /// Stop ids are not drawn before this many tokens (`usize::MAX`: never).
    pub min_tokens: usize,
    /// `Some(k)`: report each token's log-probability and `k` alternatives.
    pub logprobs: Option<usize>,
    /// Set a choice's flag to stop it (a stop string was met); a closed channel stops all.
    pub cancel: Arc<[AtomicBool]>,
    /// Where the events go.
    pub events: UnboundedSender<Event>,
    /// When the request arrived (time to first token).
    pub arrived: Instant,
}

/// One running choice.
struct Row {
    job: Arc<Job>,
    choice: usize,
    sampler: Option<Sampler>,
    rng: ChaCha8Rng,
    generated: usize,
    next: u32,
}

/// The engine's limits.
#[derive(Debug, Clone, Copy)]
pub struct EngineLimits {
    /// Rows decoded together at most.
    pub max_batch: usize,
    /// Ids the tokenizer knows; larger ids (embedding padding) are never drawn.
    pub vocab_limit: usize,
    /// Most bytes the batch's KV cache may reach (`None`: no limit beyond `max_batch`).
    pub kv_budget_bytes: Option<usize>,
    /// Bytes one token of one row takes in the KV cache: `2 · layers · kv_heads · head_dim ·
    /// bytes per value`.
    pub kv_bytes_per_token: usize,
}

impl EngineLimits {
    /// The KV cache a batch reaches at most: every row padded to the longest extent, which
    /// is the current length (or the longest new prompt) plus the most tokens any row may
    /// still generate.
    fn peak_bytes(&self, rows: usize, start_len: usize, remaining: usize) -> usize {
        rows.saturating_mul(start_len.saturating_add(remaining))
            .saturating_mul(self.kv_bytes_per_token)
    }

    /// The KV cache one request of `n` choices needs alone.
    pub fn peak_bytes_of(&self, n: usize, prompt: usize, max_tokens: usize) -> usize {
        self.peak_bytes(n, prompt, max_tokens)
    }
}

/// Runs the engine on the current thread until `jobs` closes and every row has finished.
pub fn run(model: &Model, limits: EngineLimits, jobs: Receiver<Job>, metrics: &Metrics) {
    let device = model.device();
    let config = model.config().clone();
    let context = config.max_position_embeddings;
    let mut queue: VecDeque<Job> = VecDeque::new();
    let mut rows: Vec<Row> = Vec::new();
    let mut cache: Option<KvCache> = None;
    let mut closed = false;
    loop {
        // Admit: wait for work when idle, otherwise only take what has arrived.
        if rows.is_empty() && queue.is_empty() {
            metrics.set_queue(0, 0);
            if closed {
                return;
            }
            match jobs.recv() {
                Ok(job) => queue.push_back(job),
                Err(_) => return,
            }
        }
        loop {
            match jobs.recv_timeout(Duration::ZERO) {
                Ok(job) => queue.push_back(job),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        // Every newcomer that fits is prefilled in one left-padded batch, then joins at once.
        let mut admitted: Vec<Arc<Job>> = Vec::new();
        let mut seats = rows.len();
        let mut start_len = cache.as_ref().map_or(0, KvCache::len);
        let mut remaining = rows
            .iter()
            .map(|r| r.job.max_tokens.saturating_sub(r.generated))
            .max()
            .unwrap_or(0);
        while let Some(job) = queue.front() {
            if seats > 0 && seats + job.n > limits.max_batch {
                break;
            }
            let (len, rest) = (
                start_len.max(job.prompt.len()),
                remaining.max(job.max_tokens),
            );
            let over = limits
                .kv_budget_bytes
                .is_some_and(|budget| limits.peak_bytes(seats + job.n, len, rest) > budget);
            if over && seats > 0 {
                break; // it waits for rows to leave
            }
            (start_len, remaining) = (len, rest);
            let job = Arc::new(queue.pop_front().expect("front exists"));
            if job.events.is_closed() {
                continue;
            }
            seats += job.n;
            admitted.push(job);
        }
        if !admitted.is_empty() {
            let (joined, fresh) = prefill(model, &admitted, limits, metrics);
            if !fresh.is_empty() {
                rows.extend(fresh);
                cache = Some(match cache.take() {
                    Some(c) => c.concat(joined),
                    None => joined,
                });
            }
        }
        metrics.set_queue(queue.len(), rows.len());
        // Leave: cancelled or disconnected rows go before the step.
        let keep: Vec<usize> = (0..rows.len())
            .filter(|&r| {
                let row = &rows[r];
                !row.job.events.is_closed() && !row.job.cancel[row.choice].load(Ordering::Relaxed)
            })
            .collect();
        retain(&mut rows, &mut cache, &keep);
        if rows.is_empty() {
            continue;
        }
        // Decode one step for every row.
        let started = Instant::now();
        let ids: Vec<i64> = rows.iter().map(|r| i64::from(r.next)).collect();
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [rows.len(), 1]), &device);
        let c = cache.as_mut().expect("rows have a cache");
        let logits = model.forward_cached(tokens, c);
        let values = host(logits);
        let vocab = config.vocab_size;
        let mut keep = Vec::with_capacity(rows.len());
        for (r, row) in rows.iter_mut().enumerate() {
            let z = &values[r * vocab..r * vocab + limits.vocab_limit.min(vocab)];
            if emit(row, z, context) {
                keep.push(r);
            }
        }
        metrics.decode_step(rows.len(), started.elapsed());
        retain(&mut rows, &mut cache, &keep);
    }
}

/// Prefills newly admitted jobs in one left-padded batch (each prompt once, whatever its
/// `n`), draws each choice's first token, and returns the cache of the choices still running
/// (job by job, choice by choice) and their rows.
fn prefill(
    model: &Model,
    jobs: &[Arc<Job>],
    limits: EngineLimits,
    metrics: &Metrics,
) -> (KvCache, Vec<Row>) {
    let device = model.device();
    let config = model.config();
    let started = Instant::now();
    let longest = jobs.iter().map(|j| j.prompt.len()).max().unwrap_or(1);
    let budget = jobs.iter().map(|j| j.max_tokens).max().unwrap_or(1);
    let left_pad: Vec<usize> = jobs.iter().map(|j| longest - j.prompt.len()).collect();
    let mut ids = Vec::with_capacity(jobs.len() * longest);
    for (job, &pad) in jobs.iter().zip(&left_pad) {
        ids.extend(std::iter::repeat_n(0i64, pad));
        ids.extend(job.prompt.iter().map(|&id| i64::from(id)));
    }
    let mut cache =
        KvCache::with_left_padding(config, left_pad, longest + budget.min(256), &device);
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [jobs.len(), longest]), &device);
    let logits = host(model.forward_cached(tokens, &mut cache));
    let prompt_tokens: usize = jobs.iter().map(|j| j.prompt.len()).sum();
    metrics.prefill(prompt_tokens, started.elapsed());
    let vocab = config.vocab_size;
    let limit = limits.vocab_limit.min(vocab);
    let mut rows = Vec::new();
    let mut keep = Vec::new();
    for (j, job) in jobs.iter().enumerate() {
        let z = &logits[j * vocab..j * vocab + limit];
        metrics.first_token(job.arrived.elapsed());
        for choice in 0..job.n {
            let mut row = Row {
                job: Arc::clone(job),
                choice,
                sampler: job
                    .sampling
                    .map(|p| Sampler::new(p).expect("checked by the caller")),
                rng: sample_stream(job.seed, 0, choice as u64),
                generated: 0,
                next: 0,
            };
            if emit(&mut row, z, config.max_position_embeddings) {
                keep.push(j);
                rows.push(row);
            }
        }
    }
    (cache.select_rows(&keep), rows)
}

/// Keeps the rows at the indices in `keep` (ascending) and their cache rows; no rows, no cache.
fn retain(rows: &mut Vec<Row>, cache: &mut Option<KvCache>, keep: &[usize]) {
    if keep.len() == rows.len() {
        return;
    }
    let mut old: Vec<Option<Row>> = std::mem::take(rows).into_iter().map(Some).collect();
    *rows = keep
        .iter()
        .map(|&r| old[r].take().expect("each row is kept once"))
        .collect();
    *cache = match cache.take() {
        Some(c) if !rows.is_empty() => Some(trim(c.select_rows(keep))),
        _ => None,
    };
}

/// Drops padding every row shares once there are at least 64 such slots (each trim copies
/// the cache, so it is not done for a few).
fn trim(cache: KvCache) -> KvCache {
    let shared = cache.left_pad().iter().copied().min().unwrap_or(0);
    if shared >= 64 {
        cache.trim_padding()
    } else {
        cache
    }
}

/// Draws a row's next id from its logits, sends it, and says whether the row goes on.
fn emit(row: &mut Row, z: &[f32], context: usize) -> bool {
    // Before `min_tokens`, the stop ids cannot be drawn (log-probabilities stay the model's).
    let raw = z;
    let masked: Vec<f32>;
    let z = if row.generated < row.job.min_tokens {
        let mut m = z.to_vec();
        for &id in &row.job.stop_ids {
            if let Some(v) = m.get_mut(id as usize) {
                *v = f32::NEG_INFINITY;
            }
        }
        masked = m;
        &masked[..]
    } else {
        z
    };
    let id = match &mut row.sampler {
        None => reasoning_inference::sampling::argmax(z) as u32,
        Some(s) => s.sample(z, &mut row.rng),
    };
    let logprob = row.job.logprobs.map(|k| logprob_of(raw, id, k));
    row.generated += 1;
    row.next = id;
    let events = &row.job.events;
    let sent = events
        .send(Event::Token {
            choice: row.choice,
            id,
            logprob,
        })
        .is_ok();
    let finish = if row.job.stop_ids.contains(&id) {
        Some(Finish::Stop)
    } else if row.generated >= row.job.max_tokens
        // The cache would then hold the prompt and every generated id: the context is full.
        || row.job.prompt.len() + row.generated >= context
    {
        Some(Finish::Length)
    } else {
        None
    };
    match finish {
        Some(finish) => {
            let _ = events.send(Event::Finished {
                choice: row.choice,
                finish,
            });
            false
        }
        None => sent,
    }
}

/// `log softmax(z)[id]` and the `k` most likely ids, in f64 for the sum.
fn logprob_of(z: &[f32], id: u32, k: usize) -> TokenLogprob {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = z.iter().map(|&v| f64::from(v - max).exp()).sum();
    let lse = f64::from(max) + sum.ln();
    let lp = |i: usize| (f64::from(z[i]) - lse) as f32;
    let mut top: Vec<(u32, f32)> = Vec::new();
    if k > 0 {
        let mut order: Vec<usize> = (0..z.len()).collect();
        let k = k.min(z.len());
        order.select_nth_unstable_by(k - 1, |&a, &b| z[b].total_cmp(&z[a]).then(a.cmp(&b)));
        order.truncate(k);
        order.sort_by(|&a, &b| z[b].total_cmp(&z[a]).then(a.cmp(&b)));
        top = order.into_iter().map(|i| (i as u32, lp(i))).collect();
    }
    TokenLogprob {
        logprob: lp(id as usize),
        top,
    }
}

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .unwrap_or_else(|e| panic!("logits read as f32: {e}"))
}

/// A seed for requests without one: a per-server counter, so unseeded requests differ.
#[derive(Debug, Default)]
pub struct SeedCounter(AtomicU64);

impl SeedCounter {
    /// The next seed.
    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) ^ 0x5EED_0000_0000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logprobs_are_normalised_and_sorted() {
        let z = [1.0f32, 3.0, 2.0, -1.0];
        let l = logprob_of(&z, 2, 3);
        let total: f64 = z
            .iter()
            .enumerate()
            .map(|(i, _)| f64::from(logprob_of(&z, i as u32, 0).logprob).exp())
            .sum();
        assert!((total - 1.0).abs() < 1e-6);
        assert_eq!(l.top.iter().map(|t| t.0).collect::<Vec<_>>(), vec![1, 2, 0]);
        assert_eq!(l.top[1].1, l.logprob);
    }
}
