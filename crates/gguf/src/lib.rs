//! A reader for GGUF v2/v3 files: metadata, tensor directory and dequantisation.
//!
//! GGUF is llama.cpp's single-file model format: a header, a list of typed key/value metadata
//! (the architecture's hyper-parameters, the tokenizer's vocabulary and merges, the chat
//! template), a directory of tensors, then the aligned tensor data. The model crate reads the
//! weights through [`GgufFile::tensor_f32`]; the tokenizer crate reads the vocabulary through
//! [`GgufFile::metadata`]. Neither knows of the other.
//!
//! - [`GgufFile`]: an opened (memory-mapped) file with its metadata and tensor directory.
//! - [`Value`]: one metadata value (integers, floats, strings, arrays).
//! - [`TensorInfo`], [`GgmlType`]: one tensor's name, shape, storage type and offset.
//! - [`dequantize`]: block formats F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K and Q6_K to `f32`.
//!
//! ```no_run
//! let gguf = reasoning_gguf::GgufFile::open("SmolLM2-135M-Instruct.Q4_1.gguf")?;
//! assert_eq!(gguf.metadata_str("general.architecture")?, "llama");
//! let (shape, values) = gguf.tensor_f32("token_embd.weight")?;
//! assert_eq!(values.len(), shape.iter().product::<usize>());
//! # Ok::<(), reasoning_gguf::GgufError>(())
//! ```
//!
//! Shapes are given in row-major order, outermost dimension first, as PyTorch writes them: a
//! linear layer's weight is `[out_features, in_features]`. (GGUF itself lists dimensions
//! innermost first; the reader reverses them.)
//!
//! Every malformed input (truncated file, wrong magic, absurd counts, offsets outside the file,
//! unknown types) is an error naming the file and the field; nothing panics on user data.

#![deny(missing_docs)]

mod dequant;
mod reader;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

pub use dequant::dequantize;

/// Errors from reading a GGUF file.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// The file could not be opened or mapped.
    #[error("cannot read GGUF file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file's structure is invalid (truncated, wrong magic, bad counts or offsets).
    #[error("{path}: not a valid GGUF file: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the offset, count or field.
        reason: String,
    },
    /// A metadata key the caller needs is absent.
    #[error("{path}: metadata key {key:?} is missing")]
    MissingKey {
        /// The file.
        path: PathBuf,
        /// The key asked for.
        key: String,
    },
    /// A metadata key holds another type than the caller expects.
    #[error("{path}: metadata key {key:?} is {found}, expected {expected}")]
    WrongType {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// The type the file holds.
        found: String,
        /// The type the caller expects.
        expected: &'static str,
    },
    /// No tensor of that name is in the file.
    #[error("{path}: tensor {name:?} is missing")]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The tensor asked for.
        name: String,
    },
    /// The tensor's storage type cannot be dequantised by this crate.
    #[error("{path}: tensor {name:?} has unsupported type {ggml_type}")]
    UnsupportedType {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// Its storage type.
        ggml_type: String,
    },
}

/// Result alias for this crate.
pub type Result<T, E = GgufError> = std::result::Result<T, E>;

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// GGUF type 0, `uint8`.
    U8(u8),
    /// GGUF type 1, `int8`.
    I8(i8),
    /// GGUF type 2, `uint16`.
    U16(u16),
    /// GGUF type 3, `int16`.
    I16(i16),
    /// GGUF type 4, `uint32`.
    U32(u32),
    /// GGUF type 5, `int32`.
    I32(i32),
    /// GGUF type 10, `uint64`.
    U64(u64),
    /// GGUF type 11, `int64`.
    I64(i64),
    /// GGUF type 6, `float32`.
    F32(f32),
    /// GGUF type 12, `float64`.
    F64(f64),
    /// GGUF type 7, `bool`.
    Bool(bool),
    /// GGUF type 8, a UTF-8 string.
    String(String),
    /// GGUF type 9, an array of values of one type.
    Array(Vec<Value>),
}

impl Value {
    /// The value as an unsigned integer, if it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a signed integer, if it is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I8(v) => Some(v.into()),
            Value::I16(v) => Some(v.into()),
            Value::I32(v) => Some(v.into()),
            Value::I64(v) => Some(v),
            _ => self.as_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }

    /// The value as a float, if it is a float or an integer.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => self.as_i64().map(|v| v as f64),
        }
    }

    /// The value as a string slice, if it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an array, if it is one.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::U8(_) => "u8",
            Value::I8(_) => "i8",
            Value::U16(_) => "u16",
            Value::I16(_) => "i16",
            Value::U32(_) => "u32",
            Value::I32(_) => "i32",
            Value::U64(_) => "u64",
            Value::I64(_) => "i64",
            Value::F32(_) => "f32",
            Value::F64(_) => "f64",
            Value::Bool(_) => "bool",
            Value::String(_) => "string",
            Value::Array(_) => "array",
        }
    }
}

/// A ggml tensor storage type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    /// ggml type 0: 32-bit floats.
    F32,
    /// ggml type 1: IEEE half floats.
    F16,
    /// ggml type 30: bfloat16.
    BF16,
    /// ggml type 2: blocks of 32 4-bit weights with an f16 scale.
    Q4_0,
    /// ggml type 3: blocks of 32 4-bit weights with an f16 scale and minimum.
    Q4_1,
    /// ggml type 8: blocks of 32 8-bit weights with an f16 scale.
    Q8_0,
    /// ggml type 12: super-blocks of 256 4-bit weights with 6-bit sub-block scales and minimums.
    Q4K,
    /// ggml type 14: super-blocks of 256 6-bit weights with 8-bit sub-block scales.
    Q6K,
    /// Any other type id (readable in the directory, not dequantisable here).
    Other(u32),
}

impl GgmlType {
    pub(crate) fn from_id(id: u32) -> Self {
        match id {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            8 => GgmlType::Q8_0,
            12 => GgmlType::Q4K,
            14 => GgmlType::Q6K,
            30 => GgmlType::BF16,
            other => GgmlType::Other(other),
        }
    }

    /// Elements per block and bytes per block, for the supported types.
    pub fn block_layout(self) -> Option<(usize, usize)> {
        Some(match self {
            GgmlType::F32 => (1, 4),
            GgmlType::F16 | GgmlType::BF16 => (1, 2),
            GgmlType::Q4_0 => (32, 18),
            GgmlType::Q4_1 => (32, 20),
            GgmlType::Q8_0 => (32, 34),
            GgmlType::Q4K => (256, 144),
            GgmlType::Q6K => (256, 210),
            GgmlType::Other(_) => return None,
        })
    }

    /// ggml's name for the type (`"Q4_K"`, `"type 7"` for unknown ids).
    pub fn name(self) -> String {
        match self {
            GgmlType::F32 => "F32".into(),
            GgmlType::F16 => "F16".into(),
            GgmlType::BF16 => "BF16".into(),
            GgmlType::Q4_0 => "Q4_0".into(),
            GgmlType::Q4_1 => "Q4_1".into(),
            GgmlType::Q8_0 => "Q8_0".into(),
            GgmlType::Q4K => "Q4_K".into(),
            GgmlType::Q6K => "Q6_K".into(),
            GgmlType::Other(id) => match id {
                6 => "Q5_0".into(),
                7 => "Q5_1".into(),
                9 => "Q8_1".into(),
                10 => "Q2_K".into(),
                11 => "Q3_K".into(),
                13 => "Q5_K".into(),
                15 => "Q8_K".into(),
                _ => format!("type {id}"),
            },
        }
    }
}

impl std::fmt::Display for GgmlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// One entry of the tensor directory.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// The GGUF tensor name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Row-major shape, outermost first (`[out_features, in_features]` for a weight).
    pub shape: Vec<usize>,
    /// Storage type.
    pub ggml_type: GgmlType,
    /// Byte offset of the data from the start of the file.
    pub offset: usize,
    /// Byte length of the data.
    pub byte_len: usize,
}

impl TensorInfo {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// An opened GGUF file: the parsed header plus a memory map of the data.
pub struct GgufFile {
    path: PathBuf,
    version: u32,
    metadata: BTreeMap<String, Value>,
    tensors: Vec<TensorInfo>,
    mmap: memmap2::Mmap,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("metadata_keys", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl GgufFile {
    /// Opens and parses `path`. The data is memory-mapped, not read.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let io = |source| GgufError::Io {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io)?;
        // SAFETY: the map is read-only; a file truncated by another process while mapped is
        // outside what this reader can defend against, as for every mmap-based loader.
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        let parsed = reader::parse(&mmap).map_err(|reason| GgufError::Malformed {
            path: path.clone(),
            reason,
        })?;
        Ok(Self {
            path,
            version: parsed.version,
            metadata: parsed.metadata,
            tensors: parsed.tensors,
            mmap,
        })
    }

    /// The path the file was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The GGUF format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// All metadata, keyed by name.
    pub fn metadata(&self) -> &BTreeMap<String, Value> {
        &self.metadata
    }

    /// One metadata value, or `None` when absent.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    fn require(&self, key: &str) -> Result<&Value> {
        self.metadata.get(key).ok_or_else(|| GgufError::MissingKey {
            path: self.path.clone(),
            key: key.into(),
        })
    }

    fn wrong_type(&self, key: &str, found: &Value, expected: &'static str) -> GgufError {
        GgufError::WrongType {
            path: self.path.clone(),
            key: key.into(),
            found: found.type_name().into(),
            expected,
        }
    }

    /// A required string value.
    pub fn metadata_str(&self, key: &str) -> Result<&str> {
        let v = self.require(key)?;
        v.as_str().ok_or_else(|| self.wrong_type(key, v, "string"))
    }

    /// A required non-negative integer value.
    pub fn metadata_u64(&self, key: &str) -> Result<u64> {
        let v = self.require(key)?;
        v.as_u64()
            .ok_or_else(|| self.wrong_type(key, v, "unsigned integer"))
    }

    /// A required float (or integer) value.
    pub fn metadata_f64(&self, key: &str) -> Result<f64> {
        let v = self.require(key)?;
        v.as_f64().ok_or_else(|| self.wrong_type(key, v, "number"))
    }

    /// A required array of strings.
    pub fn metadata_strings(&self, key: &str) -> Result<Vec<&str>> {
        let v = self.require(key)?;
        let arr = v
            .as_array()
            .ok_or_else(|| self.wrong_type(key, v, "array of strings"))?;
        arr.iter()
            .map(|x| {
                x.as_str()
                    .ok_or_else(|| self.wrong_type(key, x, "array of strings"))
            })
            .collect()
    }

    /// The tensor directory, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The directory entry of one tensor.
    pub fn tensor_info(&self, name: &str) -> Result<&TensorInfo> {
        self.tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| GgufError::MissingTensor {
                path: self.path.clone(),
                name: name.into(),
            })
    }

    /// The raw bytes of one tensor, as stored.
    pub fn tensor_bytes(&self, name: &str) -> Result<&[u8]> {
        let info = self.tensor_info(name)?;
        Ok(&self.mmap[info.offset..info.offset + info.byte_len])
    }

    /// One tensor dequantised to `f32`, with its row-major shape.
    pub fn tensor_f32(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let info = self.tensor_info(name)?;
        let bytes = &self.mmap[info.offset..info.offset + info.byte_len];
        let values = dequantize(info.ggml_type, bytes, info.numel()).ok_or_else(|| {
            GgufError::UnsupportedType {
                path: self.path.clone(),
                name: name.into(),
                ggml_type: info.ggml_type.name(),
            }
        })?;
        Ok((info.shape.clone(), values))
    }
}
