//! Autoregressive generation with the KV cache: one prompt or many, greedy or sampled,
//! streaming (book chapter 2, section 2.7; batching from appendix E).
//!
//! ```text
//! prefill   logits₀ = model(prompt)            one pass over every prompt token, fills the cache
//! decode    tₖ ~ logitsₖ₋₁                     greedy: argmax; sampled: see [`crate::sampling`]
//!           logitsₖ = model(tₖ | cache)        one position per step
//! stop      tₖ ∈ stop_ids (kept as the last id) or k = max_new_tokens
//! ```
//!
//! **Batches.** [`generate_batch`] runs several prompts at once. Prompts of different lengths
//! are left-padded so every row ends at the same cache slot; the cache masks the padding and
//! counts each row's RoPE positions from its first real token ([`KvCache::with_left_padding`]),
//! so a padded row computes what it would alone. Each row stops on its own; a finished row is
//! dropped from the cache ([`KvCache::select_rows`]) and costs nothing afterwards.
//!
//! **N samples of one prompt** (`samples_per_prompt = N`) share one prefill: the prompt is
//! encoded once at batch 1 and its cache repeated N times ([`KvCache::repeat_rows`]).
//! Self-consistency, best-of-N and GRPO rollouts use this.
//!
//! **Randomness.** Sampled rows each own a [`ChaCha8Rng`] and draw one number per token from
//! it. A row's tokens therefore depend only on its stream and its logits, not on which other
//! rows share the batch; its logits are the same up to float rounding in batched matrix
//! products (the tests check that greedy and sampled outputs agree token for token on the tiny
//! fixtures; on large models a near-tie can in principle flip). [`sample_stream`] derives the
//! conventional stream of sample `j` of problem `i` from a base seed. A batch may instead share
//! one stream: rows then draw from it in row order, one number each per step, and a row's
//! tokens depend on its batch (the tiny model's measurements were drawn this way).
//!
//! **Departures from the book.** The book's loop stops *before* yielding the EOS token; here
//! the EOS id is kept as the last generated id ([`Generation::content_ids`] drops it), so
//! callers see why a sequence ended. The book also runs one model pass after the last token;
//! this loop does not. `max_new_tokens` counts every generated id, EOS included, which gives
//! the same text as the book.

use std::ops::ControlFlow;
use std::time::Instant;

use burn::tensor::{Int, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use reasoning_model::{KvCache, Model};
use serde::{Deserialize, Serialize};

use crate::error::{InferenceError, Result};
use crate::sampling::{Decoding, Sampler, SortedSampling};

/// What to generate and when to stop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationConfig {
    /// Most ids to generate per sequence, the stop id included (book: `max_new_tokens`). It is
    /// lowered where the model's context would otherwise overflow.
    pub max_new_tokens: usize,
    /// Greedy or sampled.
    pub decoding: Decoding,
    /// Ids that end a sequence (the tokenizer's `eos_token_ids`).
    pub stop_ids: Vec<u32>,
    /// Only ids below this are ever chosen. A model's embedding may have more rows than its
    /// tokenizer has ids (Qwen3: 151,936 rows, 151,669 ids); the extra rows are padding and
    /// must not be generated. `None` allows every row.
    #[serde(default)]
    pub vocab_limit: Option<usize>,
    /// Record each sampled token's support (the ids top-k/top-p/min-p kept) in
    /// [`BatchOutput::supports`], for DeepSeek-V3.2's keep-sampling mask. Only
    /// [`Decoding::Sample`] records; greedy and sorted decoding leave it empty.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub record_support: bool,
}

impl GenerationConfig {
    /// Greedy decoding up to `max_new_tokens`, stopping at `stop_ids`.
    pub fn greedy(max_new_tokens: usize, stop_ids: &[u32]) -> Self {
        Self {
            max_new_tokens,
            decoding: Decoding::Greedy,
            stop_ids: stop_ids.to_vec(),
            vocab_limit: None,
            record_support: false,
        }
    }

    /// Returns this configuration with another decoding.
    pub fn with_decoding(self, decoding: Decoding) -> Self {
        Self { decoding, ..self }
    }

    /// Returns this configuration choosing only ids below `limit` (the tokenizer's size).
    pub fn with_vocab_limit(self, limit: usize) -> Self {
        Self {
            vocab_limit: Some(limit),
            ..self
        }
    }
}

/// Why a sequence ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// It produced a stop id (kept as its last id).
    Eos,
    /// It reached `max_new_tokens` (or the end of the model's context).
    Length,
    /// The caller's callback stopped generation first.
    Stopped,
}

/// One generated sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generation {
    /// The generated ids, the stop id included when there was one.
    pub ids: Vec<u32>,
    /// Why it ended.
    pub finish: FinishReason,
}

impl Generation {
    /// The generated ids without the final stop id: what the book's loop yields.
    pub fn content_ids(&self) -> &[u32] {
        match self.finish {
            FinishReason::Eos => &self.ids[..self.ids.len() - 1],
            _ => &self.ids,
        }
    }

    /// Whether the sequence ended with a stop id.
    pub fn hit_eos(&self) -> bool {
        self.finish == FinishReason::Eos
    }
}

/// Timings of one generation call (the book's `generate_stats`, split by phase).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerationStats {
    /// Prompt tokens encoded by the prefill, padding excluded, counted once per prompt.
    pub prompt_tokens: usize,
    /// Ids generated over all rows.
    pub generated_tokens: usize,
    /// Seconds of the prefill, including the choice of each row's first id.
    pub prefill_seconds: f64,
    /// Seconds of every later step.
    pub decode_seconds: f64,
}

impl GenerationStats {
    /// Prompt tokens per second of prefill.
    pub fn prefill_tokens_per_s(&self) -> f64 {
        self.prompt_tokens as f64 / self.prefill_seconds.max(1e-9)
    }

    /// Ids per second of the decode phase (the first id of each row belongs to the prefill).
    pub fn decode_tokens_per_s(&self, rows: usize) -> f64 {
        self.generated_tokens.saturating_sub(rows) as f64 / self.decode_seconds.max(1e-9)
    }

    /// Wall time of the whole call.
    pub fn seconds(&self) -> f64 {
        self.prefill_seconds + self.decode_seconds
    }
}

/// Generated sequences (row `p · samples_per_prompt + j` is sample `j` of prompt `p`) and the
/// call's timings.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOutput {
    /// One per row.
    pub generations: Vec<Generation>,
    /// Timings.
    pub stats: GenerationStats,
    /// With [`GenerationConfig::record_support`]: per row, per generated id, the ids it was
    /// drawn from, ascending (empty: unrestricted, every id could be drawn). Otherwise empty.
    pub supports: Vec<Vec<Vec<u32>>>,
}

/// What the callback of [`generate_batch`] asks for after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Keep generating.
    Continue,
    /// End every unfinished sample of the event row's prompt (e.g. a self-consistency vote
    /// is decided).
    StopPrompt,
    /// End every unfinished row.
    StopAll,
}

/// What [`generate_batch`] reports while it runs.
#[derive(Debug)]
pub enum Event<'a> {
    /// Row `row` produced `id`.
    Token {
        /// The row.
        row: usize,
        /// The id.
        id: u32,
    },
    /// Row `row` ended (EOS or length).
    Finished {
        /// The row.
        row: usize,
        /// Its sequence.
        generation: &'a Generation,
    },
}

/// The random stream of sample `sample` of problem `problem` under `seed`: ChaCha8 keyed by
/// `seed` mixed with `problem` (SplitMix64), stream number `sample`. Every command derives its
/// per-sample streams this way, so a sample's text does not depend on how samples are batched
/// or on where a resumed run restarted.
pub fn sample_stream(seed: u64, problem: u64, sample: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(splitmix64(seed ^ splitmix64(problem)));
    rng.set_stream(sample);
    rng
}

/// SplitMix64's finaliser: a bijective mix of 64 bits, the one every crate of this workspace
/// derives seeds with.
///
/// ```
/// assert_ne!(reasoning_inference::splitmix64(1), reasoning_inference::splitmix64(2));
/// ```
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Generates a continuation of one prompt, calling `on_token` with each id as it is chosen
/// (return `ControlFlow::Break(())` to stop early). `rng` is required for sampled decoding.
pub fn generate(
    model: &Model,
    prompt: &[u32],
    config: &GenerationConfig,
    rng: Option<&mut ChaCha8Rng>,
    mut on_token: impl FnMut(u32) -> ControlFlow<()>,
) -> Result<(Generation, GenerationStats)> {
    let mut streams: Vec<ChaCha8Rng> = rng.as_deref().cloned().into_iter().collect();
    let out = generate_batch(
        model,
        &[prompt.to_vec()],
        1,
        config,
        &mut streams,
        |event| match event {
            Event::Token { id, .. } => match on_token(id) {
                ControlFlow::Continue(()) => Control::Continue,
                ControlFlow::Break(()) => Control::StopAll,
            },
            Event::Finished { .. } => Control::Continue,
        },
    )?;
    if let (Some(rng), Some(advanced)) = (rng, streams.pop()) {
        *rng = advanced;
    }
    let generation = out.generations.into_iter().next().unwrap_or(Generation {
        ids: Vec::new(),
        finish: FinishReason::Length,
    });
    Ok((generation, out.stats))
}

/// Generates `samples_per_prompt` continuations of each prompt in one batch.
///
/// Rows are prompt-major: row `p · samples_per_prompt + j` is sample `j` of prompt `p`. For
/// sampled decoding `rngs` holds one stream per row (see [`sample_stream`]), or a single
/// stream that every row draws from in row order; greedy decoding ignores it. `on_event` sees
/// every id and every finished row; it may end unfinished rows early ([`Control`]), which then
/// report [`FinishReason::Stopped`].
///
/// # Errors
/// An empty prompt, a prompt that fills the context, an id outside the vocabulary, invalid
/// sampling parameters, or a number of streams that is neither one nor the number of rows.
pub fn generate_batch(
    model: &Model,
    prompts: &[Vec<u32>],
    samples_per_prompt: usize,
    config: &GenerationConfig,
    rngs: &mut [ChaCha8Rng],
    mut on_event: impl FnMut(Event<'_>) -> Control,
) -> Result<BatchOutput> {
    let n = samples_per_prompt.max(1);
    let rows = prompts.len() * n;
    let mut stats = GenerationStats::default();
    if rows == 0 {
        return Ok(BatchOutput {
            generations: Vec::new(),
            stats,
            supports: Vec::new(),
        });
    }
    let cfg = model.config();
    let context = cfg.max_position_embeddings;
    for (index, prompt) in prompts.iter().enumerate() {
        check_ids(prompt, cfg.vocab_size, || format!("prompt {index}"))?;
        if prompt.is_empty() {
            return Err(InferenceError::EmptyPrompt { index });
        }
        if prompt.len() >= context {
            return Err(InferenceError::PromptTooLong {
                index,
                tokens: prompt.len(),
                context,
            });
        }
    }
    if config.decoding.is_sampled() && rngs.len() != rows && rngs.len() != 1 {
        return Err(InferenceError::StreamCount {
            rows,
            streams: rngs.len(),
        });
    }
    let mut picker = match config.decoding {
        Decoding::Greedy => Picker::Greedy,
        Decoding::Sample(params) => Picker::Filtered(vec![Sampler::new(params)?; rows]),
        Decoding::SampleSorted(params) => {
            params.validate()?;
            Picker::Sorted(params)
        }
    };
    let limit = config.vocab_limit.filter(|&l| l > 0 && l < cfg.vocab_size);
    let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let max_new = config.max_new_tokens.min(context - longest);
    stats.prompt_tokens = prompts.iter().map(Vec::len).sum();
    let mut generations: Vec<Option<Generation>> = vec![None; rows];
    if max_new == 0 {
        let generations = vec![
            Generation {
                ids: Vec::new(),
                finish: FinishReason::Length,
            };
            rows
        ];
        return Ok(BatchOutput {
            generations,
            stats,
            supports: Vec::new(),
        });
    }

    // Prefill: all prompts at once, left-padded to the longest.
    let device = model.device();
    let start = Instant::now();
    let left_pad: Vec<usize> = prompts.iter().map(|p| longest - p.len()).collect();
    let mut flat = Vec::with_capacity(prompts.len() * longest);
    for (prompt, &pad) in prompts.iter().zip(&left_pad) {
        flat.extend(std::iter::repeat_n(0i64, pad));
        flat.extend(prompt.iter().map(|&id| i64::from(id)));
    }
    let capacity = longest + max_new.min(256);
    let mut cache = KvCache::with_left_padding(cfg, left_pad, capacity, &device);
    let tokens =
        Tensor::<2, Int>::from_data(TensorData::new(flat, [prompts.len(), longest]), &device);
    let mut logits = model.forward_cached(tokens, &mut cache); // [prompts, vocab]
    if n > 1 {
        cache = cache.repeat_rows(n);
    }
    // Logits row that active row `a` reads: after the prefill several samples share a row.
    let mut source: Vec<usize> = (0..rows).map(|r| r / n).collect();
    let mut active: Vec<usize> = (0..rows).collect();
    let mut outputs: Vec<Vec<u32>> = vec![Vec::new(); rows];
    let mut decode_start = None;
    let mut stopped_prompts = vec![false; prompts.len()];
    let record = config.record_support && matches!(picker, Picker::Filtered(_));
    let mut supports: Vec<Vec<Vec<u32>>> = vec![Vec::new(); if record { rows } else { 0 }];
    let mut kept = Vec::new();

    loop {
        let next = choose(
            logits,
            limit,
            &source,
            &active,
            &mut picker,
            rngs,
            record.then_some(&mut kept),
        )?;
        if decode_start.is_none() {
            stats.prefill_seconds = start.elapsed().as_secs_f64();
            decode_start = Some(Instant::now());
        }
        let mut stop_all = false;
        let mut keep = Vec::with_capacity(active.len());
        let mut control = |c: Control, row: usize, stop_all: &mut bool| match c {
            Control::Continue => {}
            Control::StopPrompt => stopped_prompts[row / n] = true,
            Control::StopAll => *stop_all = true,
        };
        for (a, (&row, &id)) in active.iter().zip(&next).enumerate() {
            outputs[row].push(id);
            if record {
                supports[row].push(std::mem::take(&mut kept[a]));
            }
            stats.generated_tokens += 1;
            control(on_event(Event::Token { row, id }), row, &mut stop_all);
            let finish = if config.stop_ids.contains(&id) {
                Some(FinishReason::Eos)
            } else if outputs[row].len() >= max_new {
                Some(FinishReason::Length)
            } else {
                None
            };
            match finish {
                Some(finish) => {
                    let generation = generations[row].insert(Generation {
                        ids: std::mem::take(&mut outputs[row]),
                        finish,
                    });
                    let c = on_event(Event::Finished { row, generation });
                    control(c, row, &mut stop_all);
                }
                None => keep.push(a),
            }
        }
        keep.retain(|&a| !stopped_prompts[active[a] / n]);
        if stop_all || keep.is_empty() {
            break;
        }
        if keep.len() < active.len() {
            cache = cache.select_rows(&keep);
        }
        active = keep.iter().map(|&a| active[a]).collect();
        let ids: Vec<i64> = keep.iter().map(|&a| i64::from(next[a])).collect();
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [active.len(), 1]), &device);
        logits = model.forward_cached(tokens, &mut cache);
        source = (0..active.len()).collect();
    }
    stats.decode_seconds = decode_start.map_or(0.0, |t| t.elapsed().as_secs_f64());
    let generations = generations
        .into_iter()
        .zip(outputs)
        .map(|(done, ids)| {
            done.unwrap_or(Generation {
                ids,
                finish: FinishReason::Stopped,
            })
        })
        .collect();
    Ok(BatchOutput {
        generations,
        stats,
        supports,
    })
}

/// How [`choose`] picks the next id of a row.
enum Picker {
    /// The argmax.
    Greedy,
    /// A draw with the row's own [`Sampler`] (one per row).
    Filtered(Vec<Sampler>),
    /// A draw with the sorted sampler.
    Sorted(SortedSampling),
}

/// Chooses the next id of every active row from `logits` (`[rows of source, vocab]`), among
/// the first `limit` ids when given. Sampled rows draw in row order, each from its own stream,
/// or all from `rngs[0]` when only one stream is given. With `kept`, each filtered draw's
/// support goes there, in active-row order (empty when unrestricted).
fn choose(
    logits: Tensor<2>,
    limit: Option<usize>,
    source: &[usize],
    active: &[usize],
    picker: &mut Picker,
    rngs: &mut [ChaCha8Rng],
    mut kept: Option<&mut Vec<Vec<u32>>>,
) -> Result<Vec<u32>> {
    if let Some(k) = kept.as_deref_mut() {
        k.clear();
    }
    let logits = match limit {
        Some(l) => logits.narrow(1, 0, l),
        None => logits,
    };
    let [sources, vocab] = logits.dims();
    if let Picker::Greedy = picker {
        // Greedy: the argmax on the device, only the ids come back.
        let best: Vec<i64> = logits
            .argmax(1)
            .into_data()
            .iter::<i64>()
            .collect::<Vec<_>>();
        debug_assert_eq!(best.len(), sources);
        return Ok(active
            .iter()
            .enumerate()
            .map(|(a, _)| best[source[a]] as u32)
            .collect());
    }
    // Sampled: one [rows, vocab] copy to the host, then each row draws in turn.
    let values = host_f32(logits);
    let shared = rngs.len() == 1;
    Ok(active
        .iter()
        .enumerate()
        .map(|(a, &row)| {
            let s = source[a];
            let logits = &values[s * vocab..(s + 1) * vocab];
            let rng = &mut rngs[if shared { 0 } else { row }];
            match picker {
                Picker::Filtered(samplers) => {
                    let id = samplers[row].sample(logits, rng);
                    if let Some(k) = kept.as_deref_mut() {
                        k.push(samplers[row].last_support().unwrap_or_default());
                    }
                    id
                }
                Picker::Sorted(params) => params.sample(logits, rng),
                Picker::Greedy => unreachable!("greedy rows returned above"),
            }
        })
        .collect())
}

/// Greedy generation without the KV cache: the book's `generate_text_basic` (section 2.6),
/// the baseline of chapter 2's cache comparison. Every step runs the whole sequence so far
/// through the model again and takes the argmax of the last position's logits:
///
/// ```text
/// step k:  logits = f(x₁ … x_{n+k-1})[last]      cost O((n + k)²) attention, O(n + k) per layer
/// ```
///
/// instead of one new position against cached keys and values ([`generate_batch`]). The
/// prompts must have the same length (no padding); every row runs `max_new_tokens` steps
/// unless all rows hit a stop id. The output head is applied to the last position only, so
/// the comparison measures the cache, not the head. Stats: the first step counts as prefill.
///
/// # Errors
/// No prompt, prompts of different or zero length, an id outside the vocabulary, or a
/// sequence that would pass the model's context.
pub fn generate_uncached(
    model: &Model,
    prompts: &[Vec<u32>],
    max_new_tokens: usize,
    stop_ids: &[u32],
) -> Result<BatchOutput> {
    let cfg = model.config();
    let len = prompts.first().map_or(0, Vec::len);
    for (index, p) in prompts.iter().enumerate() {
        check_ids(p, cfg.vocab_size, || format!("prompt {index}"))?;
        if p.is_empty() {
            return Err(InferenceError::EmptyPrompt { index });
        }
        if p.len() != len {
            return Err(InferenceError::InvalidParameter {
                name: "prompts",
                value: format!("lengths {len} and {}", p.len()),
                reason: "uncached generation takes prompts of one length (no padding)",
            });
        }
    }
    if len + max_new_tokens > cfg.max_position_embeddings {
        return Err(InferenceError::PromptTooLong {
            index: 0,
            tokens: len + max_new_tokens,
            context: cfg.max_position_embeddings,
        });
    }
    let rows = prompts.len();
    let device = model.device();
    let mut sequences: Vec<Vec<u32>> = prompts.to_vec();
    let mut finished: Vec<Option<FinishReason>> = vec![None; rows];
    let mut stats = GenerationStats {
        prompt_tokens: rows * len,
        ..GenerationStats::default()
    };
    for step in 0..max_new_tokens {
        if finished.iter().all(Option::is_some) {
            break;
        }
        let started = Instant::now();
        let width = sequences[0].len();
        let flat: Vec<i64> = sequences.iter().flatten().map(|&t| i64::from(t)).collect();
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(flat, [rows, width]), &device);
        let hidden = model.forward_hidden(tokens);
        let last = model
            .logits(hidden.narrow(1, width - 1, 1))
            .reshape([rows, cfg.vocab_size]);
        let best: Vec<i64> = last.argmax(1).into_data().iter::<i64>().collect();
        for (r, seq) in sequences.iter_mut().enumerate() {
            // Finished rows keep a placeholder id so the batch stays rectangular.
            let id = if finished[r].is_some() {
                0
            } else {
                best[r] as u32
            };
            seq.push(id);
            if finished[r].is_none() {
                stats.generated_tokens += 1;
                if stop_ids.contains(&id) {
                    finished[r] = Some(FinishReason::Eos);
                }
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        if step == 0 {
            stats.prefill_seconds += seconds;
        } else {
            stats.decode_seconds += seconds;
        }
    }
    let generations = sequences
        .into_iter()
        .zip(finished)
        .map(|(seq, finish)| {
            let mut ids = seq[len..].to_vec();
            if let Some(end) = ids.iter().position(|id| stop_ids.contains(id)) {
                ids.truncate(end + 1);
            }
            Generation {
                ids,
                finish: finish.unwrap_or(FinishReason::Length),
            }
        })
        .collect();
    Ok(BatchOutput {
        generations,
        stats,
        supports: Vec::new(),
    })
}

/// Reads a float tensor into a host vector of f32 (converting only if it is not f32 already).
pub(crate) fn host_f32<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .unwrap_or_else(|e| panic!("a float tensor reads as f32: {e}"))
}

/// Checks that every id is below `vocab_size`.
pub(crate) fn check_ids(ids: &[u32], vocab_size: usize, what: impl Fn() -> String) -> Result<()> {
    match ids.iter().find(|&&id| id as usize >= vocab_size) {
        Some(&id) => Err(InferenceError::TokenOutOfRange {
            what: what(),
            id,
            vocab_size,
        }),
        None => Ok(()),
    }
}
