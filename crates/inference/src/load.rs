//! Loading a model with its matching tokenizer from one spec: an HF folder, a `.gguf` file, one
//! of the book's `.pth` checkpoints or a hub id. This is the one place that knows both the model and the tokenizer crates.

use std::path::Path;

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::Tensor;
use reasoning_model::{Config, DType, Device, Model, ModelPath, hub};
use reasoning_tokenizer::Tokenizer;

use crate::error::{InferenceError, Result};

/// A model, its tokenizer and a name to show in reports.
#[derive(Debug)]
pub struct LoadedModel {
    /// The decoder.
    pub model: Model,
    /// Its tokenizer (vocabulary, special ids, chat template).
    pub tokenizer: Tokenizer,
    /// A short display name: the hub id, the folder name or the file stem.
    pub name: String,
}

impl LoadedModel {
    /// Resolves `spec` (see [`reasoning_model::hub::resolve`]) and loads the model with the
    /// tokenizer stored beside it: the folder's `tokenizer.json` and side files, or the GGUF
    /// file's vocabulary. `tokenizer` overrides where the tokenizer is read from.
    ///
    /// # Errors
    /// The spec resolves to nothing, either part fails to load, or the tokenizer has more ids
    /// than the model's embedding.
    pub fn load(
        spec: &str,
        tokenizer: Option<&Path>,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        Self::load_with_config(spec, tokenizer, None, device, dtype)
    }

    /// [`load`](Self::load), with the configuration of a `.pth` checkpoint given instead of
    /// inferred from its shapes (see [`Model::load_pth`]). A `.pth` file's tokenizer is the
    /// `tokenizer` argument, else the `tokenizer.json` in the file's folder (with its side
    /// files).
    ///
    /// # Errors
    /// Those of [`load`](Self::load); [`InferenceError::ConfigNotApplicable`] for a `config`
    /// with anything but a `.pth` file; [`InferenceError::NoTokenizer`] for a `.pth` file with
    /// no tokenizer given nor beside it.
    pub fn load_with_config(
        spec: &str,
        tokenizer: Option<&Path>,
        config: Option<&Config>,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        let resolved = hub::resolve(spec)?;
        let model = match (&resolved, config) {
            (ModelPath::Pth(path), config) => Model::load_pth(path, config, device, dtype)?,
            (_, Some(_)) => {
                return Err(InferenceError::ConfigNotApplicable { model: spec.into() });
            }
            (other, None) => Model::load(other.path(), device, dtype)?,
        };
        let tokenizer = match (tokenizer, &resolved) {
            (Some(path), _) => Tokenizer::load(path)?,
            (None, ModelPath::Pth(path)) => {
                let dir = path.parent().unwrap_or(Path::new("."));
                if !dir.join("tokenizer.json").is_file() {
                    return Err(InferenceError::NoTokenizer {
                        model: path.clone(),
                    });
                }
                Tokenizer::from_dir(dir)?
            }
            (None, other) => Tokenizer::load(other.path())?,
        };
        let name = display_name(spec, &resolved);
        Self::assemble(model, tokenizer, name)
    }

    /// A model of the given architecture with seeded random weights, with a tokenizer loaded
    /// from `tokenizer` (for benchmarks: Qwen3-0.6B's shapes without its weights).
    pub fn random(
        config: &Config,
        tokenizer: &Path,
        name: impl Into<String>,
        device: &Device,
        dtype: DType,
        seed: u64,
    ) -> Result<Self> {
        let model = random_model(config, device, dtype, seed);
        Self::assemble(model, Tokenizer::load(tokenizer)?, name.into())
    }

    /// Pairs a model and a tokenizer after checking that every tokenizer id has an embedding.
    pub fn assemble(model: Model, tokenizer: Tokenizer, name: String) -> Result<Self> {
        let model_vocab = model.config().vocab_size;
        if tokenizer.vocab_size() > model_vocab {
            return Err(InferenceError::VocabMismatch {
                model: name,
                tokenizer_vocab: tokenizer.vocab_size(),
                model_vocab,
            });
        }
        Ok(Self {
            model,
            tokenizer,
            name,
        })
    }

    /// A generation configuration for this model: its stop ids, only ids its tokenizer knows,
    /// at most `max_new_tokens` new ids, decoded as `decoding`.
    pub fn generation_config(
        &self,
        max_new_tokens: usize,
        decoding: crate::Decoding,
    ) -> crate::GenerationConfig {
        crate::GenerationConfig::greedy(max_new_tokens, &self.stop_ids())
            .with_decoding(decoding)
            .with_vocab_limit(self.tokenizer.vocab_size())
    }

    /// The ids that end generation: the tokenizer's, else the model config's `eos_token_id`.
    pub fn stop_ids(&self) -> Vec<u32> {
        let ids = self.tokenizer.eos_token_ids();
        if ids.is_empty() {
            self.model.config().eos_token_id.clone()
        } else {
            ids.to_vec()
        }
    }
}

/// A model of the given architecture with seeded random weights (`Model::init`), its
/// parameters cast to `dtype` as the loaders do.
pub fn random_model(config: &Config, device: &Device, dtype: DType, seed: u64) -> Model {
    let model = Model::init(config, device, seed);
    if dtype == DType::F32 {
        model
    } else {
        model.map(&mut CastParams(dtype.burn()))
    }
}

/// The hub id as given, else the folder name or file stem.
fn display_name(spec: &str, resolved: &ModelPath) -> String {
    let path = resolved.path();
    if !Path::new(spec).exists() {
        return spec.to_string();
    }
    let name = match resolved {
        ModelPath::Gguf(p) | ModelPath::Pth(p) => p.file_stem(),
        ModelPath::HfDir(p) => p.file_name(),
    };
    name.map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Casts every float parameter to one dtype, as the loaders do for `DType::BF16`.
struct CastParams(burn::tensor::DType);

impl ModuleMapper for CastParams {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|t| t.cast(dtype))
    }
}
