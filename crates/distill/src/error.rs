//! The error type of the distillation crate.

use std::path::PathBuf;

/// Everything that can go wrong building SFT data, training or evaluating.
#[derive(Debug, thiserror::Error)]
pub enum DistillError {
    /// Training failed (non-finite loss, checkpoint or metrics I/O, bad optimizer setting).
    #[error(transparent)]
    Train(#[from] reasoning_train::TrainError),
    /// The model could not be loaded or saved.
    #[error(transparent)]
    Model(#[from] reasoning_model::ModelError),
    /// Generating or scoring with a model failed (teacher sampling, held-out evaluation).
    #[error(transparent)]
    Inference(#[from] reasoning_inference::InferenceError),
    /// Tokenizing or rendering a chat template failed.
    #[error(transparent)]
    Tokenizer(#[from] reasoning_tokenizer::TokenizerError),
    /// A data file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A record or example is malformed; the message names it.
    #[error("{0}")]
    Data(String),
    /// A remote teacher (an OpenAI-compatible server) failed; the message names it.
    #[error("the teacher failed: {0}")]
    Teacher(String),
    /// A setting is out of range; the message names it.
    #[error("invalid setting: {0}")]
    Config(String),
}

impl DistillError {
    /// Builds a [`DistillError::Io`] for `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DistillError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
