//! The crate's error type: every variant names the file, key, field or id it is about.

use std::path::PathBuf;

/// Errors from loading a tokenizer, encoding, decoding or rendering a chat template.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A folder was given but it holds no `tokenizer.json`.
    #[error("{path}: no tokenizer.json in this folder")]
    NoTokenizerJson {
        /// The folder.
        path: PathBuf,
    },
    /// A JSON file is not valid JSON, or a field has the wrong type.
    #[error("{path}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The `tokenizers` crate rejected a `tokenizer.json` or the pipeline built from a GGUF file.
    #[error("{path}: cannot build the tokenizer: {message}")]
    Build {
        /// The `tokenizer.json` or `.gguf` file.
        path: PathBuf,
        /// The `tokenizers` crate's message.
        message: String,
    },
    /// The GGUF file itself could not be read.
    #[error(transparent)]
    Gguf(#[from] reasoning_gguf::GgufError),
    /// A GGUF tokenizer key is missing, has the wrong type or holds a value this crate does not
    /// support.
    #[error("{path}: GGUF key {key:?}: {reason}")]
    GgufKey {
        /// The `.gguf` file.
        path: PathBuf,
        /// The metadata key, e.g. `tokenizer.ggml.tokens`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A chat template does not compile (Jinja syntax error).
    #[error("chat template from {origin} does not compile: {message}")]
    TemplateSyntax {
        /// Where the template came from: file and key.
        origin: String,
        /// The template engine's message, with the line.
        message: String,
    },
    /// A chat template compiled but failed while rendering (e.g. `raise_exception`).
    #[error("chat template from {origin} failed to render: {message}")]
    TemplateRender {
        /// Where the template came from: file and key.
        origin: String,
        /// The template engine's message, with the line.
        message: String,
    },
    /// [`apply_chat_template`](crate::Tokenizer::apply_chat_template) was called on a tokenizer
    /// loaded without one.
    #[error(
        "{origin} has no chat template (load the folder holding tokenizer_config.json, or a GGUF file with tokenizer.chat_template)"
    )]
    NoChatTemplate {
        /// The file the tokenizer was loaded from.
        origin: String,
    },
    /// The `tokenizers` pipeline failed on a text.
    #[error("cannot encode text with the tokenizer from {origin}: {message}")]
    Encode {
        /// The file the tokenizer was loaded from.
        origin: String,
        /// The `tokenizers` crate's message.
        message: String,
    },
    /// An id passed to a decoder is not in the vocabulary.
    #[error("token id {id} is not in the vocabulary of {origin} ({vocab_size} ids)")]
    UnknownId {
        /// The offending id.
        id: u32,
        /// The number of ids the tokenizer knows.
        vocab_size: usize,
        /// The file the tokenizer was loaded from.
        origin: String,
    },
}

/// Result alias for this crate.
pub type Result<T, E = TokenizerError> = std::result::Result<T, E>;
