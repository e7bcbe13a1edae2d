//! The Qwen3 decoder of *Build a Reasoning Model (From Scratch)*, chapter 2, on burn; the same
//! code runs Llama-family checkpoints such as SmolLM2.
//!
//! A decoder-only transformer maps token ids to next-token logits. Each of its blocks mixes
//! information across positions with causal self-attention and then transforms each position
//! with a feed-forward network; both sit behind an RMSNorm and add their output to the residual
//! stream:
//!
//! ```text
//! h⁰ = E[tokens]
//! a^l = h^(l-1) + Attn(RMSNorm(h^(l-1)))                       l = 1 .. num_hidden_layers
//! h^l = a^l + W_down (silu(W_gate x) ⊙ W_up x),  x = RMSNorm(a^l)
//! logits = RMSNorm(h^L) · Eᵀ        (tied head; an untied model uses its own W_out)
//!
//! RMSNorm(x) = x / sqrt(mean(x²) + ε) ⊙ w
//! Attn: q = rope(norm_q(W_q x)), k = rope(norm_k(W_k x)), v = W_v x, per head;
//!       out = W_o concat_h softmax(q_h k_gᵀ / √d_head + causal mask) v_g
//! ```
//!
//! **Qwen3 and Llama.** Both use RMSNorm, rotary position embeddings (RoPE, split-halves
//! convention), grouped-query attention (several query heads share one key/value head) and a
//! SwiGLU feed-forward block. Qwen3 adds QK-norm: an RMSNorm over each query and key head before
//! RoPE, which keeps attention logits bounded. Qwen3 also decouples the head width from the
//! model width (`head_dim` 128 for every size, so Qwen3-0.6B projects its 1024-wide stream to
//! 16 × 128 = 2048 query features) and uses θ = 10⁶. SmolLM2-135M is a plain Llama: no QK-norm,
//! 9 query and 3 K/V heads of width 64, θ = 10⁵, ε = 10⁻⁵, tied embeddings.
//!
//! **KV cache.** Generating token `t + 1` needs the keys and values of tokens `1 .. t`, which
//! do not change. [`KvCache`] keeps them, so after one *prefill* pass over the prompt each new
//! token costs one pass over one position ([`Model::forward_cached`]). The cache is a value the
//! caller owns; it handles batches of prompts of different lengths through left padding, can
//! fan one prompt out to N samples ([`KvCache::repeat_rows`]) and drop finished rows
//! ([`KvCache::select_rows`]). Cached decoding equals the full forward pass (tested).
//!
//! **How this departs from the book.** The book keeps the cache as a growing list of
//! concatenated tensors and repeats K/V for every query head (`repeat_interleave`); here the
//! cache is pre-allocated and written in place, and the query heads of a group are stacked so
//! each K/V head is multiplied once, without copies. Numbers are identical up to float
//! rounding; the fixtures check logits against HF transformers to 1e-4.
//!
//! # Modules
//! - [`config`]: [`Config`] from HF `config.json`, GGUF metadata or presets
//!   ([`Config::qwen3_0_6b`], ..., [`Config::smollm2_135m`]).
//! - [`model`]: the decoder: [`Model`], blocks, attention, SwiGLU, RMSNorm.
//! - [`rope`]: rotary position embedding tables and rotation.
//! - [`cache`]: [`KvCache`], pre-allocated per-layer keys/values with left padding.
//! - [`weights`]: seeded initialisation and checked loading by tensor name.
//! - [`hf`]: HF safetensors folders (single file or sharded), reading and atomic writing.
//! - [`gguf`]: llama.cpp GGUF files (`llama`, `qwen3`), name mapping and RoPE row order.
//! - [`pth`]: the book's own `.pth` checkpoints (`torch.save(model.state_dict())` of its
//!   `Qwen3Model`), parsed without running their pickle code, names mapped to HF's.
//! - [`hub`]: local paths or hub ids; downloads into the HF cache.
//! - [`device`]: [`DeviceSpec`], `cpu`/`ndarray`/`wgpu` parsed from a string.
//! - [`dtype`]: [`DType`], f32 or bf16 weights.
//!
//! Outside the chapter, for speed on the CPU (see below):
//! - [`kernels`]: the CPU fast path, hand-written kernels on burn-flex that a private ops layer
//!   (`ops.rs`) tries before burn's ops: decoding and prefill products, fused attention,
//!   softmax, SwiGLU and RoPE for inference, training operations with their backward passes
//!   ([`kernels::autodiff`]); one file per kind of kernel under `kernels/`.
//! - [`runtime`]: process set-up every program wants for that speed: glibc's allocator tuned
//!   for tensor work ([`runtime::tune_allocator`]) and inference inside rayon's pool
//!   ([`runtime::in_pool`]).
//!
//! # Example
//! ```no_run
//! use burn::tensor::{Int, Tensor, TensorData};
//! use reasoning_model::{DType, DeviceSpec, KvCache, Model};
//!
//! let device = DeviceSpec::Cpu.device()?;
//! let model = Model::load("SmolLM2-135M-Instruct.Q4_1.gguf".as_ref(), &device, DType::F32)?;
//! let prompt = vec![1i64, 504, 3458, 314];
//! let tokens = Tensor::<2, Int>::from_data(TensorData::new(prompt.clone(), [1, prompt.len()]), &device);
//! let mut cache = KvCache::new(model.config(), 1, 256, &device);
//! let mut logits = model.forward_cached(tokens, &mut cache); // [1, vocab]
//! for _ in 0..8 {
//!     let next = logits.argmax(1); // [1, 1], greedy
//!     logits = model.forward_cached(next, &mut cache);
//! }
//! # Ok::<(), reasoning_model::ModelError>(())
//! ```
//!
//! # Cargo features
//! - `wgpu`: adds the burn-wgpu backend (`DeviceSpec::Wgpu`); no bf16 there.
//! - `ndarray`: adds the (deprecated) burn-ndarray backend (`DeviceSpec::Ndarray`); f32 only.
//!
//! Both rebuild burn (15-20 minutes); the default build has burn-flex, the CPU backend.
//!
//! # Speed on the CPU
//! The forwards are written once, with burn's tensor ops, as the equations above read. Each op
//! goes through a private ops layer that first offers it to the CPU fast path, [`kernels`]:
//! on burn-flex, inference runs its products, attention, softmax, SwiGLU gate and RoPE on
//! hand-written parallel kernels (a bf16 model keeps its activations in f32 between the
//! products), and training at SmolLM2's widths and up runs its large products, the
//! log-softmax at the targets ([`Model::target_log_probs`]), the attention softmax, the SwiGLU
//! gate and RMSNorm as burn-autodiff operations with hand-written backward passes. Every other
//! case, every other backend, and everything when the environment variable
//! `REASONING_KERNELS=burn` is set, runs burn's own ops. The [`kernels`] page lists each
//! kernel and when it applies; measurements: `docs/performance.md`. A program gets the rest of
//! the speed from [`runtime`]: call [`runtime::tune_allocator`] first thing in `main` and run
//! inference inside [`runtime::in_pool`].

#![deny(missing_docs)]

pub mod cache;
pub mod config;
pub mod device;
pub mod dtype;
pub mod error;
pub mod gguf;
pub mod hf;
pub mod hub;
pub mod kernels;
pub mod model;
mod ops;
pub mod pth;
pub mod rope;
pub mod runtime;
pub mod weights;

pub use cache::KvCache;
pub use config::{Architecture, Config};
pub use device::DeviceSpec;
pub use dtype::DType;
pub use error::{ModelError, Result};
pub use hub::ModelPath;
pub use model::Model;

/// The burn device type, re-exported so callers need not depend on burn for it.
pub use burn::tensor::Device;
