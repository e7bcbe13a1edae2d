//! The error type of the arithmetic task crate.

use std::path::PathBuf;

use crate::task::NUM_LEVELS;

/// Everything that can go wrong generating the task, building the tiny model or measuring it.
#[derive(Debug, thiserror::Error)]
pub enum ArithError {
    /// A level outside `1..=NUM_LEVELS` was requested.
    #[error("arithmetic level {0} does not exist (levels are 1..={NUM_LEVELS})")]
    BadLevel(u8),
    /// The level weights cannot be sampled from.
    #[error("level weights {0:?} must be finite, non-negative and not all zero")]
    BadWeights([f64; NUM_LEVELS]),
    /// The generator could not find enough distinct problems.
    #[error(
        "could only make {made} distinct problems for split {split:?} of {wanted}; the task space is too small for this size"
    )]
    TooFewProblems {
        /// The split being filled.
        split: &'static str,
        /// How many distinct problems were made.
        made: usize,
        /// How many were requested.
        wanted: usize,
    },
    /// SFT examples or the training loop failed.
    #[error(transparent)]
    Distill(#[from] reasoning_distill::DistillError),
    /// Training state could not be written (checkpoints, JSON files).
    #[error(transparent)]
    Train(#[from] reasoning_train::TrainError),
    /// The model could not be saved.
    #[error(transparent)]
    Model(#[from] reasoning_model::ModelError),
    /// Generating with the model failed (measurements).
    #[error(transparent)]
    Inference(#[from] reasoning_inference::InferenceError),
    /// Tokenizing or rendering a chat template failed.
    #[error(transparent)]
    Tokenizer(#[from] reasoning_tokenizer::TokenizerError),
    /// Training the BPE tokenizer failed.
    #[error("tokenizer training: {0}")]
    TokenizerTraining(String),
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
    /// A setting is out of range; the message names it.
    #[error("invalid setting: {0}")]
    Config(String),
}

impl ArithError {
    /// Builds an [`ArithError::Io`] for `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ArithError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
