//! One training-run scaffold for every trainer (GRPO, SFT, a user's own): the parts of a
//! training loop that are not the algorithm.
//!
//! ```text
//! start      TrainingRun::start       fresh (seeded RNG, new AdamW) or resume from the latest
//!                                     checkpoint (refused when its config differs)
//! gradients  accumulate_gradients     micro-batches on `workers` threads, each on its own fork
//!                                     of the parameters; gradients summed in micro-batch order,
//!                                     every loss checked finite
//! update     clip_and_step            global-norm clipping (or just the norm), finite check, AdamW
//! log        TrainingRun::log         one typed row per step ([`MetricsRow`], `metrics_row!`)
//! save       TrainingRun::checkpoint  every `every` steps, at the last step, and when a stop is
//!                                     requested (Ctrl-C); each checkpoint redraws the plot
//! ```
//!
//! **Ranks.** With a [`Collective`] of more than one rank (data parallelism, see
//! [`crate::collective`]), every rank runs this scaffold on the same state: `start` checks that
//! the ranks agree on the configuration, the checkpoint they resume from and the weights;
//! only rank 0 writes (`metrics.csv`, checkpoints, the plot); a stop requested on any rank
//! stops them all after the same step.
//!
//! The trainer keeps its own state between these calls (data cursor, evaluation history in
//! [`TrainerState::extra`]), so a resumed run continues exactly where the checkpoint was
//! written. Nothing here prints: progress goes through [`TrainingRun::progress`] values the
//! caller hands to its own callback.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::checkpoint::step_dir_name;
use crate::collective::{Collective, agree, agree_hash, params_hash};
use crate::{
    AdamW, AdamWConfig, CheckpointModel, CsvLog, EtaClock, PlotSpec, Progress, RngState,
    TrainError, TrainerState, clip_grad_norm, ensure_finite, global_grad_norm, latest_checkpoint,
    load_checkpoint, plot_metrics, read_csv, save_checkpoint,
};

/// A row of a trainer's `metrics.csv`: its CSV columns are its field names, in order.
///
/// Implemented by [`metrics_row!`](crate::metrics_row), which declares the struct and derives
/// the columns from it, so a row can never disagree with its header.
pub trait MetricsRow {
    /// The CSV header, one name per field.
    const COLUMNS: &'static [&'static str];

    /// The row's values in column order (`None`: an empty cell).
    fn values(&self) -> Vec<Option<f64>>;
}

/// A value of a metrics cell: `f64` always has one, `Option<f64>` may be empty.
pub trait MetricValue {
    /// The cell's value.
    fn cell(&self) -> Option<f64>;
}

impl MetricValue for f64 {
    fn cell(&self) -> Option<f64> {
        Some(*self)
    }
}

impl MetricValue for Option<f64> {
    fn cell(&self) -> Option<f64> {
        *self
    }
}

/// Declares a metrics row struct (fields of type `f64` or `Option<f64>`) and implements
/// [`MetricsRow`] for it, with the field names as CSV columns.
///
/// ```
/// reasoning_train::metrics_row! {
///     /// One row per step.
///     pub struct Row {
///         /// The step.
///         pub step: f64,
///         /// Validation loss, when measured.
///         pub val_loss: Option<f64>,
///     }
/// }
/// use reasoning_train::run::MetricsRow;
/// assert_eq!(Row::COLUMNS, ["step", "val_loss"]);
/// assert_eq!(Row { step: 3.0, val_loss: None }.values(), vec![Some(3.0), None]);
/// ```
#[macro_export]
macro_rules! metrics_row {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Default)]
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field: $ty ),*
        }

        impl $crate::run::MetricsRow for $name {
            const COLUMNS: &'static [&'static str] = &[$(stringify!($field)),*];

            fn values(&self) -> Vec<Option<f64>> {
                vec![$($crate::run::MetricValue::cell(&self.$field)),*]
            }
        }
    };
}

/// What the scaffold needs of a trainer's configuration: it is saved in every checkpoint (a
/// resume with another configuration is refused), and it names the optimizer's settings and
/// the seed of a fresh run's random stream.
pub trait RunConfig: Serialize {
    /// AdamW's hyper-parameters.
    fn adamw(&self) -> AdamWConfig;
    /// The seed of the trainer's random stream (data order, sampling).
    fn seed(&self) -> u64;
}

/// Where a run writes and how it may be interrupted.
#[derive(Debug, Clone)]
pub struct RunFolder<'a> {
    /// The run folder: `metrics.csv`, `metrics.png`, `checkpoints/step-NNNNNN/`.
    pub dir: &'a Path,
    /// Files copied into every checkpoint (tokenizer files, so a checkpoint is a model folder).
    pub extra_files: Vec<PathBuf>,
    /// Continue from the latest checkpoint under `dir/checkpoints` when there is one.
    pub resume: bool,
    /// When raised (Ctrl-C), the run checkpoints after the current step and returns.
    pub stop: Option<&'a AtomicBool>,
    /// The ranks of a data-parallel run ([`crate::collective::SINGLE`]: one process).
    pub collective: &'a dyn Collective,
}

/// A started run: the scaffold, and the model, optimizer and state to train from.
#[derive(Debug)]
pub struct Started<'a, M, R> {
    /// The scaffold.
    pub run: TrainingRun<'a, R>,
    /// The model: as passed in, or with the checkpoint's weights.
    pub model: M,
    /// The optimizer: new, or with the checkpoint's moments.
    pub optim: AdamW,
    /// Where the run stands (step 0 with the seeded RNG, or the checkpoint's).
    pub state: TrainerState,
}

impl<'a, M, R> Started<'a, M, R> {
    /// Returns the scaffold, model, optimizer and state as a tuple.
    pub fn into_parts(self) -> (TrainingRun<'a, R>, M, AdamW, TrainerState) {
        (self.run, self.model, self.optim, self.state)
    }
}

/// The run folder of one training run, its metrics log, clock and checkpoints.
#[derive(Debug)]
pub struct TrainingRun<'a, R> {
    dir: PathBuf,
    extra_files: Vec<PathBuf>,
    stop: Option<&'a AtomicBool>,
    collective: &'a dyn Collective,
    config: serde_json::Value,
    plot: PlotSpec,
    /// `None` on ranks other than 0, which write nothing.
    metrics: Option<CsvLog>,
    clock: EtaClock,
    started_seconds: f64,
    resumed: Option<PathBuf>,
    last_checkpoint: Option<PathBuf>,
    row: PhantomData<R>,
}

impl<'a, R: MetricsRow> TrainingRun<'a, R> {
    /// Starts a run in `folder`: resumes from its latest checkpoint when asked and there is
    /// one (the checkpoint's model, optimizer and state; its `metrics.csv` cut back to its
    /// step), else starts at step 0 with a new AdamW of `config.adamw()` and the RNG seeded
    /// with `config.seed()` (and a fresh `metrics.csv`).
    ///
    /// `config` is saved in every checkpoint; a resume whose checkpoint was made with another
    /// configuration is refused. `plot` is redrawn into `metrics.png` at every checkpoint.
    ///
    /// With several ranks, only rank 0 creates the folder and `metrics.csv`; every rank reads
    /// the checkpoint it resumes from, so the run folder must be visible to all of them.
    ///
    /// # Errors
    /// The folder cannot be created, the checkpoint cannot be read or differs in
    /// configuration, the metrics file cannot be written, or the ranks disagree on the
    /// configuration, the checkpoint or the weights ([`TrainError::Ranks`]).
    pub fn start<M: CheckpointModel>(
        folder: RunFolder<'a>,
        config: &impl RunConfig,
        plot: PlotSpec,
        model: M,
        device: &Device,
    ) -> Result<Started<'a, M, R>, TrainError> {
        let dir = folder.dir.to_path_buf();
        let collective = folder.collective;
        let root = collective.rank() == 0;
        if root {
            std::fs::create_dir_all(&dir).map_err(|e| TrainError::io("create", &dir, e))?;
        }
        let saved = serde_json::to_value(config).map_err(|e| TrainError::Config {
            what: "run configuration",
            message: e.to_string(),
        })?;
        agree(
            collective,
            "run configuration",
            saved.to_string().as_bytes(),
        )?;
        let resumed = if folder.resume {
            latest_checkpoint(&dir.join("checkpoints"))
        } else {
            None
        };
        let resumed_name = resumed.as_ref().map(|d| d.display().to_string());
        agree(
            collective,
            "checkpoint to resume from",
            resumed_name.unwrap_or_default().as_bytes(),
        )?;
        let (model, optim, state) = match &resumed {
            Some(ckpt_dir) => {
                let ckpt = load_checkpoint(ckpt_dir, model, device)?;
                if ckpt.config != saved {
                    return Err(TrainError::Config {
                        what: "resume",
                        message: format!(
                            "checkpoint {} was made with another configuration: {} (now {})",
                            ckpt_dir.display(),
                            ckpt.config,
                            saved
                        ),
                    });
                }
                (ckpt.model, ckpt.optim, ckpt.state)
            }
            None => {
                let rng = ChaCha8Rng::seed_from_u64(config.seed());
                let state = TrainerState {
                    step: 0,
                    epoch: 0,
                    position: 0,
                    rng: RngState::capture(&rng),
                    seconds: 0.0,
                    extra: serde_json::Value::Null,
                };
                (model, AdamW::new(config.adamw())?, state)
            }
        };
        if collective.size() > 1 {
            agree_hash(collective, "model weights", params_hash(&model))?;
        }
        let metrics_path = dir.join("metrics.csv");
        let metrics = match (&resumed, root) {
            (_, false) => None,
            (Some(_), true) => Some(CsvLog::resume(&metrics_path, R::COLUMNS, state.step)?),
            (None, true) => Some(CsvLog::create(&metrics_path, R::COLUMNS)?),
        };
        let run = TrainingRun {
            dir,
            extra_files: folder.extra_files,
            stop: folder.stop,
            collective,
            config: saved,
            plot,
            metrics,
            clock: EtaClock::start(state.step),
            started_seconds: state.seconds,
            last_checkpoint: resumed.clone(),
            resumed,
            row: PhantomData,
        };
        Ok(Started {
            run,
            model,
            optim,
            state,
        })
    }

    /// Returns the run folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Returns the checkpoint the run resumed from, if it did.
    pub fn resumed(&self) -> Option<&Path> {
        self.resumed.as_deref()
    }

    /// Returns the last checkpoint written (or resumed from).
    pub fn last_checkpoint(&self) -> Option<&Path> {
        self.last_checkpoint.as_deref()
    }

    /// Returns the seconds of training across resumes, up to now.
    pub fn seconds(&self) -> f64 {
        self.started_seconds + self.clock.elapsed().as_secs_f64()
    }

    /// Returns the progress report of `step` of `total_steps`, with its elapsed time and ETA.
    pub fn progress(
        &self,
        step: u64,
        total_steps: u64,
        epoch: u64,
        metrics: Vec<(&'static str, f64)>,
    ) -> Progress {
        Progress {
            step,
            total_steps,
            epoch,
            elapsed: self.clock.elapsed(),
            eta: (step > 0)
                .then(|| self.clock.eta(step, total_steps))
                .flatten(),
            metrics,
        }
    }

    /// Returns the ranks of the run.
    pub fn collective(&self) -> &'a dyn Collective {
        self.collective
    }

    /// Whether this rank writes the run's files (rank 0).
    pub fn is_root(&self) -> bool {
        self.collective.rank() == 0
    }

    /// Appends one row to `metrics.csv` (rank 0; other ranks write nothing).
    pub fn log(&mut self, row: &R) -> Result<(), TrainError> {
        match &mut self.metrics {
            Some(m) => m.append(&row.values()),
            None => Ok(()),
        }
    }

    /// Whether a stop was requested (Ctrl-C) on this rank.
    pub fn stop_requested(&self) -> bool {
        self.stop.is_some_and(|s| s.load(Ordering::Relaxed))
    }

    /// Writes a checkpoint of `state.step` (and redraws the plot) when `every` divides the
    /// step, at the last step, or when a stop was requested. Returns whether the run should
    /// end now: a stop was requested before the last step.
    ///
    /// With several ranks, a stop requested on any rank stops every rank, and only rank 0
    /// writes.
    pub fn checkpoint<M: CheckpointModel>(
        &mut self,
        model: &M,
        optim: &AdamW,
        state: &TrainerState,
        every: u64,
        is_last: bool,
    ) -> Result<bool, TrainError> {
        // Any rank's request stops every rank (one process: the sum is the identity).
        let mut flag = [f64::from(u8::from(self.stop_requested()))];
        self.collective.sum_f64(&mut flag)?;
        let stop = flag[0] > 0.0;
        let periodic = every > 0 && state.step.is_multiple_of(every);
        if periodic || is_last || stop {
            let dir = self.dir.join("checkpoints").join(step_dir_name(state.step));
            if self.is_root() {
                save_checkpoint(&dir, model, optim, state, &self.config, &self.extra_files)?;
                self.draw_plot()?;
            }
            self.last_checkpoint = Some(dir);
        }
        Ok(stop && !is_last)
    }

    /// Ends the run: when it resumed from a checkpoint and took no step, the plot is drawn
    /// anyway. Returns the last checkpoint.
    pub fn finish(self) -> Result<Option<PathBuf>, TrainError> {
        if self.resumed.is_some() && self.last_checkpoint == self.resumed && self.is_root() {
            self.draw_plot()?;
        }
        Ok(self.last_checkpoint)
    }

    fn draw_plot(&self) -> Result<(), TrainError> {
        let Some(metrics) = &self.metrics else {
            return Ok(());
        };
        let table = read_csv(metrics.path())?;
        plot_metrics(&table, &self.plot, &self.dir.join("metrics.png"))
    }
}

/// One micro-batch's loss value, its gradients and whatever else its trainer keeps.
#[derive(Debug)]
pub struct MicroStep<O> {
    /// The micro-batch's share of the loss (checked finite before its gradients are used).
    pub loss: f64,
    /// Its gradients.
    pub grads: GradientsParams,
    /// The trainer's own values (statistics, stored log-probabilities, ...).
    pub out: O,
}

/// Sums the gradients of `chunks` (micro-batches), computing up to `workers` of them at once,
/// each on its own thread with its own fork of `model`'s parameters.
///
/// Gradients are added in micro-batch order whatever `workers` is, so the sum does not depend
/// on it. Returns the summed gradients and each micro-batch's `out`, in order.
///
/// # Errors
/// The first error of `pass`, or [`TrainError::NonFinite`] for a non-finite loss at `step`.
pub fn accumulate_gradients<M, I, O, E>(
    model: &M,
    device: &Device,
    chunks: &[I],
    workers: usize,
    step: u64,
    pass: impl Fn(&M, usize, &I) -> Result<MicroStep<O>, E> + Sync,
) -> Result<(GradientsParams, Vec<O>), E>
where
    M: Module + Sync,
    I: Sync,
    O: Send,
    E: From<TrainError> + Send,
{
    let workers = workers.max(1);
    let mut accumulator = GradientsAccumulator::<M>::new();
    let mut outs = Vec::with_capacity(chunks.len());
    for (group_index, group) in chunks.chunks(workers).enumerate() {
        let first = group_index * workers;
        let parallel = group.len() > 1;
        let results = crate::parallel::map_scoped(group, |k, chunk| {
            if parallel {
                let fork = model.clone().fork(device);
                pass(&fork, first + k, chunk)
            } else {
                pass(model, first + k, chunk)
            }
        });
        for result in results {
            let micro = result?;
            ensure_finite("loss", step, micro.loss)?;
            accumulator.accumulate(model, micro.grads);
            outs.push(micro.out);
        }
    }
    Ok((accumulator.grads(), outs))
}

/// [`accumulate_gradients`] over this rank's share of `chunks` (contiguous,
/// [`crate::collective::shard`]), then the sum of the gradients over all ranks
/// ([`crate::collective::sum_gradients`]): every rank returns the gradients of all of `chunks`.
///
/// `pass` receives a micro-batch's index within this rank's share, and the returned `out`s
/// are this rank's only: a trainer sums its own statistics over ranks. With one rank this is
/// [`accumulate_gradients`].
///
/// # Errors
/// As [`accumulate_gradients`], or the transport failed.
pub fn accumulate_gradients_on_ranks<M, I, O, E>(
    model: &M,
    device: &Device,
    chunks: &[I],
    workers: usize,
    step: u64,
    collective: &dyn Collective,
    pass: impl Fn(&M, usize, &I) -> Result<MicroStep<O>, E> + Sync,
) -> Result<(GradientsParams, Vec<O>), E>
where
    M: Module + Sync,
    I: Sync,
    O: Send,
    E: From<TrainError> + Send,
{
    let mine = crate::collective::shard(chunks.len(), collective.rank(), collective.size());
    let (grads, outs) = accumulate_gradients(model, device, &chunks[mine], workers, step, pass)?;
    let grads = crate::collective::sum_gradients(model, grads, collective)?;
    Ok((grads, outs))
}

/// Clips `grads` to the global norm `max_norm` (or only measures it with `None`), checks the
/// norm is finite and takes one AdamW step at `lr`. Returns the model and the norm before
/// clipping.
///
/// # Errors
/// [`TrainError::NonFinite`] for a non-finite norm at `step`: the model is not updated.
pub fn clip_and_step<M: Module>(
    model: M,
    optim: &mut AdamW,
    mut grads: GradientsParams,
    max_norm: Option<f64>,
    lr: f64,
    step: u64,
) -> Result<(M, f64), TrainError> {
    let norm = match max_norm {
        Some(max) => clip_grad_norm(&model, &mut grads, max),
        None => global_grad_norm(&model, &grads),
    };
    ensure_finite("gradient norm", step, norm)?;
    Ok((optim.step(lr, model, grads), norm))
}
