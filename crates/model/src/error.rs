//! The crate's error type: every variant names the file, field or tensor at fault.

use std::path::PathBuf;

/// Errors from building, loading, saving or locating a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A `config.json` (or GGUF metadata) field is missing, malformed or inconsistent.
    #[error("{origin}: field `{field}`: {reason}")]
    Config {
        /// Where the configuration came from (a file path or `"preset"`).
        origin: String,
        /// The field at fault, with its HF (or GGUF) name.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The checkpoint uses a feature this implementation does not have (rope scaling,
    /// attention bias, sliding windows, another architecture).
    #[error("{origin}: unsupported {what}")]
    Unsupported {
        /// The file the feature came from.
        origin: String,
        /// The feature and its value.
        what: String,
    },
    /// A GGUF file could not be read.
    #[error(transparent)]
    Gguf(#[from] reasoning_gguf::GgufError),
    /// A safetensors file is malformed (bad header, truncated data).
    #[error("{path}: not a valid safetensors file: {reason}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What the parser reported.
        reason: String,
    },
    /// A tensor the architecture needs is absent from the checkpoint.
    #[error("{origin}: tensor {name:?} is missing")]
    MissingTensor {
        /// The checkpoint (folder or file).
        origin: String,
        /// The HF tensor name.
        name: String,
    },
    /// A tensor has another shape than the configuration implies.
    #[error("{origin}: tensor {name:?} has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        /// The checkpoint (folder or file).
        origin: String,
        /// The HF tensor name.
        name: String,
        /// The shape in the file.
        found: Vec<usize>,
        /// The shape the configuration implies.
        expected: Vec<usize>,
    },
    /// A tensor holds NaN or infinite values.
    #[error("{origin}: tensor {name:?} holds a non-finite value ({value}) at flat index {index}")]
    NonFinite {
        /// The checkpoint (folder or file).
        origin: String,
        /// The HF tensor name.
        name: String,
        /// The first offending flat index.
        index: usize,
        /// The value found there.
        value: f32,
    },
    /// A tensor is stored in a dtype this loader cannot convert.
    #[error("{origin}: tensor {name:?} has unsupported dtype {dtype}")]
    UnsupportedDtype {
        /// The checkpoint (folder or file).
        origin: String,
        /// The tensor name.
        name: String,
        /// The stored dtype.
        dtype: String,
    },
    /// The checkpoint holds tensors the architecture does not use.
    #[error("{origin}: {count} unexpected tensor(s), e.g. {names:?}")]
    UnexpectedTensors {
        /// The checkpoint (folder or file).
        origin: String,
        /// How many were left over.
        count: usize,
        /// The first few names.
        names: Vec<String>,
    },
    /// A `.pth` file is not a plain state dict of the book's model (or not a PyTorch file).
    #[error("{path}: not a checkpoint this loader accepts: {reason}")]
    Pth {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the entry at fault.
        reason: String,
    },
    /// A path is neither a model folder (with `config.json`) nor a `.gguf` file.
    #[error(
        "{path}: not a model: expected a folder with config.json and *.safetensors, a .gguf file \
         or one of the book's .pth checkpoints"
    )]
    NotAModel {
        /// The path given.
        path: PathBuf,
    },
    /// A hub model or file could not be found locally nor downloaded.
    #[error(
        "cannot get {repo_id}/{file} from the Hugging Face hub ({reason}); alternatives: pass a \
         local HF folder (config.json + *.safetensors) or a .gguf file, or pre-download with \
         `huggingface-cli download {repo_id}` into the HF cache ({cache})"
    )]
    Hub {
        /// The repository id, e.g. `Qwen/Qwen3-0.6B`.
        repo_id: String,
        /// The file that was needed.
        file: String,
        /// The HF cache folder that was searched.
        cache: PathBuf,
        /// Why the download failed.
        reason: String,
    },
    /// A device string could not be parsed or its backend is not compiled in.
    #[error("device {spec:?}: {reason}")]
    Device {
        /// The string given.
        spec: String,
        /// What is wrong.
        reason: String,
    },
    /// A dtype string could not be parsed.
    #[error("dtype {0:?}: expected f32 or bf16")]
    DType(String),
    /// The device's backend cannot hold weights of this dtype (bf16 on wgpu: WGSL, the shader
    /// language burn-wgpu compiles to, has no bf16 type).
    #[error("device {device}: has no {dtype} tensors; load the model in f32 on this device")]
    DTypeUnsupported {
        /// The device, as burn describes it.
        device: String,
        /// The dtype asked for.
        dtype: crate::DType,
    },
}

/// Result alias for this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

impl ModelError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ModelError::Io { path, source }
    }
}
