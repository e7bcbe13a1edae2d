//! Tokenization for reasoning models: text to token ids and back, special tokens, chat
//! templates with Qwen3's thinking mode, and streaming decode (book chapter 2).
//!
//! A language model reads and writes integers. The tokenizer fixes the vocabulary of those
//! integers and the way text is cut into them; a model is only correct with its own tokenizer,
//! byte for byte. This crate loads the tokenizer of a Hugging Face model folder
//! (`tokenizer.json`, as the book's Qwen3 uses) or of a GGUF file (llama.cpp's format, as the
//! SmolLM2 test model uses) behind one [`Tokenizer`] type.
//!
//! # Byte-level BPE
//!
//! Qwen3, SmolLM2, GPT-2 and Llama 3 all use byte-level byte-pair encoding:
//!
//! ```text
//! 1. split specials   "<|im_start|>user\n12 apples"  ->  [<|im_start|>] "user\n12 apples"
//! 2. pre-tokenize     regexes cut the rest into words: "user" "\n" "1" "2" " apples"
//! 3. bytes -> symbols each UTF-8 byte b becomes one printable character u(b);
//!                     u(' ') = 'Ġ', u('\n') = 'Ċ', printable ASCII maps to itself
//! 4. merge            repeatedly join the adjacent pair (a, b) with the lowest rank r(a, b)
//!                     in the merge list, until no pair of the word is in the list
//! 5. look up          id = vocab[symbol]
//! ```
//!
//! Here `r(a, b)` is the pair's position in the merge list (the order in which training
//! created the merges). Because every byte has a symbol, any text encodes without an
//! unknown token, and decoding is the inverse: symbols to bytes, bytes to UTF-8. The
//! pre-tokenizer regexes differ between models and matter: Qwen3 and SmolLM2 give every digit
//! its own piece (`"2025"` -> `2 0 2 5`), Llama 3 groups up to three digits.
//!
//! # Special tokens
//!
//! Control tokens such as `<|im_start|>`, `<|im_end|>` and `<|endoftext|>` are matched in the
//! text before pre-tokenization and become one id each; they are never split into pieces.
//! Qwen3's `<think>` and `</think>` are added (non-special) tokens: also matched whole, but
//! kept when decoding with `skip_special`. Generation stops at one of
//! [`Tokenizer::eos_token_ids`] (the rule is documented there).
//!
//! # Chat templates and thinking mode
//!
//! Chat models are trained on conversations in a fixed layout (ChatML for Qwen3 and SmolLM2);
//! the layout ships with the model as a Jinja template, rendered here with `minijinja` exactly
//! as transformers renders it ([`template`]). Qwen3's template has a thinking switch:
//!
//! ```text
//! enable_thinking unset / true:   ...<|im_start|>assistant\n              model writes <think>...
//! enable_thinking = false:        ...<|im_start|>assistant\n<think>\n\n</think>\n\n   answer directly
//! ```
//!
//! # Modules
//!
//! - [`Tokenizer`]: loading, `encode`, `decode`, special ids, chat templates.
//! - [`template`]: [`ChatMessage`], [`ChatOptions`], [`ChatTemplate`]: Jinja rendering as in
//!   transformers (Python string methods, `raise_exception`, `tojson`).
//! - [`gguf`]: how a GGUF vocabulary becomes the same `tokenizers` pipeline a `tokenizer.json`
//!   describes, with llama.cpp's pre-tokenizer for each `tokenizer.ggml.pre`.
//! - [`stream`]: [`StreamDecoder`], incremental decoding that never splits a character.
//! - [`TokenizerError`]: every error names the file, key, field or id.
//!
//! # Verified against
//!
//! Token ids of tricky strings (digits, LaTeX, code, emoji, CJK, special tokens in text,
//! whitespace runs) equal Python `tokenizers` for Qwen3 and llama.cpp for the SmolLM2 GGUF;
//! rendered chat prompts equal transformers' `apply_chat_template`. The fixtures and how to
//! regenerate them are described in `docs/tokenizer.md`.
//!
//! # Example
//!
//! ```no_run
//! use reasoning_tokenizer::{ChatMessage, ChatOptions, Tokenizer};
//!
//! let tok = Tokenizer::load("shared/qwen3")?; // or a tokenizer.json, or a .gguf file
//! let ids = tok.encode_chat(
//!     &[ChatMessage::user("What is 12 * 7?")],
//!     &ChatOptions::generation().thinking(false),
//! )?;
//! // ... generate ids with a model, stopping at tok.eos_token_ids() ...
//! let mut stream = tok.stream_decoder(true);
//! for &id in &ids {
//!     if let Some(piece) = stream.step(id)? {
//!         print!("{piece}");
//!     }
//! }
//! # Ok::<(), reasoning_tokenizer::TokenizerError>(())
//! ```
//!
//! # Cargo features
//!
//! None. `tokenizers` is built without its C dependencies (`fancy-regex` instead of Oniguruma).

#![deny(missing_docs)]

mod error;
pub mod gguf;
mod hf;
pub mod stream;
pub mod template;
mod tokenizer;

pub use error::{Result, TokenizerError};
pub use stream::StreamDecoder;
pub use template::{ChatMessage, ChatOptions, ChatTemplate};
pub use tokenizer::Tokenizer;
