//! Training utilities shared by the SFT trainer (book chapter 8) and the GRPO trainer
//! (chapters 6 and 7): the optimizer, its learning-rate schedule, global-norm gradient
//! clipping, checkpoints that resume a run exactly, metrics files and plots.
//!
//! Every trainer in the book runs the same loop: compute a loss, backpropagate, clip the
//! gradients to a global norm of 1.0 (`torch.nn.utils.clip_grad_norm_`), take an AdamW step,
//! log, and now and then save a checkpoint. This crate holds those pieces once, written to
//! match PyTorch's semantics where burn's built-ins differ:
//!
//! ```text
//! n = ||g||₂ over all parameters          c = min(1, max_norm / (n + 1e-6))      g ← c·g
//! θ ← θ(1 − ηλ);  m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²
//! θ ← θ − η/(1−β1^t) · m / (sqrt(v)/sqrt(1−β2^t) + ε)         ε = 1e-8, λ = 0.01 (torch)
//! η(s): constant, or linear warmup then cosine decay to a floor
//! ```
//!
//! How it departs from burn's `burn::optim`: clipping is global (burn clips each tensor by its
//! own norm), AdamW's defaults are torch's (burn: `ε = 1e-5`, `λ = 1e-4`), and the optimizer
//! state is keyed by parameter path and saved as safetensors so checkpoints resume bit for bit
//! (see [`adamw`] for the reasoning). On burn-flex, AdamW and the clipping run as one parallel
//! in-place pass per parameter, bit for bit the arithmetic of burn's ops (a private `fused`
//! module; `docs/performance-history.md`, step 19).
//!
//! # Modules
//!
//! - [`run`]: the training-run scaffold both trainers use: start or resume, gradient
//!   accumulation over micro-batches and workers, clip-and-step, typed metrics rows
//!   ([`metrics_row!`]), checkpoints and plot.
//! - [`collective`]: data parallelism across processes: the [`Collective`] trait (sum, gather;
//!   [`SingleProcess`] is the identity), shares of a batch, the gradient sum over ranks, the
//!   start-up check that every rank runs the same configuration and weights. `mpi` (cargo
//!   feature `mpi`): `MpiCollective`, the trait on MPI, for `mpirun` across processes and
//!   machines (docs/distributed.md).
//! - [`adamw`]: AdamW over any burn module, state keyed by parameter path, save/load.
//! - [`clip`]: global L2 norm of the gradients and clipping to a maximum norm.
//! - [`schedule`]: constant and warmup + cosine learning-rate schedules.
//! - [`checkpoint`]: atomic checkpoint folders (model, optimizer, RNG, data position, config).
//! - [`params`]: parameters by dotted path; generic safetensors save/load of any module.
//! - [`rng`]: exact save/restore of a `ChaCha8Rng` stream.
//! - [`metrics`]: append-only, resumable CSV metrics.
//! - [`plot`]: PNG plots of metrics columns with moving averages, in a grid of panels.
//! - [`progress`]: progress reports for a caller's callback, with an ETA.
//! - [`fs`]: atomic file and folder writes.
//!
//! # Example
//!
//! One training step of a toy linear model, as every trainer here does it:
//!
//! ```
//! use burn::module::Module;
//! use burn::nn::{Linear, LinearConfig};
//! use burn::optim::GradientsParams;
//! use burn::tensor::{Device, Tensor};
//! use reasoning_train::{AdamW, AdamWConfig, LrSchedule, clip_grad_norm, ensure_finite};
//!
//! # fn main() -> Result<(), reasoning_train::TrainError> {
//! let device = Device::flex().autodiff();
//! let mut model: Linear = LinearConfig::new(4, 1).init(&device);
//! let mut optim = AdamW::new(AdamWConfig::default())?;
//! let schedule = LrSchedule::WarmupCosine { peak_lr: 1e-2, min_lr: 1e-3, warmup_steps: 2, total_steps: 10 };
//! for step in 0..10 {
//!     let x = Tensor::<2>::ones([8, 4], &device);
//!     let loss = model.forward(x).powf_scalar(2.0).mean();
//!     ensure_finite("loss", step, f64::from(loss.clone().into_scalar::<f32>()))?;
//!     let mut grads = GradientsParams::from_grads(loss.backward(), &model);
//!     let norm = clip_grad_norm(&model, &mut grads, 1.0);
//!     ensure_finite("gradient norm", step, norm)?;
//!     model = optim.step(schedule.lr(step), model, grads);
//! }
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! - `mpi` (off by default): the `mpi` module, on the system's MPI library (Open MPI or
//!   MPICH; building needs `mpicc` and libclang).
//!
//! Plots use plotters' bitmap backend with an embedded font (`assets/DejaVuSans.ttf`).

#![deny(missing_docs)]

pub mod adamw;
pub mod checkpoint;
pub mod clip;
pub mod collective;
mod error;
pub mod fs;
mod fused;
pub mod metrics;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod parallel;
pub mod params;
pub mod plot;
pub mod progress;
pub mod rng;
pub mod run;
pub mod schedule;

pub use adamw::{AdamW, AdamWConfig};
pub use checkpoint::{
    Checkpoint, CheckpointModel, TrainerState, latest_checkpoint, load_checkpoint, save_checkpoint,
};
pub use clip::{clip_grad_norm, global_grad_norm};
pub use collective::{Collective, SingleProcess};
pub use error::{TrainError, ensure_finite};
pub use metrics::{CsvLog, CsvTable, read_csv};
pub use plot::{Panel, PlotSpec, Series, plot_metrics};
pub use progress::{EtaClock, Progress};
pub use rng::RngState;
pub use run::{
    MetricsRow, MicroStep, RunConfig, RunFolder, Started, TrainingRun, accumulate_gradients,
    accumulate_gradients_on_ranks, clip_and_step,
};
pub use schedule::LrSchedule;
