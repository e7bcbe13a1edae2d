//! [`GrpoError`]: every failure names the thing (setting, record, rollout, file).

use thiserror::Error;

/// Everything that can go wrong while sampling rollouts, scoring them or training on them.
#[derive(Debug, Error)]
pub enum GrpoError {
    /// Generation, scoring or evaluation failed in the inference crate.
    #[error(transparent)]
    Inference(#[from] reasoning_inference::InferenceError),
    /// Training utilities failed: a non-finite loss or gradient, checkpoint or metrics I/O.
    #[error(transparent)]
    Train(#[from] reasoning_train::TrainError),
    /// The model could not be saved or loaded.
    #[error(transparent)]
    Model(#[from] reasoning_model::ModelError),
    /// Tokenizing a prompt or decoding a completion failed.
    #[error(transparent)]
    Tokenizer(#[from] reasoning_tokenizer::TokenizerError),
    /// A setting is out of range.
    #[error("invalid setting {name} = {value}: {reason}")]
    Config {
        /// The setting.
        name: &'static str,
        /// Its value, as text.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A preset name is unknown.
    #[error("unknown GRPO preset {name:?}; known presets: {known}")]
    UnknownPreset {
        /// The name asked for.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// A data record cannot be used (empty prompt, prompt longer than the context, ...).
    #[error("record {index} ({id}): {message}")]
    Record {
        /// Position of the record in its split (0-based).
        index: usize,
        /// Its `unique_id`, or `-`.
        id: String,
        /// What is wrong.
        message: String,
    },
    /// A reward function failed or returned an unusable value.
    #[error("reward {reward:?} on rollout {rollout}: {message}")]
    Reward {
        /// The reward's name.
        reward: String,
        /// Index of the rollout in its step.
        rollout: usize,
        /// What went wrong.
        message: String,
    },
    /// A run folder file (samples, evaluation records) could not be written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl GrpoError {
    /// Builds a [`GrpoError::Config`].
    pub fn config(name: &'static str, value: impl ToString, reason: impl Into<String>) -> Self {
        GrpoError::Config {
            name,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// Builds a [`GrpoError::Io`].
    pub fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        GrpoError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = GrpoError> = std::result::Result<T, E>;
