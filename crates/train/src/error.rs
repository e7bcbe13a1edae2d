//! The error type of the training utilities.

use std::path::PathBuf;

/// Everything that can go wrong while training, checkpointing or logging.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A loss, gradient norm or other training value was NaN or infinite.
    #[error(
        "non-finite {what} ({value}) at step {step}; training stopped, the last checkpoint is the last good state"
    )]
    NonFinite {
        /// What was measured (`loss`, `gradient norm`, ...).
        what: &'static str,
        /// The optimizer step at which it happened.
        step: u64,
        /// The offending value.
        value: f64,
    },
    /// A file or folder could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was attempted (`write`, `read`, `rename`, ...).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A saved file (parameters, optimizer state, checkpoint, metrics) is malformed or does not
    /// fit the model.
    #[error("{path}: {message}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the tensor, field or line.
        message: String,
    },
    /// A training setting is out of range.
    #[error("invalid {what}: {message}")]
    Config {
        /// The setting.
        what: &'static str,
        /// Why it is invalid.
        message: String,
    },
    /// The model could not be saved or loaded by its own format (e.g. HF layout).
    #[error("model {path}: {message}")]
    Model {
        /// The model folder.
        path: PathBuf,
        /// The model crate's error, as text.
        message: String,
    },
    /// The ranks of a data-parallel run disagree (configuration, weights, data), or their
    /// transport failed ([`crate::collective`]).
    #[error("data-parallel run: {message}")]
    Ranks {
        /// What differs, naming the ranks.
        message: String,
    },
    /// Drawing a plot failed.
    #[error("plot {path}: {message}")]
    Plot {
        /// The PNG file.
        path: PathBuf,
        /// The drawing backend's error.
        message: String,
    },
}

impl TrainError {
    /// Builds an [`TrainError::Io`] for `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// Builds a [`TrainError::BadFile`] for `path`.
    pub fn bad_file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        TrainError::BadFile {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Returns an error naming `what` when `value` is NaN or infinite.
///
/// ```
/// use reasoning_train::{TrainError, ensure_finite};
/// assert!(ensure_finite("loss", 3, 0.5).is_ok());
/// let err = ensure_finite("loss", 3, f64::NAN).unwrap_err();
/// assert!(matches!(err, TrainError::NonFinite { step: 3, .. }));
/// ```
pub fn ensure_finite(what: &'static str, step: u64, value: f64) -> Result<(), TrainError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(TrainError::NonFinite { what, step, value })
    }
}
