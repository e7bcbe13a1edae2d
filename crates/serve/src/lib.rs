//! Serving (the book's appendix G): an OpenAI-compatible HTTP server with continuous batching,
//! a browser chat, and a client for any OpenAI-compatible server.
//!
//! The book serves its model as a Chainlit chat page. Here one binary serves the same chat at
//! `GET /` and, beside it, the API every LLM client speaks (OpenAI's): `POST
//! /v1/chat/completions` (multi-turn, streaming, `n` choices sharing one prefill, seeds,
//! stop strings, log-probabilities, Qwen3's think block as `reasoning_content`), `POST
//! /v1/completions`, `GET /v1/models`, `GET /health`, `GET /metrics` (Prometheus).
//!
//! ```text
//! HTTP handlers (tokio)          engine thread (owns the model)
//!   check, render the chat  ──►  queue ─► prefill newcomers ─► join the batch (KvCache::concat)
//!   stream events as SSE    ◄──  one decode step for every running choice, each drawn
//!   cut at stop strings,         from its own sampler and seeded stream; finished or
//!   split <think> … </think>     abandoned rows leave (select_rows, trim_padding)
//! ```
//!
//! **Continuous batching.** Requests do not wait for each other: newcomers are prefilled
//! (together, left-padded, when several arrived) and join the running batch between two
//! decode steps, and a finished, stopped
//! or disconnected choice leaves it before the next. The batch holds at most `max_batch`
//! choices; up to `max_queue` more requests wait; beyond that the server answers 429 with
//! `Retry-After`.
//!
//! **Departures from OpenAI's API.** `top_k` and `chat_template_kwargs.enable_thinking` are
//! vLLM's extensions; `return_token_ids: true` (for RL trainers, as vLLM's field of that
//! name) adds `prompt_token_ids` and each choice's `token_ids` and `token_logprobs` (each
//! sampled token's log-probability at temperature 1 over the whole vocabulary: what a trainer
//! compares its own against). Tools, images and `response_format` are not implemented.
//!
//! ```no_run
//! use reasoning_inference::LoadedModel;
//! use reasoning_model::{DType, Device};
//! use reasoning_serve::{ServeConfig, client::{ChatSettings, Client}, start};
//!
//! let lm = LoadedModel::load("models/tiny-arith", None, &Device::flex(), DType::F32)?;
//! let server = start(lm, ServeConfig { port: 0, ..ServeConfig::default() }, false)?;
//! let client = Client::new(format!("{}/v1", server.url()), "tiny-arith");
//! let reply = client.chat(&[("user", "What is 12 + 7?")], &ChatSettings::default())?;
//! println!("{}", reply.content);
//! server.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod api;
pub mod client;
pub mod engine;
pub mod metrics;
pub mod reply;
mod server;

pub use server::{RunningServer, ServeConfig, ServeError, start};
