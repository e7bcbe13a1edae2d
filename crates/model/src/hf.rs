//! HF checkpoint folders: `config.json` plus `model.safetensors` (or shards listed in
//! `model.safetensors.index.json`), read and written.
//!
//! Reading memory-maps every shard and converts one tensor at a time (F32, F16 or BF16 in the
//! file; f32 or bf16 in the model), so peak memory is the model plus one tensor. Writing produces
//! exactly what `save_pretrained` would for `Qwen3ForCausalLM`/`LlamaForCausalLM` (one
//! `model.safetensors` with `{"format": "pt"}` metadata), assembled in a temporary folder next to
//! the target and renamed into place, so a crash never leaves a half-written checkpoint.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use half::bf16;
use safetensors::tensor::{Metadata, SafeTensors, TensorView};
use safetensors::{Dtype, serialize_to_file};

use crate::DType;
use crate::config::Config;
use crate::error::{ModelError, Result};
use crate::model::Model;
use crate::weights::{Checked, StoredFloat, TensorSource, build, widen};

/// Whether a path names a PyTorch checkpoint (`.pth` or `.pt`).
pub fn is_pth(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("pth") || e.eq_ignore_ascii_case("pt"))
}

/// The file listing the shards of a sharded checkpoint.
pub const INDEX_FILE: &str = "model.safetensors.index.json";
/// The single-file checkpoint name.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The configuration file name.
pub const CONFIG_FILE: &str = "config.json";

/// One memory-mapped safetensors file with its parsed header.
struct Shard {
    path: PathBuf,
    mmap: memmap2::Mmap,
    data_start: usize,
    meta: Metadata,
}

/// The safetensors files of an HF folder, indexed by tensor name.
pub(crate) struct SafetensorsFiles {
    origin: String,
    shards: Vec<Shard>,
    index: HashMap<String, usize>,
}

impl SafetensorsFiles {
    /// Opens `model.safetensors`, or every shard named by `model.safetensors.index.json`.
    pub fn open_dir(dir: &Path) -> Result<Self> {
        let index_path = dir.join(INDEX_FILE);
        let files: Vec<PathBuf> = if index_path.is_file() {
            shard_files(&index_path)?
                .into_iter()
                .map(|f| dir.join(f))
                .collect()
        } else if dir.join(WEIGHTS_FILE).is_file() {
            vec![dir.join(WEIGHTS_FILE)]
        } else {
            return Err(ModelError::NotAModel {
                path: dir.to_path_buf(),
            });
        };
        let mut shards = Vec::with_capacity(files.len());
        let mut index = HashMap::new();
        for path in files {
            let shard = open_shard(&path)?;
            for name in shard.meta.tensors().into_keys() {
                if index.insert(name.clone(), shards.len()).is_some() {
                    return Err(ModelError::Safetensors {
                        path: path.clone(),
                        reason: format!("tensor {name:?} also appears in another shard"),
                    });
                }
            }
            shards.push(shard);
        }
        Ok(SafetensorsFiles {
            origin: dir.display().to_string(),
            shards,
            index,
        })
    }
}

/// The distinct shard file names of an index, in order; refuses names that are not plain
/// file names (a hub index must not point outside its snapshot folder).
pub(crate) fn shard_files(index_path: &Path) -> Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: BTreeMap<String, String>,
    }
    let text = fs::read_to_string(index_path).map_err(ModelError::io(index_path))?;
    let index: Index = serde_json::from_str(&text).map_err(|e| ModelError::Config {
        origin: index_path.display().to_string(),
        field: "weight_map".into(),
        reason: e.to_string(),
    })?;
    let files: BTreeSet<String> = index.weight_map.into_values().collect();
    for f in &files {
        if f.contains('/') || f.contains('\\') || f.starts_with('.') {
            return Err(ModelError::Config {
                origin: index_path.display().to_string(),
                field: "weight_map".into(),
                reason: format!("shard name {f:?} is not a plain file name"),
            });
        }
    }
    Ok(files.into_iter().collect())
}

fn open_shard(path: &Path) -> Result<Shard> {
    let file = fs::File::open(path).map_err(ModelError::io(path))?;
    // SAFETY: read-only map; the file is not expected to change while the model loads.
    let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(ModelError::io(path))?;
    let (header_len, meta) =
        SafeTensors::read_metadata(&mmap).map_err(|e| ModelError::Safetensors {
            path: path.to_path_buf(),
            reason: describe(&e),
        })?;
    Ok(Shard {
        path: path.to_path_buf(),
        mmap,
        data_start: 8 + header_len,
        meta,
    })
}

fn describe(e: &safetensors::SafeTensorError) -> String {
    match e {
        safetensors::SafeTensorError::MetadataIncompleteBuffer => {
            "the data is shorter or longer than the header says (truncated file?)".into()
        }
        safetensors::SafeTensorError::HeaderTooSmall
        | safetensors::SafeTensorError::InvalidHeaderLength => {
            "the header is cut short (truncated file?)".into()
        }
        other => other.to_string(),
    }
}

impl TensorSource for SafetensorsFiles {
    fn origin(&self) -> &str {
        &self.origin
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.index.keys().cloned().collect();
        names.sort();
        names
    }

    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        let shard = &self.shards[*self.index.get(name)?];
        shard.meta.info(name).map(|info| info.shape.clone())
    }

    fn read_f32(&self, name: &str) -> Result<Vec<f32>> {
        let missing = || ModelError::MissingTensor {
            origin: self.origin.clone(),
            name: name.into(),
        };
        let shard = &self.shards[*self.index.get(name).ok_or_else(missing)?];
        let info = shard.meta.info(name).ok_or_else(missing)?;
        let (start, end) = info.data_offsets;
        let bytes = &shard.mmap[shard.data_start + start..shard.data_start + end];
        let stored = match info.dtype {
            Dtype::F32 => StoredFloat::F32,
            Dtype::F16 => StoredFloat::F16,
            Dtype::BF16 => StoredFloat::BF16,
            other => {
                return Err(ModelError::UnsupportedDtype {
                    origin: shard.path.display().to_string(),
                    name: name.into(),
                    dtype: format!("{other:?}"),
                });
            }
        };
        let values = widen(bytes, stored, false);
        Ok(values)
    }
}

impl Model {
    /// Loads a model from a local HF folder (`config.json` + safetensors), a `.gguf` file or one
    /// of the book's `.pth` checkpoints (configuration inferred from its shapes; see
    /// [`Model::load_pth`]), converting the weights to `dtype`.
    ///
    /// Every tensor is checked (present, right shape, finite) and nothing in the checkpoint may
    /// be left unused; errors name the file and the tensor. For hub ids see
    /// [`hub::resolve`](crate::hub::resolve).
    pub fn load(path: &Path, device: &Device, dtype: DType) -> Result<Self> {
        if path.is_dir() {
            Self::load_hf_dir(path, device, dtype)
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
        {
            Self::load_gguf(path, device, dtype)
        } else if is_pth(path) {
            Self::load_pth(path, None, device, dtype)
        } else if !path.exists() {
            Err(ModelError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
            })
        } else {
            Err(ModelError::NotAModel {
                path: path.to_path_buf(),
            })
        }
    }

    /// Loads an HF folder: `config.json` plus `model.safetensors` or sharded safetensors.
    pub fn load_hf_dir(dir: &Path, device: &Device, dtype: DType) -> Result<Self> {
        let config_path = dir.join(CONFIG_FILE);
        if !config_path.is_file() {
            return Err(ModelError::NotAModel {
                path: dir.to_path_buf(),
            });
        }
        let config = Config::from_json_file(&config_path)?;
        let files = SafetensorsFiles::open_dir(dir)?;
        let mut checked = Checked::new(&files);
        let model = build(&config, device, dtype, &mut checked)?;
        checked.finish(&config)?;
        Ok(model)
    }

    /// Writes the model as an HF folder (`config.json` and `model.safetensors` in `dtype`) that
    /// `transformers`' `AutoModelForCausalLM.from_pretrained(dir)` loads as-is.
    ///
    /// The folder is assembled next to `dir` and renamed into place. Files already in `dir`
    /// that the save does not write (tokenizer files, say) are kept; old weights are replaced.
    pub fn save_hf(&self, dir: &Path, dtype: DType) -> Result<()> {
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dir.file_name().ok_or_else(|| ModelError::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "no folder name"),
        })?;
        fs::create_dir_all(&parent).map_err(ModelError::io(&parent))?;
        let tag = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let tmp = parent.join(format!(".{}.tmp-{tag}", name.to_string_lossy()));
        let result = self
            .write_hf(&tmp, dir, dtype)
            .and_then(|()| swap_into_place(&tmp, dir, &tag));
        if result.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        result
    }

    /// Writes config and weights into the fresh folder `tmp`, plus the files of `existing`
    /// that are neither.
    fn write_hf(&self, tmp: &Path, existing: &Path, dtype: DType) -> Result<()> {
        fs::create_dir(tmp).map_err(ModelError::io(tmp))?;
        let config = serde_json::to_string_pretty(&self.config().to_hf_json(dtype))
            .expect("a JSON value always serialises");
        let config_path = tmp.join(CONFIG_FILE);
        fs::write(&config_path, config + "\n").map_err(ModelError::io(&config_path))?;

        let (st_dtype, size) = match dtype {
            DType::F32 => (Dtype::F32, 4),
            DType::BF16 => (Dtype::BF16, 2),
        };
        let mut buffers: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for (name, param) in self.named_params() {
            let shape = param.shape();
            let values: Vec<f32> = param
                .to_data()
                .try_into_vec_as::<f32>()
                .expect("float parameters convert to f32");
            let mut bytes = Vec::with_capacity(values.len() * size);
            match dtype {
                DType::F32 => values.iter().for_each(|v| bytes.extend(v.to_le_bytes())),
                DType::BF16 => values
                    .iter()
                    .for_each(|v| bytes.extend(bf16::from_f32(*v).to_bits().to_le_bytes())),
            }
            buffers.push((name, shape, bytes));
        }
        let views = buffers.iter().map(|(name, shape, bytes)| {
            let view = TensorView::new(st_dtype, shape.clone(), bytes)
                .expect("shape and byte length agree by construction");
            (name.clone(), view)
        });
        let weights_path = tmp.join(WEIGHTS_FILE);
        let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
        serialize_to_file(views, Some(metadata), &weights_path).map_err(|e| ModelError::Io {
            path: weights_path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;

        // Keep what the caller put next to the weights (tokenizer, generation config).
        if existing.is_dir() {
            for entry in fs::read_dir(existing).map_err(ModelError::io(existing))? {
                let entry = entry.map_err(ModelError::io(existing))?;
                let file_name = entry.file_name();
                let s = file_name.to_string_lossy();
                let is_weights = s.ends_with(".safetensors") || s == INDEX_FILE || s == CONFIG_FILE;
                if !is_weights && entry.path().is_file() {
                    let to = tmp.join(&file_name);
                    fs::copy(entry.path(), &to).map_err(ModelError::io(&to))?;
                }
            }
        }
        Ok(())
    }
}

/// Replaces `dir` by the finished folder `tmp`: rename the old folder aside, rename the new one
/// in, delete the old one.
fn swap_into_place(tmp: &Path, dir: &Path, tag: &str) -> Result<()> {
    if dir.exists() {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let old = dir.with_file_name(format!(".{name}.old-{tag}"));
        fs::rename(dir, &old).map_err(ModelError::io(dir))?;
        fs::rename(tmp, dir).map_err(ModelError::io(dir))?;
        fs::remove_dir_all(&old).map_err(ModelError::io(&old))?;
    } else {
        fs::rename(tmp, dir).map_err(ModelError::io(dir))?;
    }
    Ok(())
}

/// Copies the named files from folder `from` into folder `to` (created if needed), e.g. the
/// tokenizer files next to a saved checkpoint. Each copy goes through a temporary name.
///
/// Returns the destination paths; a missing source file is an error naming it.
pub fn copy_files(from: &Path, to: &Path, names: &[&str]) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(to).map_err(ModelError::io(to))?;
    let mut copied = Vec::with_capacity(names.len());
    for name in names {
        let src = from.join(name);
        let dst = to.join(name);
        let tmp = to.join(format!(".{name}.tmp-{}", std::process::id()));
        fs::copy(&src, &tmp).map_err(ModelError::io(&src))?;
        fs::rename(&tmp, &dst).map_err(ModelError::io(&dst))?;
        copied.push(dst);
    }
    Ok(copied)
}
