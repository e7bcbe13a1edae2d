//! [`InferenceError`]: every failure names the thing (model, prompt, parameter, file, line).

use std::path::PathBuf;

use thiserror::Error;

/// Why generation, scoring, loading or an evaluation log failed.
#[derive(Debug, Error)]
pub enum InferenceError {
    /// The model could not be resolved or loaded.
    #[error(transparent)]
    Model(#[from] reasoning_model::ModelError),
    /// The tokenizer could not be loaded, or failed on a text.
    #[error(transparent)]
    Tokenizer(#[from] reasoning_tokenizer::TokenizerError),
    /// A dataset could not be read.
    #[error(transparent)]
    Dataset(#[from] reasoning_verifier::datasets::DatasetError),
    /// A prompt has no tokens: there is nothing to continue.
    #[error("prompt {index} is empty: generation needs at least one token")]
    EmptyPrompt {
        /// Position of the prompt in the batch.
        index: usize,
    },
    /// A prompt fills the model's whole context window.
    #[error(
        "prompt {index} has {tokens} tokens, but the model's context (max_position_embeddings) \
         is {context}: no room left to generate"
    )]
    PromptTooLong {
        /// Position of the prompt in the batch.
        index: usize,
        /// Its length in tokens.
        tokens: usize,
        /// The model's context length.
        context: usize,
    },
    /// A token id is not below the model's vocabulary size.
    #[error("{what} holds token id {id}, but the model's vocabulary has {vocab_size} ids")]
    TokenOutOfRange {
        /// Which sequence (e.g. "prompt 2", "continuation 0").
        what: String,
        /// The id.
        id: u32,
        /// The model's `vocab_size`.
        vocab_size: usize,
    },
    /// The tokenizer knows ids the model has no embedding for.
    #[error(
        "the tokenizer of {model} has {tokenizer_vocab} ids, more than the model's {model_vocab}: \
         they do not belong together"
    )]
    VocabMismatch {
        /// The model's display name.
        model: String,
        /// `Tokenizer::vocab_size`.
        tokenizer_vocab: usize,
        /// `Config::vocab_size`.
        model_vocab: usize,
    },
    /// A `.pth` checkpoint holds weights only, and no tokenizer was given or found beside it.
    #[error(
        "{model}: a .pth checkpoint holds no tokenizer and there is no tokenizer.json beside it; \
         give the tokenizer's folder (tokenizer.json, tokenizer_config.json) or file explicitly \
         (`--tokenizer` in `cargo xtask`)"
    )]
    NoTokenizer {
        /// The checkpoint.
        model: std::path::PathBuf,
    },
    /// A configuration was given for a checkpoint that carries its own.
    #[error(
        "{model}: only a .pth checkpoint takes a configuration; HF folders and GGUF files carry \
         their own"
    )]
    ConfigNotApplicable {
        /// The model spec.
        model: String,
    },
    /// A sampling or strategy parameter is out of its domain.
    #[error("{name} = {value} is invalid: {reason}")]
    InvalidParameter {
        /// The parameter, e.g. `top_p`.
        name: &'static str,
        /// Its value, as given.
        value: String,
        /// What is allowed.
        reason: &'static str,
    },
    /// The number of random streams does not match the number of sequences.
    #[error("sampling {rows} sequences needs {rows} random streams, got {streams}")]
    StreamCount {
        /// Sequences to generate.
        rows: usize,
        /// Streams given.
        streams: usize,
    },
    /// A records file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// "read", "append to", ...
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A complete line of a records file is not a valid record.
    #[error("{path}:{line}: not a valid record: {message}")]
    BadRecord {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Results of this crate.
pub type Result<T, E = InferenceError> = std::result::Result<T, E>;
