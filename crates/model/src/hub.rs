//! Finding a model: a local HF folder, a `.gguf` file, or a Hugging Face hub id.
//!
//! Hub downloads go to the standard HF cache (`$HF_HOME/hub`, default
//! `~/.cache/huggingface/hub`) through the `hf-hub` crate, so files fetched by Python's
//! `huggingface_hub` are found too and nothing is downloaded twice. Files already cached are
//! used without touching the network; `HF_HUB_OFFLINE=1` forbids the network altogether.
//! Without network and cache, the error names the alternatives (a local folder, a `.gguf`
//! file, or pre-downloading).
//!
//! Nothing here prints: downloads run without progress bars.

use std::path::{Path, PathBuf};

use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo};

use crate::error::{ModelError, Result};
use crate::hf::{CONFIG_FILE, INDEX_FILE, WEIGHTS_FILE, shard_files};
use crate::model::Model;
use crate::{DType, Device};

/// Files fetched next to the weights so the tokenizer crate finds them in the same folder.
pub const TOKENIZER_FILES: [&str; 3] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
];

/// The kind of hub repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoType {
    /// A model repository (`Qwen/Qwen3-0.6B`).
    Model,
    /// A dataset repository (`HuggingFaceH4/MATH-500`).
    Dataset,
}

/// Where a model's files are on this machine, after [`resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelPath {
    /// An HF folder: `config.json`, safetensors, usually `tokenizer.json` and
    /// `tokenizer_config.json`.
    HfDir(PathBuf),
    /// A single GGUF file holding weights, tokenizer and chat template.
    Gguf(PathBuf),
    /// One of the book's `.pth` checkpoints: weights only (the tokenizer is found beside it
    /// or given separately).
    Pth(PathBuf),
}

impl ModelPath {
    /// The folder or file.
    pub fn path(&self) -> &Path {
        match self {
            ModelPath::HfDir(p) | ModelPath::Gguf(p) | ModelPath::Pth(p) => p,
        }
    }
}

/// How to reach the hub: cache folder, endpoint, offline switch.
#[derive(Debug, Clone)]
pub struct Hub {
    /// The `hub` cache folder (`$HF_HOME/hub`).
    pub cache_dir: PathBuf,
    /// The server, `https://huggingface.co` unless `HF_ENDPOINT` says otherwise.
    pub endpoint: String,
    /// When true, only cached files are used.
    pub offline: bool,
}

impl Hub {
    /// Settings from the environment: `HF_HOME`, `HF_ENDPOINT`, `HF_HUB_OFFLINE`.
    pub fn from_env() -> Self {
        let offline = std::env::var("HF_HUB_OFFLINE")
            .is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"));
        Hub {
            cache_dir: Cache::from_env().path().clone(),
            endpoint: std::env::var("HF_ENDPOINT")
                .unwrap_or_else(|_| "https://huggingface.co".into()),
            offline,
        }
    }

    /// Settings with an explicit cache folder (the `hub` folder itself) and the default
    /// endpoint, online.
    pub fn with_cache_dir(cache_dir: impl Into<PathBuf>) -> Self {
        Hub {
            cache_dir: cache_dir.into(),
            endpoint: "https://huggingface.co".into(),
            offline: false,
        }
    }

    /// The path of `filename` in repository `repo_id`, from the cache or downloaded into it.
    pub fn download_file(
        &self,
        repo_id: &str,
        repo_type: RepoType,
        filename: &str,
    ) -> Result<PathBuf> {
        let repo = match repo_type {
            RepoType::Model => Repo::model(repo_id.to_string()),
            RepoType::Dataset => Repo::dataset(repo_id.to_string()),
        };
        if let Some(path) = Cache::new(self.cache_dir.clone())
            .repo(repo.clone())
            .get(filename)
        {
            return Ok(path);
        }
        let fail = |reason: String| ModelError::Hub {
            repo_id: repo_id.into(),
            file: filename.into(),
            cache: self.cache_dir.clone(),
            reason,
        };
        if self.offline {
            return Err(fail("not in the cache, and HF_HUB_OFFLINE is set".into()));
        }
        let api = ApiBuilder::from_cache(Cache::new(self.cache_dir.clone()))
            .with_endpoint(self.endpoint.clone())
            .with_progress(false)
            .build()
            .map_err(|e| fail(e.to_string()))?;
        api.repo(repo)
            .get(filename)
            .map_err(|e| fail(format!("not in the cache, and the download failed: {e}")))
    }

    /// Downloads (or finds cached) an HF model repository's config, weights and tokenizer
    /// files, and returns the snapshot folder holding them.
    pub fn model_dir(&self, repo_id: &str) -> Result<PathBuf> {
        let config = self.download_file(repo_id, RepoType::Model, CONFIG_FILE)?;
        let dir = config.parent().map(Path::to_path_buf).unwrap_or_default();
        match self.download_file(repo_id, RepoType::Model, INDEX_FILE) {
            Ok(index) => {
                for shard in shard_files(&index)? {
                    self.download_file(repo_id, RepoType::Model, &shard)?;
                }
            }
            Err(_) => {
                self.download_file(repo_id, RepoType::Model, WEIGHTS_FILE)?;
            }
        }
        for file in TOKENIZER_FILES {
            // Optional: not every repository has every file, and the tokenizer crate reports
            // what it misses.
            let _ = self.download_file(repo_id, RepoType::Model, file);
        }
        Ok(dir)
    }
}

/// Downloads (or finds cached) one file of a hub repository, with settings from the
/// environment (see [`Hub::from_env`]). Used for datasets such as `HuggingFaceH4/MATH-500`.
pub fn download_file(repo_id: &str, repo_type: RepoType, filename: &str) -> Result<PathBuf> {
    Hub::from_env().download_file(repo_id, repo_type, filename)
}

/// Resolves a model spec with settings from the environment; see [`Hub::resolve`].
pub fn resolve(spec: &str) -> Result<ModelPath> {
    Hub::from_env().resolve(spec)
}

impl Hub {
    /// Turns a model spec into local paths: an existing folder (HF layout), `.gguf` file or
    /// `.pth` file (the book's checkpoints) is used as it is; otherwise `owner/name` is a hub
    /// model id, fetched into the cache.
    pub fn resolve(&self, spec: &str) -> Result<ModelPath> {
        let path = Path::new(spec);
        if path.is_dir() {
            if path.join(CONFIG_FILE).is_file() {
                return Ok(ModelPath::HfDir(path.to_path_buf()));
            }
            return Err(ModelError::NotAModel {
                path: path.to_path_buf(),
            });
        }
        if path.is_file() {
            if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
            {
                return Ok(ModelPath::Gguf(path.to_path_buf()));
            }
            if crate::hf::is_pth(path) {
                return Ok(ModelPath::Pth(path.to_path_buf()));
            }
            return Err(ModelError::NotAModel {
                path: path.to_path_buf(),
            });
        }
        if is_repo_id(spec) {
            return self.model_dir(spec).map(ModelPath::HfDir);
        }
        Err(ModelError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such folder, .gguf or .pth file, and not a hub id of the form owner/name",
            ),
        })
    }
}

impl Model {
    /// Resolves `spec` (an HF folder, a `.gguf` file or a hub id; see [`Hub::resolve`], with
    /// settings from the environment) and loads it. Also returns where the files are, so the
    /// caller can load the matching tokenizer from the same folder or GGUF file.
    pub fn open(spec: &str, device: &Device, dtype: DType) -> Result<(Self, ModelPath)> {
        let path = resolve(spec)?;
        let model = Model::load(path.path(), device, dtype)?;
        Ok((model, path))
    }
}

/// Whether `s` looks like a hub id: `owner/name`, ASCII letters, digits, `-`, `_`, `.`.
fn is_repo_id(s: &str) -> bool {
    let ok = |part: &str| {
        !part.is_empty()
            && !part.starts_with('.')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    matches!(s.split_once('/'), Some((owner, name)) if ok(owner) && ok(name) && !name.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids_are_owner_slash_name() {
        assert!(is_repo_id("Qwen/Qwen3-0.6B"));
        assert!(is_repo_id("HuggingFaceH4/MATH-500"));
        assert!(!is_repo_id("Qwen3-0.6B"));
        assert!(!is_repo_id("a/b/c"));
        assert!(!is_repo_id("./model"));
        assert!(!is_repo_id("../x/y"));
    }
}
