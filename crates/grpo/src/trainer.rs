//! The GRPO training loop (book sections 6.9 and 7.3-7.6): sample, score, compare within the
//! group, update; evaluate, log and checkpoint as it goes.
//!
//! One step:
//!
//! ```text
//! 1. snapshot   π_old = π_θ without autodiff                  rollouts never build a graph
//! 2. rollouts   P prompts × G samples from π_old (T, top-p)    each prompt prefilled once
//! 3. rewards    r_i = reward(completion_i, record)             before any policy forward pass
//! 4. advantages A_i within each group                          drop / redraw zero-variance groups
//! 5. update     one batched forward of all P·G rollouts, loss, backward, clip ‖g‖ ≤ 1, AdamW
//!               repeated inner_epochs times, on fresh rollouts from π_old (book) or the same
//!               rollouts (PPO); the first update reuses its own detached log-probs as π_old's
//! 6. log        metrics.csv row, samples.jsonl every sample_every steps, progress callback
//! 7. evaluate   greedy held-out accuracy every eval_every steps (and at the start and end)
//! 8. checkpoint every checkpoint_every steps, at the end, and when `stop` is raised (Ctrl-C)
//! ```
//!
//! **Reproducibility and resume.** The data order is a seeded shuffle per epoch; rollout `j` of
//! prompt slot `p` in step `s` draws from its own stream derived from `(seed, s, epoch of the
//! update, attempt)`, so rollouts do not depend on batching or on where a run was resumed. A
//! checkpoint holds the model, AdamW's moments, the data RNG at the start of its epoch, the
//! position in that epoch and the step; `--resume` continues exactly (tested: `k` steps, resume,
//! the rest equals the straight run bit for bit).
//!
//! **Reference model.** Built (a frozen copy of the starting weights) only when `β ≠ 0`; on
//! resume it is the model passed in, not the checkpoint, so it stays the *initial* policy.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use reasoning_inference::{
    Control, Decoding, FinishReason, Generation, GenerationConfig, PromptBuilder, SamplingParams,
    generate_batch, sample_stream,
};
use reasoning_model::Model;
use reasoning_tokenizer::Tokenizer;
use reasoning_train::checkpoint::step_dir_name;
use reasoning_train::fs::write_atomic;
use reasoning_train::{
    AdamW, AdamWConfig, CsvLog, EtaClock, LrSchedule, Progress, RngState, TrainerState,
    clip_grad_norm, ensure_finite, latest_checkpoint, load_checkpoint, plot_metrics, read_csv,
    save_checkpoint,
};
use reasoning_verifier::datasets::Record;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::advantage::{
    AdvantageMode, advantage_stats, gdpo_advantages, group_advantages, is_zero_variance, mean_std,
    process_advantages,
};
use crate::error::{GrpoError, Result};
use crate::eval::{EvalResult, evaluate_greedy};
use crate::logprob::{Packed, pack, to_host, token_logprobs};
use crate::loss::{LossInputs, LossStats, Normalizer, grpo_loss};
use crate::metrics::{METRICS_COLUMNS, metrics_plot};
use crate::preset::{Algorithm, preset};
use crate::reward::{Reward, RewardInput, RewardScore, StepReward};

/// Settings of a GRPO run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrpoConfig {
    /// The preset the algorithm started from (for the record).
    pub preset: String,
    /// Loss, advantages, reward and rollout use.
    pub algorithm: Algorithm,
    /// Training steps.
    pub steps: u64,
    /// Prompts per step `P` (the book: 1).
    pub prompts_per_step: usize,
    /// Rollouts per prompt `G` (book: `num_rollouts`).
    pub num_rollouts: usize,
    /// Most generated ids per rollout, the stop id included.
    pub max_new_tokens: usize,
    /// Sampling temperature of rollouts (book: 0.8).
    pub temperature: f32,
    /// Top-p of rollouts (book: 0.9).
    pub top_p: f32,
    /// Learning rate per step.
    pub schedule: LrSchedule,
    /// AdamW hyper-parameters (book: torch's defaults).
    pub adamw: AdamWConfig,
    /// Global gradient-norm clip (book: 1.0).
    pub max_grad_norm: f64,
    /// Rollouts per forward/backward pass; 0 puts the whole update in one pass.
    pub micro_batch_size: usize,
    /// Micro-batches of an update computed at once, each on its own thread with its own fork
    /// of the parameters (data parallelism on one device; 1: one after another). With
    /// `micro_batch_size` 0 and more than one worker, the update is split into `workers`
    /// micro-batches. Gradients are summed in micro-batch order, so a run is deterministic for
    /// a given setting.
    #[serde(default = "one_worker")]
    pub workers: usize,
    /// Evaluate every this many steps (0: only at the start and the end).
    pub eval_every: u64,
    /// Prompts per evaluation batch.
    pub eval_batch_size: usize,
    /// Most generated ids per evaluation answer.
    pub eval_max_new_tokens: usize,
    /// Checkpoint every this many steps (0: only at the end and on request).
    pub checkpoint_every: u64,
    /// Log the first group's completions every this many steps (book: 10; 0: never).
    pub sample_every: u64,
    /// Seed of the data order and of every rollout stream.
    pub seed: u64,
}

impl Default for GrpoConfig {
    /// The book's chapter-6 settings: one prompt and 8 rollouts per step, 512 new tokens,
    /// T = 0.8, top-p 0.9, AdamW at 1e-5, clipping at 1.0, seed 42, checkpoints (and
    /// evaluation) every 50 steps, samples every 10.
    fn default() -> Self {
        Self {
            preset: "6-grpo".into(),
            algorithm: preset("6-grpo").expect("6-grpo is a preset"),
            steps: 50,
            prompts_per_step: 1,
            num_rollouts: 8,
            max_new_tokens: 512,
            temperature: 0.8,
            top_p: 0.9,
            schedule: LrSchedule::Constant { lr: 1e-5 },
            adamw: AdamWConfig::default(),
            max_grad_norm: 1.0,
            micro_batch_size: 0,
            workers: 1,
            eval_every: 50,
            eval_batch_size: 64,
            eval_max_new_tokens: 512,
            checkpoint_every: 50,
            sample_every: 10,
            seed: 42,
        }
    }
}

impl GrpoConfig {
    /// Checks every setting.
    pub fn validate(&self) -> Result<()> {
        self.algorithm.validate()?;
        if self.steps == 0 {
            return Err(GrpoError::config("steps", 0, "must be at least 1"));
        }
        if self.prompts_per_step == 0 {
            return Err(GrpoError::config(
                "prompts_per_step",
                0,
                "must be at least 1",
            ));
        }
        if self.num_rollouts < 2 {
            return Err(GrpoError::config(
                "num_rollouts",
                self.num_rollouts,
                "a group needs at least 2 rollouts to compare",
            ));
        }
        if self.max_new_tokens == 0 || self.eval_max_new_tokens == 0 {
            return Err(GrpoError::config(
                "max_new_tokens",
                self.max_new_tokens.min(self.eval_max_new_tokens),
                "must be at least 1",
            ));
        }
        if !(self.max_grad_norm > 0.0 && self.max_grad_norm.is_finite()) {
            return Err(GrpoError::config(
                "max_grad_norm",
                self.max_grad_norm,
                "must be a positive number",
            ));
        }
        SamplingParams::temperature(self.temperature)
            .with_top_p(self.top_p)
            .validate()?;
        self.schedule.validate()?;
        self.adamw.validate()?;
        Ok(())
    }
}

/// The problems of a run and how they become prompts.
#[derive(Debug, Clone, Copy)]
pub struct GrpoData<'a> {
    /// Training problems (`problem` and `answer` fields are used).
    pub train: &'a [Record],
    /// Held-out problems for the greedy accuracy (may be empty).
    pub eval: &'a [Record],
    /// Problem → prompt ids (book prompt, chat template, thinking switch).
    pub prompt: PromptBuilder,
}

/// Where a run writes and how it may be interrupted.
#[derive(Debug, Clone)]
pub struct GrpoRun<'a> {
    /// The run folder: `metrics.csv`, `metrics.png`, `samples.jsonl`, `eval/`,
    /// `checkpoints/step-NNNNNN/`, `model/`.
    pub dir: &'a Path,
    /// Files copied into every checkpoint and the final model (tokenizer files, so a
    /// checkpoint is a model folder).
    pub extra_files: Vec<PathBuf>,
    /// Continue from the latest checkpoint under `dir/checkpoints` when there is one.
    pub resume: bool,
    /// When raised (Ctrl-C), the run checkpoints after the current step and returns.
    pub stop: Option<&'a AtomicBool>,
    /// Write the final model to `dir/model` (HF layout plus `extra_files`).
    pub save_model: bool,
}

/// What a run returns.
#[derive(Debug)]
pub struct GrpoOutcome {
    /// The trained model (on the training device).
    pub model: Model,
    /// Steps done in total.
    pub steps: u64,
    /// Held-out accuracy of the starting model.
    pub start_accuracy: Option<f64>,
    /// Held-out accuracy at the end.
    pub final_accuracy: Option<f64>,
    /// Every evaluation as `(step, accuracy)`, the start as step 0.
    pub eval_history: Vec<(u64, f64)>,
    /// Held-out problems per evaluation.
    pub eval_n: usize,
    /// Seconds across resumes (evaluations included).
    pub seconds: f64,
    /// Whether the run stopped on request before the last step.
    pub interrupted: bool,
    /// The last checkpoint written.
    pub checkpoint: Option<PathBuf>,
    /// The final model folder, when saved.
    pub model_dir: Option<PathBuf>,
}

/// One sampled rollout with its reward and advantage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rollout {
    /// The generated ids (stop id included when it ended with one).
    pub ids: Vec<u32>,
    /// The decoded text.
    pub text: String,
    /// Why it ended.
    pub finish: FinishReason,
    /// Its reward components.
    pub score: RewardScore,
    /// `r_i`, the weighted sum.
    pub reward: f64,
    /// `A_i` (0 until advantages are computed); under process supervision the first token's.
    pub advantage: f64,
    /// Process supervision only: the steps as `(end token, reward)`, each covering the
    /// tokens before its end.
    #[serde(skip)]
    pub steps: Vec<(usize, f64)>,
    /// Process supervision only: `A_it` of every generated id.
    #[serde(skip)]
    pub token_advantages: Vec<f64>,
}

/// The `G` rollouts of one prompt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// Index of the record in the training split.
    pub record: usize,
    /// The prompt ids.
    #[serde(skip)]
    pub prompt: Vec<u32>,
    /// The rollouts.
    pub rollouts: Vec<Rollout>,
}

impl Group {
    fn rewards(&self) -> Vec<f64> {
        self.rollouts.iter().map(|r| r.reward).collect()
    }
}

/// The rollouts of one update: the groups trained on and those dropped for zero variance.
#[derive(Debug, Clone, Default)]
struct Batch {
    kept: Vec<Group>,
    dropped: Vec<Group>,
    generated_tokens: usize,
}

/// The running position in the data: a shuffled order per epoch.
struct DataCursor {
    rng: ChaCha8Rng,
    order: Vec<usize>,
}

impl DataCursor {
    fn new(state: &TrainerState, n: usize) -> Result<Self> {
        let mut rng = state.rng.restore()?;
        let order = shuffled(n, &mut rng);
        Ok(Self { rng, order })
    }

    /// Returns the next record index, starting a new epoch when the order is used up.
    fn next(&mut self, state: &mut TrainerState) -> usize {
        if state.position as usize >= self.order.len() {
            state.epoch += 1;
            state.position = 0;
            state.rng = RngState::capture(&self.rng);
            self.order = shuffled(self.order.len(), &mut self.rng);
        }
        let i = self.order[state.position as usize];
        state.position += 1;
        i
    }
}

fn shuffled(n: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    order
}

/// SplitMix64's finaliser, to derive stream seeds.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Everything the step functions share.
struct Ctx<'a> {
    config: &'a GrpoConfig,
    tok: &'a Tokenizer,
    records: &'a [Record],
    prompts: &'a [Vec<u32>],
    reward: &'a dyn Reward,
    generation: GenerationConfig,
    pad_id: u32,
}

impl Ctx<'_> {
    /// Samples and scores the groups of one update (step 1-4 of the module docs).
    ///
    /// `next` yields the record of each prompt slot; the step's later updates replay the
    /// first update's prompts (the book re-samples the same example).
    fn collect(
        &self,
        policy: &Model,
        step: u64,
        epoch: usize,
        next: &mut dyn FnMut() -> usize,
    ) -> Result<Batch> {
        let a = &self.config.algorithm;
        let g = self.config.num_rollouts;
        let mut batch = Batch::default();
        for attempt in 0..=a.active_sampling_tries {
            let need = self.config.prompts_per_step - batch.kept.len();
            if need == 0 {
                break;
            }
            let picks: Vec<usize> = (0..need).map(|_| next()).collect();
            let prompts: Vec<Vec<u32>> = picks.iter().map(|&i| self.prompts[i].clone()).collect();
            let seed = self.config.seed ^ mix(step ^ mix(((epoch as u64) << 32) | attempt as u64));
            let mut streams: Vec<ChaCha8Rng> = (0..need * g)
                .map(|row| sample_stream(seed, (row / g) as u64, (row % g) as u64))
                .collect();
            let out = generate_batch(policy, &prompts, g, &self.generation, &mut streams, |_| {
                Control::Continue
            })?;
            batch.generated_tokens += out.stats.generated_tokens;
            let mut rows = out.generations.into_iter();
            for (slot, &record) in picks.iter().enumerate() {
                let generations: Vec<Generation> = rows.by_ref().take(g).collect();
                let group = self.score_group(record, &prompts[slot], generations, slot * g)?;
                if a.filter_zero_variance && is_zero_variance(&group.rewards()) {
                    batch.dropped.push(group);
                } else {
                    batch.kept.push(group);
                }
            }
            if !a.filter_zero_variance {
                break;
            }
        }
        self.advantages(&mut batch.kept);
        Ok(batch)
    }

    /// Decodes and scores one prompt's generations.
    fn score_group(
        &self,
        record: usize,
        prompt: &[u32],
        generations: Vec<Generation>,
        first_row: usize,
    ) -> Result<Group> {
        let mut rollouts = Vec::with_capacity(generations.len());
        for (j, g) in generations.into_iter().enumerate() {
            let text = self.tok.decode(g.content_ids(), false)?;
            let input = RewardInput {
                text: &text,
                ids: &g.ids,
                finish: g.finish,
                record: &self.records[record],
            };
            let fail = |message: String| GrpoError::Reward {
                reward: self.reward.name(),
                rollout: first_row + j,
                message,
            };
            let score = self.reward.score(&input).map_err(fail)?;
            if let Some(c) = score.components.iter().find(|c| !c.value.is_finite()) {
                return Err(fail(format!("component {:?} is {}", c.name, c.value)));
            }
            let reward = score.total();
            let steps = if matches!(
                self.config.algorithm.advantage,
                AdvantageMode::Process { .. }
            ) {
                let steps = self.reward.steps(&input).map_err(fail)?;
                let steps = steps.unwrap_or_else(|| {
                    vec![StepReward {
                        end: text.len(),
                        value: reward,
                    }]
                });
                if let Some(s) = steps.iter().find(|s| !s.value.is_finite()) {
                    return Err(fail(format!("a step reward is {}", s.value)));
                }
                self.token_steps(g.content_ids(), g.ids.len(), &text, &steps)?
            } else {
                Vec::new()
            };
            rollouts.push(Rollout {
                ids: g.ids,
                text,
                finish: g.finish,
                score,
                reward,
                advantage: 0.0,
                steps,
                token_advantages: Vec::new(),
            });
        }
        Ok(Group {
            record,
            prompt: prompt.to_vec(),
            rollouts,
        })
    }

    /// Maps steps ending at byte offsets of `text` (the decoded `content` ids) to steps ending
    /// at token counts ([`token_steps`]).
    fn token_steps(
        &self,
        content: &[u32],
        total: usize,
        text: &str,
        steps: &[StepReward],
    ) -> Result<Vec<(usize, f64)>> {
        let decode = |ids: &[u32]| Ok(self.tok.decode(ids, false)?.len());
        token_steps(content, total, text.len(), steps, decode)
    }

    /// Fills in every kept rollout's advantage.
    fn advantages(&self, groups: &mut [Group]) {
        match self.config.algorithm.advantage {
            AdvantageMode::Process { eps, std } => {
                for g in groups {
                    let steps: Vec<Vec<(usize, f64)>> =
                        g.rollouts.iter().map(|r| r.steps.clone()).collect();
                    let lengths: Vec<usize> = g.rollouts.iter().map(|r| r.ids.len()).collect();
                    let adv = process_advantages(&steps, &lengths, eps, std);
                    for (r, a) in g.rollouts.iter_mut().zip(adv) {
                        r.advantage = a.first().copied().unwrap_or(0.0);
                        r.token_advantages = a;
                    }
                }
            }
            AdvantageMode::Gdpo { eps } => {
                let Some(first) = groups.first().and_then(|g| g.rollouts.first()) else {
                    return;
                };
                let weights: Vec<f64> = first.score.components.iter().map(|c| c.weight).collect();
                let comps: Vec<Vec<f64>> = groups
                    .iter()
                    .flat_map(|g| &g.rollouts)
                    .map(|r| r.score.components.iter().map(|c| c.value).collect())
                    .collect();
                let adv = gdpo_advantages(&comps, &weights, self.config.num_rollouts, eps);
                for (r, a) in groups.iter_mut().flat_map(|g| &mut g.rollouts).zip(adv) {
                    r.advantage = a;
                }
            }
            mode => {
                for g in groups {
                    let adv = group_advantages(&g.rewards(), mode);
                    for (r, a) in g.rollouts.iter_mut().zip(adv) {
                        r.advantage = a;
                    }
                }
            }
        }
    }
}

/// The serde default of [`GrpoConfig::workers`] (configs written before it existed).
fn one_worker() -> usize {
    1
}

/// What one optimizer update measured.
#[derive(Debug, Clone, Default)]
struct UpdateStats {
    loss: LossStats,
    grad_norm: Option<f64>,
    entropy: Option<f64>,
    skipped: bool,
}

/// Per micro-batch log-probabilities of the rollout policy, kept for later updates that reuse
/// the same rollouts.
type OldLogprobs = Vec<(Vec<f32>, Vec<f64>)>;

/// Runs one optimizer update on `batch` (step 5 of the module docs).
#[allow(clippy::too_many_arguments)]
fn update(
    ctx: &Ctx<'_>,
    model: Model,
    optim: &mut AdamW,
    lr: f64,
    step: u64,
    batch: &Batch,
    old_policy: Option<&Model>,
    stored_old: &mut OldLogprobs,
    reference: Option<&Model>,
) -> Result<(Model, UpdateStats)> {
    let config = ctx.config;
    let algorithm = &config.algorithm;
    let rollouts: Vec<(&Group, &Rollout)> = batch
        .kept
        .iter()
        .flat_map(|g| g.rollouts.iter().map(move |r| (g, r)))
        .collect();
    let scored = |r: &Rollout| !(algorithm.mask_truncated && r.finish == FinishReason::Length);
    let live: Vec<&(&Group, &Rollout)> = rollouts
        .iter()
        .filter(|(_, r)| scored(r) && !r.ids.is_empty())
        .collect();
    let norm = Normalizer {
        rollouts: live.len() as f64,
        tokens: live.iter().map(|(_, r)| r.ids.len() as f64).sum(),
        max_len: config.max_new_tokens as f64,
    };
    let all_zero = rollouts
        .iter()
        .all(|(_, r)| r.advantage == 0.0 && r.token_advantages.iter().all(|&a| a == 0.0));
    let no_kl = algorithm.loss.kl_coef == 0.0;
    if rollouts.is_empty()
        || live.is_empty()
        || (all_zero && no_kl && algorithm.skip_zero_advantage)
    {
        return Ok((
            model,
            UpdateStats {
                skipped: true,
                ..UpdateStats::default()
            },
        ));
    }

    let workers = config.workers.max(1);
    let micro = match config.micro_batch_size {
        0 => rollouts.len().div_ceil(workers),
        m => m,
    };
    let reuse = !stored_old.is_empty();
    let keep_old = !reuse && algorithm.inner_epochs > 1 && !algorithm.resample_each_epoch;
    let chunks: Vec<&[(&Group, &Rollout)]> = rollouts.chunks(micro).collect();
    let pass = |model: &Model, index: usize, chunk: &[(&Group, &Rollout)]| {
        let stored = reuse.then(|| stored_old[index].clone());
        chunk_pass(
            ctx,
            model,
            chunk,
            stored,
            old_policy,
            reference.filter(|_| !no_kl),
            norm,
            keep_old,
        )
    };
    let mut accumulator = GradientsAccumulator::<Model>::new();
    let mut stats = UpdateStats::default();
    let (mut entropy_sum, mut entropy_n) = (0.0, 0usize);
    let mut fresh_old = Vec::new();
    for (group_index, group) in chunks.chunks(workers).enumerate() {
        let first = group_index * workers;
        let parallel = group.len() > 1;
        let device = model.device();
        let outs = reasoning_train::parallel::map_scoped(group, |k, chunk| {
            if parallel {
                let fork = model.clone().fork(&device);
                pass(&fork, first + k, chunk)
            } else {
                pass(&model, first + k, chunk)
            }
        });
        for out in outs {
            let out = out?;
            ensure_finite("loss", step, out.stats.loss)?;
            stats.loss.add(&out.stats);
            entropy_sum += out.entropy_sum;
            entropy_n += out.entropy_n;
            fresh_old.extend(out.old);
            accumulator.accumulate(&model, out.grads);
        }
    }
    stored_old.extend(fresh_old);
    let mut grads = accumulator.grads();
    let grad_norm = clip_grad_norm(&model, &mut grads, config.max_grad_norm);
    ensure_finite("gradient norm", step, grad_norm)?;
    let model = optim.step(lr, model, grads);
    stats.grad_norm = Some(grad_norm);
    stats.entropy = (entropy_n > 0).then(|| entropy_sum / entropy_n as f64);
    Ok((model, stats))
}

/// What one micro-batch of an update produced.
struct ChunkOut {
    grads: GradientsParams,
    stats: LossStats,
    entropy_sum: f64,
    entropy_n: usize,
    /// The rollout policy's log-probabilities and entropies of this micro-batch, when asked
    /// for (later updates of the same batch reuse them).
    old: Option<(Vec<f32>, Vec<f64>)>,
}

/// Forward and backward of one micro-batch of rollouts (step 5 of the module docs):
/// `stored` holds its old-policy log-probabilities from an earlier update of the same batch.
#[allow(clippy::too_many_arguments)]
fn chunk_pass(
    ctx: &Ctx<'_>,
    model: &Model,
    chunk: &[(&Group, &Rollout)],
    stored: Option<(Vec<f32>, Vec<f64>)>,
    old_policy: Option<&Model>,
    reference: Option<&Model>,
    norm: Normalizer,
    keep_old: bool,
) -> Result<ChunkOut> {
    let algorithm = &ctx.config.algorithm;
    let scored = |r: &Rollout| !(algorithm.mask_truncated && r.finish == FinishReason::Length);
    let pairs: Vec<(&[u32], &[u32])> = chunk
        .iter()
        .map(|(g, r)| (g.prompt.as_slice(), r.ids.as_slice()))
        .collect();
    let packed = pack(&pairs, ctx.pad_id);
    let mut mask = packed.mask.clone();
    for (i, (_, r)) in chunk.iter().enumerate() {
        if !scored(r) {
            mask[i * packed.cols..(i + 1) * packed.cols].fill(0.0);
        }
    }
    // The current policy, with gradient; entropy only when no other pass gives it.
    let first_pass = old_policy.is_none() && stored.is_none();
    let current = token_logprobs(model, &packed, first_pass);
    let (old, entropies): (Vec<f32>, Vec<f64>) = if let Some(stored) = stored {
        stored
    } else if let Some(old_model) = old_policy {
        let o = token_logprobs(old_model, &packed, true);
        (to_host(o.logp), o.entropy.unwrap_or_default())
    } else {
        // Step 5.1: one update per snapshot: π_old is π_θ itself, no second pass needed.
        (
            to_host(current.logp.clone().detach()),
            current.entropy.clone().unwrap_or_default(),
        )
    };
    let (mut entropy_sum, mut entropy_n) = (0.0, 0usize);
    for (e, (_, r)) in entropies.iter().zip(chunk) {
        if scored(r) {
            entropy_sum += e;
            entropy_n += 1;
        }
    }
    let ref_logp =
        reference.map(|reference| to_host(token_logprobs(reference, &packed, false).logp));
    let inputs = LossInputs {
        rows: packed.rows,
        cols: packed.cols,
        old_logp: old,
        ref_logp,
        mask,
        advantages: chunk.iter().map(|(_, r)| r.advantage as f32).collect(),
        token_advantages: token_advantages(chunk, &packed),
        norm,
    };
    let out = grpo_loss(&algorithm.loss, current.logp, &inputs);
    let stats = out.stats;
    let grads = if stats.loss.is_finite() {
        GradientsParams::from_grads(out.loss.backward(), model)
    } else {
        GradientsParams::new()
    };
    Ok(ChunkOut {
        grads,
        stats,
        entropy_sum,
        entropy_n,
        old: keep_old.then_some((inputs.old_logp, entropies)),
    })
}

/// Maps steps ending at byte offsets of a completion's text to steps ending at token counts:
/// a step ends after the shortest prefix of `content` whose decoded length (`decoded_len`)
/// reaches its end; a step ending at the end of the text (`text_len`) covers all `total` ids,
/// the stop id included.
fn token_steps(
    content: &[u32],
    total: usize,
    text_len: usize,
    steps: &[StepReward],
    decoded_len: impl Fn(&[u32]) -> Result<usize>,
) -> Result<Vec<(usize, f64)>> {
    let mut out = Vec::with_capacity(steps.len());
    for s in steps {
        if s.end >= text_len {
            out.push((total, s.value));
            continue;
        }
        // The decoded length grows with the prefix: binary search.
        let (mut lo, mut hi) = (1, content.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if decoded_len(&content[..mid])? >= s.end {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        out.push((lo, s.value));
    }
    Ok(out)
}

/// Lays out the rollouts' per-token advantages like `packed`'s scored positions (process
/// supervision; `None` when no rollout has them).
fn token_advantages(chunk: &[(&Group, &Rollout)], packed: &Packed) -> Option<Vec<f32>> {
    if chunk.iter().all(|(_, r)| r.token_advantages.is_empty()) {
        return None;
    }
    let mut out = vec![0.0f32; packed.rows * packed.cols];
    for (i, (_, r)) in chunk.iter().enumerate() {
        let row = i * packed.cols..(i + 1) * packed.cols;
        let positions = packed.mask[row.clone()].iter().enumerate();
        let scored = positions
            .filter(|(_, m)| **m > 0.0)
            .map(|(c, _)| row.start + c);
        for (k, a) in scored.zip(&r.token_advantages) {
            out[k] = *a as f32;
        }
    }
    Some(out)
}

/// Trains `model` (on an autodiff device) with GRPO on `data`.
///
/// `reward` overrides the preset's built-in reward ([`crate::reward::RewardSpec`]); it must be
/// deterministic. Writes `metrics.csv` (one row per step, columns [`METRICS_COLUMNS`]),
/// `metrics.png` (the book's 2×2 figure), `samples.jsonl`, `eval/step-NNNNNN.jsonl`,
/// checkpoints and the final model under `run.dir`, and reports each step to `progress`.
///
/// # Errors
/// A setting out of range, a record whose prompt cannot be built or does not fit the context,
/// a failing reward, a non-finite loss or gradient norm (the run stops before updating; the
/// last checkpoint is the last good state), or an I/O failure.
pub fn train(
    model: Model,
    tok: &Tokenizer,
    data: GrpoData<'_>,
    reward: Option<&dyn Reward>,
    config: &GrpoConfig,
    run: &GrpoRun<'_>,
    progress: &mut dyn FnMut(&Progress),
) -> Result<GrpoOutcome> {
    config.validate()?;
    if data.train.is_empty() {
        return Err(GrpoError::config("train", "[]", "no training problems"));
    }
    let device = model.device();
    if !device.is_autodiff() {
        return Err(GrpoError::config(
            "device",
            "no autodiff",
            "GRPO needs the model on an autodiff device (device.autodiff())",
        ));
    }
    let encode = |records: &[Record], split: &str| -> Result<Vec<Vec<u32>>> {
        let context = model.config().max_position_embeddings;
        records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let fail = |message: String| GrpoError::Record {
                    index: i,
                    id: r.unique_id.clone().unwrap_or_else(|| format!("{split}-")),
                    message,
                };
                let ids = data
                    .prompt
                    .problem_ids(tok, &r.problem)
                    .map_err(|e| fail(e.to_string()))?;
                if ids.is_empty() {
                    return Err(fail("the prompt has no tokens".into()));
                }
                if ids.len() >= context {
                    return Err(fail(format!(
                        "the prompt has {} tokens, the model's context is {context}",
                        ids.len()
                    )));
                }
                Ok(ids)
            })
            .collect()
    };
    let train_prompts = encode(data.train, "train")?;
    let eval_prompts = encode(data.eval, "eval")?;
    let built;
    let reward: &dyn Reward = match reward {
        Some(r) => r,
        None => {
            built = config.algorithm.reward.build(tok);
            built.as_ref()
        }
    };
    let stop_ids = if tok.eos_token_ids().is_empty() {
        model.config().eos_token_id.clone()
    } else {
        tok.eos_token_ids().to_vec()
    };
    let vocab_limit = tok.vocab_size();
    let sampling = SamplingParams::temperature(config.temperature).with_top_p(config.top_p);
    let generation = GenerationConfig::greedy(config.max_new_tokens, &stop_ids)
        .with_decoding(Decoding::Sample(sampling))
        .with_vocab_limit(vocab_limit);
    let eval_generation = GenerationConfig::greedy(config.eval_max_new_tokens, &stop_ids)
        .with_vocab_limit(vocab_limit);
    let ctx = Ctx {
        config,
        tok,
        records: data.train,
        prompts: &train_prompts,
        reward,
        generation,
        pad_id: tok.pad_token_id().unwrap_or(0),
    };
    let config_json = serde_json::to_value(config)
        .map_err(|e| GrpoError::config("config", "?", e.to_string()))?;
    let ckpt_root = run.dir.join("checkpoints");
    std::fs::create_dir_all(run.dir).map_err(|e| GrpoError::io("create", run.dir, e))?;

    // Step 0: the reference (initial weights, only with a KL term), then fresh start or resume.
    let reference = (config.algorithm.loss.kl_coef != 0.0).then(|| model.valid());
    let resumed = if run.resume {
        latest_checkpoint(&ckpt_root)
    } else {
        None
    };
    let (mut model, mut optim, mut state) = match &resumed {
        Some(dir) => {
            let ckpt = load_checkpoint(dir, model, &device)?;
            if ckpt.config != config_json {
                return Err(GrpoError::config(
                    "resume",
                    dir.display(),
                    format!(
                        "the checkpoint was made with another configuration: {} (now {})",
                        ckpt.config, config_json
                    ),
                ));
            }
            (ckpt.model, ckpt.optim, ckpt.state)
        }
        None => {
            let rng = ChaCha8Rng::seed_from_u64(config.seed);
            let state = TrainerState {
                step: 0,
                epoch: 0,
                position: 0,
                rng: RngState::capture(&rng),
                seconds: 0.0,
                extra: serde_json::Value::Null,
            };
            (model, AdamW::new(config.adamw)?, state)
        }
    };
    let metrics_path = run.dir.join("metrics.csv");
    let samples_path = run.dir.join("samples.jsonl");
    let mut metrics = match &resumed {
        Some(_) => {
            truncate_jsonl(&samples_path, state.step)?;
            CsvLog::resume(&metrics_path, &METRICS_COLUMNS, state.step)?
        }
        None => {
            write_atomic(&samples_path, b"")?;
            CsvLog::create(&metrics_path, &METRICS_COLUMNS)?
        }
    };
    let mut history: Vec<(u64, f64)> = state
        .extra
        .get("eval_history")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    history.retain(|(s, _)| *s <= state.step);
    let mut cursor = DataCursor::new(&state, data.train.len())?;
    let clock = EtaClock::start(state.step);
    let started_seconds = state.seconds;

    let evaluate = |model: &Model, step: u64| -> Result<EvalResult> {
        let result = evaluate_greedy(
            &model.valid(),
            tok,
            data.eval,
            &eval_prompts,
            &eval_generation,
            config.eval_batch_size,
        )?;
        let mut text = String::new();
        for r in &result.records {
            let line = serde_json::to_string(r)
                .map_err(|e| GrpoError::config("eval record", r.index, e.to_string()))?;
            text.push_str(&line);
            text.push('\n');
        }
        let dir = run.dir.join("eval");
        std::fs::create_dir_all(&dir).map_err(|e| GrpoError::io("create", &dir, e))?;
        write_atomic(
            &dir.join(format!("{}.jsonl", step_dir_name(step))),
            text.as_bytes(),
        )?;
        Ok(result)
    };
    if resumed.is_none() && !data.eval.is_empty() {
        let r = evaluate(&model, 0)?;
        history.push((0, r.accuracy));
        let mut row = vec![None; METRICS_COLUMNS.len()];
        row[0] = Some(0.0);
        row[METRICS_COLUMNS.len() - 1] = Some(r.accuracy);
        metrics.append(&row)?;
        progress(&Progress {
            step: 0,
            total_steps: config.steps,
            epoch: 0,
            elapsed: clock.elapsed(),
            eta: None,
            metrics: vec![("eval_acc", r.accuracy)],
        });
    }

    let (mut last_ckpt, mut interrupted) = (resumed.clone(), false);
    while state.step < config.steps {
        let step_started = Instant::now();
        let step = state.step + 1;
        let lr = config.schedule.lr(state.step);
        // Step 1: the rollout policy, frozen for the whole step.
        let snapshot = model.valid();
        let algorithm = &config.algorithm;
        let mut stored_old: OldLogprobs = Vec::new();
        let mut batch = Batch::default();
        let mut last = UpdateStats::default();
        let mut generated = 0;
        let mut drawn: Vec<usize> = Vec::new();
        for epoch in 0..algorithm.inner_epochs {
            // Steps 2-4: fresh rollouts for the first update, and for every update in the book.
            if epoch == 0 || algorithm.resample_each_epoch {
                stored_old.clear();
                let mut replay = drawn.clone().into_iter();
                let mut fresh = Vec::new();
                let mut next = || {
                    replay.next().unwrap_or_else(|| {
                        let i = cursor.next(&mut state);
                        fresh.push(i);
                        i
                    })
                };
                batch = ctx.collect(&snapshot, step - 1, epoch, &mut next)?;
                drawn.extend(fresh);
                generated += batch.generated_tokens;
            }
            // Step 5: the first update's π_old is π_θ itself; later ones use the snapshot
            // (fresh rollouts) or the stored log-probs (same rollouts).
            let old_policy = (epoch > 0 && algorithm.resample_each_epoch).then_some(&snapshot);
            let (m, stats) = update(
                &ctx,
                model,
                &mut optim,
                lr,
                step,
                &batch,
                old_policy,
                &mut stored_old,
                reference.as_ref(),
            )?;
            model = m;
            last = stats;
        }
        state.step = step;
        let step_seconds = step_started.elapsed().as_secs_f64();

        // Step 6: metrics of the last update.
        let all: Vec<&Group> = batch.kept.iter().chain(&batch.dropped).collect();
        let rewards: Vec<f64> = all.iter().flat_map(|g| g.rewards()).collect();
        let group_stats = advantage_stats(&rewards, &[], config.num_rollouts);
        let adv: Vec<f64> = batch
            .kept
            .iter()
            .flat_map(|g| g.rollouts.iter().map(|r| r.advantage))
            .collect();
        let (adv_mean, adv_std) = mean_std(&adv);
        let lengths: Vec<f64> = all
            .iter()
            .flat_map(|g| g.rollouts.iter().map(|r| r.ids.len() as f64))
            .collect();
        let avg_len = mean_std(&lengths).0;
        let tokens_per_sec = generated as f64 / step_seconds.max(1e-9);
        let has_ratio = last.loss.units > 0.0;
        let kl = (algorithm.loss.kl_coef != 0.0 && !last.skipped).then_some(last.loss.kl);

        // Step 7: evaluation.
        let is_last = state.step == config.steps;
        let mut eval_acc = None;
        let periodic_eval = config.eval_every > 0 && state.step.is_multiple_of(config.eval_every);
        if !data.eval.is_empty() && (periodic_eval || is_last) {
            let r = evaluate(&model, state.step)?;
            history.push((state.step, r.accuracy));
            eval_acc = Some(r.accuracy);
        }
        state.seconds = started_seconds + clock.elapsed().as_secs_f64();
        let row = [
            Some(state.step as f64),
            Some(last.loss.loss),
            Some(group_stats.reward_mean),
            Some(group_stats.reward_std),
            Some(group_stats.frac_zero_std),
            Some(adv_mean),
            Some(adv_std),
            last.entropy,
            kl,
            has_ratio.then(|| last.loss.clip_frac()),
            Some(avg_len),
            Some(tokens_per_sec),
            last.grad_norm,
            Some(lr),
            eval_acc,
        ];
        metrics.append(&row)?;
        if config.sample_every > 0 && state.step.is_multiple_of(config.sample_every) {
            append_samples(&samples_path, state.step, &batch, data.train)?;
        }
        let mut shown = vec![
            ("loss", last.loss.loss),
            ("reward_avg", group_stats.reward_mean),
            ("frac_zero_std", group_stats.frac_zero_std),
            ("avg_response_len", avg_len),
            ("tokens_per_sec", tokens_per_sec),
        ];
        if let Some(a) = eval_acc {
            shown.push(("eval_acc", a));
        }
        progress(&Progress {
            step: state.step,
            total_steps: config.steps,
            epoch: state.epoch,
            elapsed: clock.elapsed(),
            eta: clock.eta(state.step, config.steps),
            metrics: shown,
        });

        // Step 8: checkpoint (and plot) periodically, at the end, or on request (the flag may
        // have been raised during the step or by the progress callback).
        let stop = run.stop.is_some_and(|s| s.load(Ordering::Relaxed));
        let periodic =
            config.checkpoint_every > 0 && state.step.is_multiple_of(config.checkpoint_every);
        if periodic || is_last || stop {
            state.extra = json!({ "eval_history": history });
            let dir = ckpt_root.join(step_dir_name(state.step));
            save_checkpoint(&dir, &model, &optim, &state, &config_json, &run.extra_files)?;
            last_ckpt = Some(dir);
            plot_metrics(
                &read_csv(&metrics_path)?,
                &metrics_plot(),
                &run.dir.join("metrics.png"),
            )?;
        }
        if stop && !is_last {
            interrupted = true;
            break;
        }
    }
    if resumed.is_some() && last_ckpt == resumed {
        // Nothing ran (the checkpoint was the last step): draw the plot anyway.
        plot_metrics(
            &read_csv(&metrics_path)?,
            &metrics_plot(),
            &run.dir.join("metrics.png"),
        )?;
    }
    let model_dir = if run.save_model && !interrupted {
        let dir = run.dir.join("model");
        reasoning_train::fs::write_dir_atomic(&dir, |tmp| {
            model
                .save_hf(tmp, reasoning_model::DType::F32)
                .map_err(|e| reasoning_train::TrainError::Model {
                    path: tmp.to_path_buf(),
                    message: e.to_string(),
                })?;
            for f in &run.extra_files {
                if let Some(name) = f.file_name() {
                    std::fs::copy(f, tmp.join(name))
                        .map_err(|e| reasoning_train::TrainError::io("copy", f, e))?;
                }
            }
            Ok(())
        })?;
        Some(dir)
    } else {
        None
    };
    Ok(GrpoOutcome {
        model,
        steps: state.step,
        start_accuracy: history.iter().find(|(s, _)| *s == 0).map(|(_, a)| *a),
        final_accuracy: history.last().map(|(_, a)| *a),
        eval_n: data.eval.len(),
        eval_history: history,
        seconds: state.seconds,
        interrupted,
        checkpoint: last_ckpt,
        model_dir,
    })
}

/// Appends the first group's completions of a step to `samples.jsonl` (the book prints three).
fn append_samples(path: &Path, step: u64, batch: &Batch, records: &[Record]) -> Result<()> {
    use std::io::Write;
    let Some(group) = batch.kept.first().or(batch.dropped.first()) else {
        return Ok(());
    };
    let record = &records[group.record];
    let line = json!({
        "step": step,
        "problem": record.problem,
        "answer": record.answer,
        "unique_id": record.unique_id,
        "rollouts": group.rollouts.iter().map(|r| json!({
            "text": r.text,
            "reward": r.reward,
            "components": r.score.components,
            "advantage": r.advantage,
            "tokens": r.ids.len(),
            "finish": r.finish,
        })).collect::<Vec<_>>(),
    });
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| GrpoError::io("open", path, e))?;
    writeln!(f, "{line}").map_err(|e| GrpoError::io("append to", path, e))
}

/// Keeps the lines of a JSON Lines log whose `step` is at most `last_step` (for resume).
fn truncate_jsonl(path: &Path, last_step: u64) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: String = text
        .lines()
        .filter(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("step").and_then(|s| s.as_u64()))
                .is_some_and(|s| s <= last_step)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    write_atomic(path, kept.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_end_after_the_token_that_completes_their_text() {
        // Ids decode to "<think>", "\n", "12", " + ", "3", " = ", "15", "\n", "\boxed{15}".
        let pieces = [
            "<think>",
            "\n",
            "12",
            " + ",
            "3",
            " = ",
            "15",
            "\n",
            "\\boxed{15}",
        ];
        let content: Vec<u32> = (0..pieces.len() as u32).collect();
        let text: String = pieces.concat();
        let decoded_len =
            |ids: &[u32]| Ok(ids.iter().map(|&i| pieces[i as usize].len()).sum::<usize>());
        let line_end = text.find("15\n").unwrap() + 2;
        let steps = [
            // The line: its last byte is in token 6, so it covers tokens 0..7.
            StepReward {
                end: line_end,
                value: 1.0,
            },
            // A step ending inside token 3 (" + ") covers tokens 0..4.
            StepReward {
                end: "<think>\n12 ".len(),
                value: 0.5,
            },
            // The answer: the whole completion and the stop id (10 ids in all).
            StepReward {
                end: text.len(),
                value: 0.0,
            },
        ];
        let got = token_steps(&content, 10, text.len(), &steps, decoded_len).unwrap();
        assert_eq!(got, vec![(7, 1.0), (4, 0.5), (10, 0.0)]);
    }
}
