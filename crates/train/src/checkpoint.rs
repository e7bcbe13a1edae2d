//! Checkpoints that resume a run exactly: model, optimizer moments, RNG, data position, config.
//!
//! A checkpoint is one folder, written atomically (see [`crate::fs::write_dir_atomic`]):
//!
//! ```text
//! step-000200/
//!   <model files>            whatever CheckpointModel::save_weights writes; for the Qwen3
//!                            model this is the HF layout (config.json, model.safetensors), so
//!                            the folder works as `--model` (add the tokenizer via `extra_files`)
//!   optimizer.safetensors    AdamW moments and step counts, keyed by parameter path
//!   trainer_state.json       step, epoch, position in the epoch's data order, RNG state, time
//!   train_config.json        the trainer's configuration, to check a resume against
//! ```
//!
//! Resuming restores all four, so `N` steps straight and `k` steps + save + load + `N − k`
//! steps give the same parameters (tested bit for bit in `tests/resume.rs`).

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::adamw::AdamW;
use crate::fs::{read_json, write_dir_atomic, write_json_atomic};
use crate::rng::RngState;
use crate::{TrainError, params};

/// File name of the optimizer state inside a checkpoint.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// File name of the trainer state inside a checkpoint.
pub const STATE_FILE: &str = "trainer_state.json";
/// File name of the trainer configuration inside a checkpoint.
pub const TRAIN_CONFIG_FILE: &str = "train_config.json";

/// A model that can write its weights into a checkpoint folder and read them back exactly.
pub trait CheckpointModel: Module + Sized {
    /// Writes the weights (and any file needed to reload them) into the folder `dir`.
    fn save_weights(&self, dir: &Path) -> Result<(), TrainError>;

    /// Returns the model with the weights saved in `dir` by [`CheckpointModel::save_weights`],
    /// on the same device as `self`.
    fn load_weights(self, dir: &Path) -> Result<Self, TrainError>;
}

/// Where a run stands: everything besides the model and optimizer needed to continue it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Optimizer steps taken so far.
    pub step: u64,
    /// The current epoch (0-based).
    pub epoch: u64,
    /// Index, in the current epoch's data order, of the next example to train on.
    pub position: u64,
    /// The trainer's random stream (data order, sampling), at this point.
    pub rng: RngState,
    /// Seconds spent training so far, across resumes.
    pub seconds: f64,
    /// Trainer-specific values (e.g. the last validation loss).
    #[serde(default)]
    pub extra: serde_json::Value,
}

/// A loaded checkpoint.
#[derive(Debug)]
pub struct Checkpoint<M> {
    /// The model with the saved weights.
    pub model: M,
    /// The optimizer with the saved moments.
    pub optim: AdamW,
    /// Where the run stood.
    pub state: TrainerState,
    /// The trainer's configuration as saved.
    pub config: serde_json::Value,
}

/// Writes a checkpoint folder atomically: model weights, optimizer, trainer state, config,
/// and copies of `extra_files` (e.g. `tokenizer.json`, so the folder works as a model).
pub fn save_checkpoint<M: CheckpointModel>(
    dir: &Path,
    model: &M,
    optim: &AdamW,
    state: &TrainerState,
    config: &impl Serialize,
    extra_files: &[PathBuf],
) -> Result<(), TrainError> {
    write_dir_atomic(dir, |tmp| {
        model.save_weights(tmp)?;
        optim.save(&tmp.join(OPTIMIZER_FILE))?;
        write_json_atomic(&tmp.join(STATE_FILE), state)?;
        write_json_atomic(&tmp.join(TRAIN_CONFIG_FILE), config)?;
        for file in extra_files {
            let name = file.file_name().ok_or_else(|| TrainError::Config {
                what: "checkpoint extra file",
                message: format!("{} has no file name", file.display()),
            })?;
            std::fs::copy(file, tmp.join(name)).map_err(|e| TrainError::io("copy", file, e))?;
        }
        Ok(())
    })
}

/// Loads a checkpoint written by [`save_checkpoint`] into `model` (which fixes the
/// architecture and device); optimizer moments go to `device`.
pub fn load_checkpoint<M: CheckpointModel>(
    dir: &Path,
    model: M,
    device: &Device,
) -> Result<Checkpoint<M>, TrainError> {
    if !dir.is_dir() {
        return Err(TrainError::bad_file(
            dir,
            "checkpoint folder does not exist",
        ));
    }
    let model = model.load_weights(dir)?;
    let optim = AdamW::load(&dir.join(OPTIMIZER_FILE), device)?;
    optim.check_matches(&model)?;
    let state: TrainerState = read_json(&dir.join(STATE_FILE))?;
    let config: serde_json::Value = read_json(&dir.join(TRAIN_CONFIG_FILE))?;
    Ok(Checkpoint {
        model,
        optim,
        state,
        config,
    })
}

/// Returns the checkpoint folder name for a step: `step-000200`.
pub fn step_dir_name(step: u64) -> String {
    format!("step-{step:06}")
}

/// Returns the checkpoint with the highest step under `root` (folders named by
/// [`step_dir_name`] holding a trainer state), or `None` when there is none.
pub fn latest_checkpoint(root: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(root).ok()?;
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step: u64 = name.strip_prefix("step-")?.parse().ok()?;
            e.path()
                .join(STATE_FILE)
                .is_file()
                .then_some((step, e.path()))
        })
        .max_by_key(|(step, _)| *step)
        .map(|(_, path)| path)
}

/// The Qwen3/Llama model checkpoints in HF layout (`config.json` + f32 `model.safetensors`),
/// so a checkpoint folder loads anywhere a model folder does, and reloads bit for bit.
impl CheckpointModel for reasoning_model::Model {
    fn save_weights(&self, dir: &Path) -> Result<(), TrainError> {
        self.save_hf(dir, reasoning_model::DType::F32)
            .map_err(|e| TrainError::Model {
                path: dir.to_path_buf(),
                message: e.to_string(),
            })
    }

    fn load_weights(self, dir: &Path) -> Result<Self, TrainError> {
        reasoning_model::Model::load(dir, &self.device(), self.dtype()).map_err(|e| {
            TrainError::Model {
                path: dir.to_path_buf(),
                message: e.to_string(),
            }
        })
    }
}

/// [`CheckpointModel`] through [`params::save_params`]: any module, saved by parameter path
/// in `weights.safetensors`. Useful for modules that have no format of their own.
pub fn save_module_weights<M: Module>(module: &M, dir: &Path) -> Result<(), TrainError> {
    params::save_params(module, &dir.join("weights.safetensors"))
}

/// Loads weights saved by [`save_module_weights`].
pub fn load_module_weights<M: Module>(module: M, dir: &Path) -> Result<M, TrainError> {
    params::load_params(module, &dir.join("weights.safetensors"))
}
