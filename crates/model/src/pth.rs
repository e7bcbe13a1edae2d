//! The book's own checkpoints: `.pth` files written by `torch.save(model.state_dict(), path)`
//! for the `Qwen3Model` class of its `reasoning_from_scratch` package (the GRPO checkpoints of
//! chapters 6-7, the distilled ones of chapter 8, `qwen3-0.6B-base.pth` and friends).
//!
//! A `.pth` file is a ZIP archive (or, before PyTorch 1.6, a bare stream) holding a Python
//! *pickle* that rebuilds the dictionary, plus one raw blob per tensor storage. Unpickling in
//! Python can call any function the file names, so `torch.load` of an untrusted file can run
//! code. This module never executes anything: [`pytorch_reader`] (the burn team's parser)
//! interprets the pickle opcodes symbolically, and [`PthCheckpoint::open`] then refuses any
//! file whose root is not a flat dictionary from names to tensors. A training checkpoint
//! (`{"model": ..., "optimizer": ...}`), a pickled object, a call such as `os.system`, or a
//! truncated file each get an error naming the file and the entry at fault.
//!
//! The book names tensors after its own modules; loading renames them to the HF names the
//! rest of this crate uses:
//!
//! | book (`Qwen3Model.state_dict()`) | HF (`Qwen3ForCausalLM`) |
//! |---|---|
//! | `tok_emb.weight` | `model.embed_tokens.weight` |
//! | `trf_blocks.N.norm1.scale` | `model.layers.N.input_layernorm.weight` |
//! | `trf_blocks.N.att.W_query.weight` (`W_key`, `W_value`) | `model.layers.N.self_attn.q_proj.weight` (`k_proj`, `v_proj`) |
//! | `trf_blocks.N.att.out_proj.weight` | `model.layers.N.self_attn.o_proj.weight` |
//! | `trf_blocks.N.att.q_norm.scale` (`k_norm`) | `model.layers.N.self_attn.q_norm.weight` (`k_norm`) |
//! | `trf_blocks.N.norm2.scale` | `model.layers.N.post_attention_layernorm.weight` |
//! | `trf_blocks.N.ff.fc1.weight` (`fc2`, `fc3`) | `model.layers.N.mlp.gate_proj.weight` (`up_proj`, `down_proj`) |
//! | `final_norm.scale` | `model.norm.weight` |
//! | `out_head.weight` | `lm_head.weight` |
//!
//! `fc1` is the branch that goes through SiLU, so it is the gate. The book's RoPE uses the same
//! split-halves layout as HF, so no weight is permuted.
//!
//! The file holds no configuration. [`PthCheckpoint::infer_config`] reads it off the shapes:
//! vocabulary and width from the embedding, the head width from the QK-norm scale, the head
//! counts from the projections, the layer count from the block indices, and whether the head
//! is tied from the data (the book ties `out_head` to `tok_emb` by assignment for the 0.6B
//! model, so both keys then hold the same values). What shapes cannot show (RoPE base 10⁶,
//! 40,960 positions, ε 10⁻⁶) is the Qwen3 family's, which every configuration in the book
//! shares; pass a [`Config`] to [`Model::load_pth`] to check the shapes against a preset
//! instead.
//!
//! ```no_run
//! use std::path::Path;
//! use reasoning_model::{DType, Device, Model};
//!
//! let device = Device::flex();
//! let model = Model::load_pth(
//!     Path::new("qwen3-0.6B-rlvr-grpo-step00050.pth"),
//!     None, // infer the configuration from the shapes
//!     &device,
//!     DType::BF16,
//! )?;
//! model.save_hf(Path::new("grpo-step50"), DType::BF16)?; // what `cargo xtask convert` does
//! # Ok::<(), reasoning_model::ModelError>(())
//! ```

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use pytorch_reader::{PickleValue, PytorchReader};

use crate::DType;
use crate::config::{Architecture, Config};
use crate::error::{ModelError, Result};
use crate::model::Model;
use crate::weights::{Checked, StoredFloat, TensorSource, build, widen};

/// The HF name of one of the book's tensor names, `None` for a name its `Qwen3Model` does not
/// have.
pub fn hf_name(book: &str) -> Option<String> {
    match book {
        "tok_emb.weight" => return Some("model.embed_tokens.weight".into()),
        "final_norm.scale" => return Some("model.norm.weight".into()),
        "out_head.weight" => return Some("lm_head.weight".into()),
        _ => {}
    }
    let rest = book.strip_prefix("trf_blocks.")?;
    let (layer, part) = rest.split_once('.')?;
    layer.parse::<usize>().ok()?;
    let hf = BLOCK_NAMES
        .iter()
        .find(|(b, _)| *b == part)
        .map(|(_, h)| *h)?;
    Some(format!("model.layers.{layer}.{hf}"))
}

/// The book's name for an HF tensor name, `None` when the book's model has no such tensor.
pub fn book_name(hf: &str) -> Option<String> {
    match hf {
        "model.embed_tokens.weight" => return Some("tok_emb.weight".into()),
        "model.norm.weight" => return Some("final_norm.scale".into()),
        "lm_head.weight" => return Some("out_head.weight".into()),
        _ => {}
    }
    let rest = hf.strip_prefix("model.layers.")?;
    let (layer, part) = rest.split_once('.')?;
    layer.parse::<usize>().ok()?;
    let book = BLOCK_NAMES
        .iter()
        .find(|(_, h)| *h == part)
        .map(|(b, _)| *b)?;
    Some(format!("trf_blocks.{layer}.{book}"))
}

/// Per-block names: the book's (after `trf_blocks.N.`), then HF's (after `model.layers.N.`).
const BLOCK_NAMES: [(&str, &str); 11] = [
    ("norm1.scale", "input_layernorm.weight"),
    ("att.W_query.weight", "self_attn.q_proj.weight"),
    ("att.W_key.weight", "self_attn.k_proj.weight"),
    ("att.W_value.weight", "self_attn.v_proj.weight"),
    ("att.out_proj.weight", "self_attn.o_proj.weight"),
    ("att.q_norm.scale", "self_attn.q_norm.weight"),
    ("att.k_norm.scale", "self_attn.k_norm.weight"),
    ("norm2.scale", "post_attention_layernorm.weight"),
    ("ff.fc1.weight", "mlp.gate_proj.weight"),
    ("ff.fc2.weight", "mlp.up_proj.weight"),
    ("ff.fc3.weight", "mlp.down_proj.weight"),
];

/// A book checkpoint opened and checked: its tensors under their HF names, not yet read.
pub struct PthCheckpoint {
    path: PathBuf,
    origin: String,
    tensors: HashMap<String, pytorch_reader::Tensor>,
}

impl std::fmt::Debug for PthCheckpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PthCheckpoint")
            .field("path", &self.path)
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl PthCheckpoint {
    /// Parses `path` without executing it and checks that it is a plain state dict of the
    /// book's `Qwen3Model`: a flat dictionary whose every value is a tensor and whose every
    /// key is one of the model's names (see the module's table).
    ///
    /// # Errors
    /// [`ModelError::Io`] when the file cannot be read; [`ModelError::Pth`] for anything else:
    /// not a PyTorch file, truncated, a root that is not a dictionary, an entry that is not a
    /// tensor (a nested dictionary, a number, a pickled call), or a key the book's model does
    /// not have.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(ModelError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        let refuse = |reason: String| ModelError::Pth {
            path: path.to_path_buf(),
            reason,
        };
        let root = PytorchReader::read_pickle_data(path, None)
            .map_err(|e| refuse(format!("not a readable PyTorch file ({e})")))?;
        check_plain_state_dict(&root).map_err(refuse)?;
        let reader = PytorchReader::new(path)
            .map_err(|e| refuse(format!("cannot read its tensors ({e})")))?;
        let mut tensors = HashMap::new();
        let mut unknown = BTreeSet::new();
        for (name, tensor) in reader.into_tensors() {
            match hf_name(&name) {
                Some(hf) => {
                    tensors.insert(hf, tensor);
                }
                None => {
                    unknown.insert(name);
                }
            }
        }
        if !unknown.is_empty() {
            let shown: Vec<&String> = unknown.iter().take(5).collect();
            return Err(refuse(format!(
                "{} key(s) are not tensor names of the book's Qwen3Model, e.g. {shown:?}",
                unknown.len()
            )));
        }
        if tensors.is_empty() {
            return Err(refuse("the state dict holds no tensors".into()));
        }
        Ok(PthCheckpoint {
            path: path.to_path_buf(),
            origin: path.display().to_string(),
            tensors,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The book's names of every tensor in the file, sorted.
    pub fn book_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tensors.keys().filter_map(|n| book_name(n)).collect();
        names.sort();
        names
    }

    /// The configuration the shapes imply (see the module documentation for what comes from
    /// where); `tie_word_embeddings` is true when `out_head.weight` holds exactly the values of
    /// `tok_emb.weight`, or is absent.
    ///
    /// # Errors
    /// [`ModelError::Pth`] naming the tensor that is missing or whose shape does not fit.
    pub fn infer_config(&self) -> Result<Config> {
        let refuse = |reason: String| ModelError::Pth {
            path: self.path.clone(),
            reason,
        };
        let shape = |hf: &str| -> Result<Vec<usize>> {
            self.source_shape(hf).ok_or_else(|| {
                refuse(format!(
                    "cannot infer the configuration: {} is missing",
                    book_name(hf).unwrap_or_else(|| hf.into())
                ))
            })
        };
        let matrix = |hf: &str| -> Result<[usize; 2]> {
            match shape(hf)?[..] {
                [rows, cols] => Ok([rows, cols]),
                ref other => Err(refuse(format!(
                    "{} has shape {other:?}, expected a matrix",
                    book_name(hf).unwrap_or_else(|| hf.into())
                ))),
            }
        };
        let [vocab, hidden] = matrix("model.embed_tokens.weight")?;
        let layers = self
            .tensors
            .keys()
            .filter_map(|n| n.strip_prefix("model.layers.")?.split_once('.'))
            .filter_map(|(i, _)| i.parse::<usize>().ok())
            .max()
            .map_or(0, |i| i + 1);
        if layers == 0 {
            return Err(refuse(
                "cannot infer the configuration: no trf_blocks".into(),
            ));
        }
        let head_dim = match shape("model.layers.0.self_attn.q_norm.weight")?[..] {
            [d] => d,
            ref other => {
                return Err(refuse(format!(
                    "trf_blocks.0.att.q_norm.scale has shape {other:?}, expected a vector"
                )));
            }
        };
        let heads = |hf: &str| -> Result<usize> {
            let [rows, _] = matrix(hf)?;
            if head_dim == 0 || !rows.is_multiple_of(head_dim) {
                return Err(refuse(format!(
                    "{} has {rows} rows, not a multiple of the head width {head_dim}",
                    book_name(hf).unwrap_or_default()
                )));
            }
            Ok(rows / head_dim)
        };
        let [ffn, _] = matrix("model.layers.0.mlp.gate_proj.weight")?;
        let mut config = Config::qwen3_0_6b();
        config.model_type = Architecture::Qwen3;
        config.vocab_size = vocab;
        config.hidden_size = hidden;
        config.intermediate_size = ffn;
        config.num_hidden_layers = layers;
        config.num_attention_heads = heads("model.layers.0.self_attn.q_proj.weight")?;
        config.num_key_value_heads = heads("model.layers.0.self_attn.k_proj.weight")?;
        config.head_dim = head_dim;
        config.tie_word_embeddings = self.head_is_tied()?;
        if vocab != Config::qwen3_0_6b().vocab_size {
            // Not the Qwen3 vocabulary: its special ids mean nothing here.
            config.bos_token_id = None;
            config.eos_token_id.clear();
        }
        config
            .validate()
            .map_err(|e| refuse(format!("the inferred configuration is invalid: {e}")))?;
        Ok(config)
    }

    /// Whether `out_head.weight` is absent or equal, value for value, to `tok_emb.weight`.
    pub fn head_is_tied(&self) -> Result<bool> {
        let (Some(head), Some(emb)) = (
            self.tensors.get("lm_head.weight"),
            self.tensors.get("model.embed_tokens.weight"),
        ) else {
            return Ok(true);
        };
        if head.shape() != emb.shape() {
            return Ok(false);
        }
        Ok(self.read_f32("lm_head.weight")? == self.read_f32("model.embed_tokens.weight")?)
    }

    fn source_shape(&self, hf: &str) -> Option<Vec<usize>> {
        self.tensors.get(hf).map(|t| t.shape().to_vec())
    }
}

/// What a pickle value is, for errors.
fn describe(value: &PickleValue) -> String {
    match value {
        PickleValue::None => "None".into(),
        PickleValue::Bool(_) => "a bool".into(),
        PickleValue::Int(_) => "an int".into(),
        PickleValue::Float(_) => "a float".into(),
        PickleValue::String(_) => "a string".into(),
        PickleValue::List(_) => "a list or tuple".into(),
        PickleValue::Dict(_) => "a dictionary".into(),
        PickleValue::Bytes(_) => "bytes".into(),
        PickleValue::Unsupported(kind) => format!("a Python object of type {kind}"),
    }
}

/// Whether a value is a tensor as the reader renders it.
fn is_tensor(value: &PickleValue) -> bool {
    matches!(value, PickleValue::Unsupported(kind) if kind == "torch.Tensor")
}

/// A plain state dict: a dictionary whose values are all tensors (`_metadata`, which
/// `state_dict()` attaches to its `OrderedDict`, is allowed and ignored).
fn check_plain_state_dict(root: &PickleValue) -> std::result::Result<(), String> {
    let PickleValue::Dict(entries) = root else {
        return Err(format!(
            "its root is {}, not a dictionary of tensors (a state dict); nothing was run",
            describe(root)
        ));
    };
    let mut keys: Vec<&String> = entries.keys().collect();
    keys.sort();
    for key in keys {
        let value = &entries[key];
        if key == "_metadata" || is_tensor(value) {
            continue;
        }
        let hint = match value {
            PickleValue::Dict(_) => {
                "; this looks like a training checkpoint: save `model.state_dict()` on its own"
            }
            PickleValue::Unsupported(_) => {
                "; such an entry would run code in torch.load, and was not run"
            }
            _ => "",
        };
        return Err(format!(
            "entry {key:?} is {}, not a tensor{hint}",
            describe(value)
        ));
    }
    Ok(())
}

impl TensorSource for PthCheckpoint {
    fn origin(&self) -> &str {
        &self.origin
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tensors.keys().cloned().collect();
        names.sort();
        names
    }

    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.source_shape(name)
    }

    fn read_f32(&self, name: &str) -> Result<Vec<f32>> {
        let book = book_name(name).unwrap_or_else(|| name.into());
        let tensor = self
            .tensors
            .get(name)
            .ok_or_else(|| ModelError::MissingTensor {
                origin: self.origin.clone(),
                name: book.clone(),
            })?;
        let bytes = tensor.read().map_err(|e| ModelError::Pth {
            path: self.path.clone(),
            reason: format!("cannot read tensor {book:?}: {e}"),
        })?;
        let stored = match tensor.dtype() {
            pytorch_reader::DType::F32 => StoredFloat::F32,
            pytorch_reader::DType::F16 => StoredFloat::F16,
            pytorch_reader::DType::BF16 => StoredFloat::BF16,
            other => {
                return Err(ModelError::UnsupportedDtype {
                    origin: self.origin.clone(),
                    name: book,
                    dtype: format!("{other:?}"),
                });
            }
        };
        // The reader returns the machine's byte order.
        Ok(widen(&bytes, stored, true))
    }
}

/// Renames the HF tensor name in a loading error to the book's, which is what the file holds.
fn with_book_names(error: ModelError) -> ModelError {
    let rename = |name: String| book_name(&name).unwrap_or(name);
    match error {
        ModelError::MissingTensor { origin, name } => ModelError::MissingTensor {
            origin,
            name: rename(name),
        },
        ModelError::ShapeMismatch {
            origin,
            name,
            found,
            expected,
        } => ModelError::ShapeMismatch {
            origin,
            name: rename(name),
            found,
            expected,
        },
        ModelError::NonFinite {
            origin,
            name,
            index,
            value,
        } => ModelError::NonFinite {
            origin,
            name: rename(name),
            index,
            value,
        },
        ModelError::UnexpectedTensors {
            origin,
            count,
            names,
        } => ModelError::UnexpectedTensors {
            origin,
            count,
            names: names.into_iter().map(rename).collect(),
        },
        other => other,
    }
}

impl Model {
    /// Loads one of the book's `.pth` checkpoints (see the [module](crate::pth) documentation).
    ///
    /// With `config` `None` the configuration is inferred from the shapes. With a preset, every
    /// shape is checked against it, and a tied preset refuses a file whose `out_head` differs
    /// from its `tok_emb`.
    ///
    /// # Errors
    /// Anything [`PthCheckpoint::open`] refuses, and the checkpoint errors of
    /// [`Model::load`] (missing, mis-shaped, non-finite or unexpected tensors) under the book's
    /// tensor names.
    pub fn load_pth(
        path: &Path,
        config: Option<&Config>,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        let file = PthCheckpoint::open(path)?;
        let config = match config {
            None => file.infer_config()?,
            Some(preset) => {
                if preset.tie_word_embeddings && !file.head_is_tied()? {
                    return Err(ModelError::Pth {
                        path: path.to_path_buf(),
                        reason: "the configuration ties the output head to the embedding, but \
                                 out_head.weight differs from tok_emb.weight"
                            .into(),
                    });
                }
                preset.clone()
            }
        };
        let mut checked = Checked::new(&file);
        let model = build(&config, device, dtype, &mut checked).map_err(with_book_names)?;
        checked.finish(&config).map_err(with_book_names)?;
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_both_ways() {
        for book in [
            "tok_emb.weight",
            "final_norm.scale",
            "out_head.weight",
            "trf_blocks.0.att.W_query.weight",
            "trf_blocks.27.ff.fc3.weight",
            "trf_blocks.3.att.k_norm.scale",
        ] {
            let hf = hf_name(book).unwrap();
            assert_eq!(book_name(&hf).as_deref(), Some(book), "{hf}");
        }
        assert_eq!(
            hf_name("trf_blocks.2.ff.fc1.weight").as_deref(),
            Some("model.layers.2.mlp.gate_proj.weight")
        );
        assert_eq!(hf_name("trf_blocks.x.ff.fc1.weight"), None);
        assert_eq!(hf_name("trf_blocks.1.att.W_query.bias"), None);
        assert_eq!(hf_name("cos"), None);
        assert_eq!(book_name("model.rotary_emb.inv_freq"), None);
    }

    #[test]
    fn only_flat_dictionaries_of_tensors_pass() {
        let tensor = || PickleValue::Unsupported("torch.Tensor".into());
        let ok = PickleValue::Dict(HashMap::from([
            ("tok_emb.weight".to_string(), tensor()),
            ("_metadata".to_string(), PickleValue::Dict(HashMap::new())),
        ]));
        assert!(check_plain_state_dict(&ok).is_ok());
        let nested = PickleValue::Dict(HashMap::from([(
            "model".to_string(),
            PickleValue::Dict(HashMap::from([("tok_emb.weight".to_string(), tensor())])),
        )]));
        let err = check_plain_state_dict(&nested).unwrap_err();
        assert!(
            err.contains("\"model\"") && err.contains("training checkpoint"),
            "{err}"
        );
        let call = PickleValue::Unsupported("posix.system".into());
        let err = check_plain_state_dict(&call).unwrap_err();
        assert!(
            err.contains("posix.system") && err.contains("root"),
            "{err}"
        );
        let list = PickleValue::List(vec![tensor()]);
        assert!(check_plain_state_dict(&list).is_err());
    }
}
