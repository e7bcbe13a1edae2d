//! Generation, sampling, batching, log-probability scoring and inference-time scaling: the
//! companion of *Build a Reasoning Model (From Scratch)* chapters 2, 4 and 5 (and the batched
//! generation of appendix E).
//!
//! A language model gives, for every prefix, a distribution over the next token. This crate
//! turns that into text (chapter 2: greedy decoding with a KV cache), into varied text (chapter
//! 4: temperature, top-p, top-k, min-p), into scores of given text (chapter 5: log-probabilities),
//! and into better answers by spending more compute per problem (chapters 4-5: self-consistency,
//! best-of-N, self-refinement).
//!
//! # The equations
//!
//! ```text
//! greedy          t = argmax_i z_i                        z: the logits of the next token
//! temperature     p_i = exp(z_i / T) / Σ_j exp(z_j / T)
//! top-p           keep token (r) of the descending order iff Σ_{s<r} p_(s) < p  (first kept)
//! top-k           keep the k largest p_i
//! min-p           keep p_i ≥ min_p · max_j p_j
//! log-prob score  log p(a | x) = Σ_t log softmax(z_t)[a_t];   mean: divide by |a|
//! heuristic       H(a) = 2·[boxed] | 1·[number] + 1.5 · exp(-chars(a) / 500)
//! vote            answer = argmax_k |{i : key(a_i) = k}|, none on a tie
//! weighted vote   answer = argmax_k Σ_{key(a_i) = k} exp(mean log-prob of a_i)  (not in the book)
//! ```
//!
//! `x` is the prompt, `a` an answer with tokens `a_t`, `T` the temperature, `key` the
//! verifier's canonical answer key. Each module's docs define its terms and say where it
//! departs from the book.
//!
//! # What is implemented, and how it departs from the book
//!
//! - Generation keeps the stop id as the last generated id and does no model pass after the
//!   last token; the text is the book's ([`generate()`]).
//! - Batches: left padding with per-row RoPE positions, each row stops on its own and is then
//!   dropped from the KV cache; N samples of one prompt share one prefill. Greedy batched
//!   output equals unbatched output (tested on tiny random models and on SmolLM2-135M).
//! - Randomness: one [`rand_chacha::ChaCha8Rng`] stream per sample, derived from a base seed,
//!   problem index and sample index ([`generate::sample_stream`]); a sample's text does not
//!   depend on its batch. The book reseeds torch's global generator with `seed + i + 1`.
//! - Sampling filters run on the host on one `[rows, vocab]` copy of the logits per step, with
//!   a linear-time selection instead of a full sort ([`sampling`]).
//! - Log-probabilities score the exact generated ids rather than re-tokenized text ([`score`]).
//! - Votes group equivalent answers (`0.5` and `\frac12`) with the verifier's key ([`vote`]).
//!
//! # Modules
//!
//! - [`load`]: [`LoadedModel`], a model spec (folder, `.gguf`, hub id) to model + tokenizer.
//! - [`prompt`]: [`PromptBuilder`], problem → book/CoT prompt → chat template → ids.
//! - [`sampling`]: [`SamplingParams`], [`Decoding`], the reference filters, the [`Sampler`]
//!   and the plain [`SortedSampling`].
//! - [`generate`](mod@generate): [`generate()`] and [`generate_batch`]: KV-cache decoding,
//!   streaming, batches, shared prefill, [`GenerationStats`].
//! - [`score`]: [`score_continuations`], [`sequence_logprobs`] (the book's
//!   `calc_next_token_logprobas`), [`avg_logprob_answer`], [`heuristic_score`].
//! - [`vote`]: [`majority_vote`] and early-stop checks.
//! - [`scaling`]: [`sample_responses`] (rollouts), [`self_consistency`], [`best_of_n`],
//!   [`self_refine`], [`greedy_batch`]; the `_batch` variants run several problems at once
//!   with the same per-problem results.
//! - [`eval`]: resumable evaluation runs: [`RecordLog`], [`evaluate`], [`EvalRecord`]; the
//!   trainers' held-out accuracy, [`evaluate_greedy`].
//! - [`stats`]: peak resident memory.
//!
//! # Example
//!
//! ```no_run
//! use std::ops::ControlFlow;
//! use reasoning_inference::{generate, GenerationConfig, LoadedModel, PromptBuilder};
//! use reasoning_model::{DType, DeviceSpec};
//!
//! let device = DeviceSpec::Cpu.device()?;
//! let lm = LoadedModel::load("SmolLM2-135M-Instruct.Q4_1.gguf", None, &device, DType::F32)?;
//! let prompt = PromptBuilder::default().problem_ids(&lm.tokenizer, "What is 12 * 7?")?;
//! let config = GenerationConfig::greedy(256, &lm.stop_ids());
//! let mut stream = lm.tokenizer.stream_decoder(true);
//! let (generation, stats) = generate(&lm.model, &prompt, &config, None, |id| {
//!     if let Ok(Some(piece)) = stream.step(id) {
//!         print!("{piece}");
//!     }
//!     ControlFlow::Continue(())
//! })?;
//! println!("\n{} tokens, {:.1} tokens/s", generation.ids.len(), stats.decode_tokens_per_s(1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Speed on the CPU
//!
//! The CPU backend computes on rayon's global pool. Called from a thread outside the pool (a
//! program's main thread), every parallel op is handed to the pool and waited for, a round
//! trip of several microseconds that a decode step makes a few hundred times; called from
//! inside it, the same op is a fork-join that the calling thread takes part in. Running the
//! work inside [`reasoning_model::runtime::in_pool`] (as `cargo xtask`'s inference commands
//! do) made batch-1 decoding 6-17% faster for SmolLM2-135M in f32 and Qwen3-0.6B in bf16
//! (Qwen3-0.6B in f32, at the bandwidth limit already, unchanged) and a bf16 prefill 7-8%
//! (docs/performance-history.md, step 22), with the same results. Calling
//! [`reasoning_model::runtime::tune_allocator`] first thing in `main` keeps glibc from mapping
//! and zeroing fresh pages for every tensor (+3-25% prefill tokens/s):
//!
//! ```no_run
//! use reasoning_inference::{GenerationConfig, LoadedModel, PromptBuilder, generate};
//! use reasoning_model::runtime::{in_pool, tune_allocator};
//! use reasoning_model::{DType, DeviceSpec};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//!     tune_allocator();
//!     in_pool(|| {
//!         let device = DeviceSpec::Cpu.device()?;
//!         let lm = LoadedModel::load("SmolLM2-135M-Instruct.Q4_1.gguf", None, &device, DType::F32)?;
//!         let prompt = PromptBuilder::default().problem_ids(&lm.tokenizer, "What is 12 * 7?")?;
//!         let config = GenerationConfig::greedy(256, &lm.stop_ids());
//!         let (generation, _) = generate(&lm.model, &prompt, &config, None, |_| {
//!             std::ops::ControlFlow::Continue(())
//!         })?;
//!         println!("{}", lm.tokenizer.decode(&generation.ids, true)?);
//!         Ok(())
//!     })
//! }
//! ```
//!
//! # Cargo features
//!
//! None. Devices are chosen at run time through `reasoning_model::DeviceSpec`.

#![deny(missing_docs)]

pub mod error;
pub mod eval;
pub mod generate;
pub mod load;
pub mod prompt;
pub mod sampling;
pub mod scaling;
pub mod score;
pub mod stats;
pub mod vote;

pub use error::{InferenceError, Result};
pub use eval::{EvalRecord, EvalSummary, GreedyEval, RecordLog, evaluate, evaluate_greedy};
pub use generate::{
    BatchOutput, Control, Event, FinishReason, Generation, GenerationConfig, GenerationStats,
    generate, generate_batch, generate_uncached, sample_stream, splitmix64,
};
pub use load::LoadedModel;
pub use prompt::{FittedChat, PromptBuilder, PromptFormat, PromptStyle, fit_chat};
pub use sampling::{Decoding, Sampler, SamplingParams, SortedSampling};
pub use scaling::{
    BestOfNResult, Response, Scorer, SelfConsistencyConfig, SelfConsistencyResult,
    SelfRefineConfig, SelfRefineResult, best_of_n, best_of_n_batch, greedy_batch, sample_responses,
    score_responses, self_consistency, self_consistency_batch, self_refine, self_refine_batch,
};
pub use score::{
    ContinuationScore, avg_logprob_answer, heuristic_score, score_continuations,
    score_continuations_batch, sequence_logprobs,
};
pub use vote::{Vote, VoteRule, majority_vote};
