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
//! **Ranks.** With a [`Collective`] of several ranks ([`GrpoRun::collective`]; `mpirun`), every
//! rank holds the same model and draws the same prompts; each samples and scores a contiguous
//! share of them (the same streams as one process, [`sample_rollouts_at`]), the scored groups
//! are gathered so every rank sees the whole batch, and the update's micro-batches are shared
//! out the same way, with one sum of the gradients. Rank 0 alone evaluates and writes.
//!
//! **Reference model.** Built (a frozen copy of the starting weights) only when `β ≠ 0`; on
//! resume it is the model passed in, not the checkpoint, so it stays the *initial* policy.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use burn::module::Module;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use reasoning_inference::eval::{GreedyEval as EvalResult, evaluate_greedy};
use reasoning_inference::{GenerationConfig, PromptBuilder, splitmix64};
use reasoning_model::Model;
use reasoning_tokenizer::Tokenizer;
use reasoning_train::checkpoint::step_dir_name;
use reasoning_train::collective::{Collective, agree, shard};
use reasoning_train::fs::write_atomic;
use reasoning_train::{Progress, RngState, RunFolder, TrainerState, TrainingRun};
use reasoning_verifier::datasets::Record;
use serde_json::json;

use crate::advantage::{AdvantageMode, advantage_stats, is_zero_variance, mean_std};
use crate::config::GrpoConfig;
use crate::error::{GrpoError, Result};
use crate::metrics::{GrpoMetrics, grpo_plot};
use crate::reward::Reward;
use crate::step::{
    Group, OldLogprobs, UpdateInputs, UpdateStats, assign_advantages, prompt_ids,
    sample_rollouts_at, score_rollouts, update_policy,
};

/// The problems of a run and how they become prompts.
#[derive(Debug, Clone)]
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
    /// The ranks of a data-parallel run ([`reasoning_train::collective::SINGLE`]: one
    /// process). Every rank calls [`train`] with the same model, data and configuration
    /// (checked at the start); only rank 0 evaluates and writes.
    pub collective: &'a dyn Collective,
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

/// Everything the collection of a step's rollouts needs.
struct Ctx<'a> {
    config: &'a GrpoConfig,
    tok: &'a Tokenizer,
    records: &'a [Record],
    prompts: &'a [Vec<u32>],
    reward: &'a dyn Reward,
    generation: GenerationConfig,
    collective: &'a dyn Collective,
}

impl Ctx<'_> {
    /// Samples and scores the groups of one update (steps 1-4 of the module docs).
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
        let with_steps = matches!(a.advantage, AdvantageMode::Process { .. });
        let mut batch = Batch::default();
        for attempt in 0..=a.active_sampling_tries {
            let need = self.config.prompts_per_step - batch.kept.len();
            if need == 0 {
                break;
            }
            let picks: Vec<(usize, &[u32])> = (0..need)
                .map(|_| {
                    let i = next();
                    (i, self.prompts[i].as_slice())
                })
                .collect();
            let seed = self.config.seed
                ^ splitmix64(step ^ splitmix64(((epoch as u64) << 32) | attempt as u64));
            // This rank's share of the prompts; every rank then sees every scored group.
            let c = self.collective;
            let mine = shard(picks.len(), c.rank(), c.size());
            let mut sampled = sample_rollouts_at(
                policy,
                self.tok,
                &picks[mine.clone()],
                mine.start,
                self.config.num_rollouts,
                &self.generation,
                seed,
            )?;
            score_rollouts(
                &mut sampled.groups,
                self.records,
                self.reward,
                self.tok,
                with_steps,
            )?;
            if c.size() > 1 {
                let mut groups = Vec::with_capacity(picks.len());
                let mut generated = 0;
                let bytes = crate::wire::encode(&sampled.groups, sampled.generated_tokens);
                for share in c.gather(&bytes)? {
                    let (g, n) = crate::wire::decode(&share)?;
                    groups.extend(g);
                    generated += n;
                }
                sampled.groups = groups;
                sampled.generated_tokens = generated;
            }
            batch.generated_tokens += sampled.generated_tokens;
            for group in sampled.groups {
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
        assign_advantages(&mut batch.kept, a.advantage);
        Ok(batch)
    }
}

/// Trains `model` (on an autodiff device) with GRPO on `data`.
///
/// `reward` overrides the preset's built-in reward ([`crate::reward::RewardSpec`]); it must be
/// deterministic. Writes `metrics.csv` (one row per step, columns of [`GrpoMetrics`]),
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
    let context = model.config().max_position_embeddings;
    let train_prompts = prompt_ids(tok, &data.prompt, data.train, context)?;
    let eval_prompts = prompt_ids(tok, &data.prompt, data.eval, context)?;
    let c = run.collective;
    let root = c.rank() == 0;
    if c.size() > 1 {
        // The prompts' ids cover the data, the prompt template and the tokenizer.
        let mut bytes = Vec::new();
        for (ids, r) in train_prompts.iter().zip(data.train) {
            bytes.extend(ids.iter().flat_map(|i| i.to_le_bytes()));
            bytes.extend_from_slice(r.answer.as_bytes());
            bytes.push(0xff);
        }
        agree(c, "training problems and prompts", &bytes)?;
    }
    let built;
    let reward: &dyn Reward = match reward {
        Some(r) => r,
        None => {
            built = config.algorithm.reward.build(tok);
            built.as_ref()
        }
    };
    let eval_generation = config.eval_generation(tok, &model);
    let ctx = Ctx {
        config,
        tok,
        records: data.train,
        prompts: &train_prompts,
        reward,
        generation: config.rollout_generation(tok, &model),
        collective: c,
    };
    let pad_id = tok.pad_token_id().unwrap_or(0);

    // Step 0: the reference (initial weights, only with a KL term), then fresh start or resume.
    let reference = (config.algorithm.loss.kl_coef != 0.0).then(|| model.valid());
    let folder = RunFolder {
        dir: run.dir,
        extra_files: run.extra_files.clone(),
        resume: run.resume,
        stop: run.stop,
        collective: c,
    };
    let started = TrainingRun::<GrpoMetrics>::start(folder, config, grpo_plot(), model, &device)?;
    let (mut training, mut model, mut optim, mut state) = started.into_parts();
    let samples_path = run.dir.join("samples.jsonl");
    if !root {
        // Only rank 0 writes.
    } else if training.resumed().is_some() {
        truncate_jsonl(&samples_path, state.step)?;
    } else {
        write_atomic(&samples_path, b"")?;
    }
    let mut history: Vec<(u64, f64)> = state
        .extra
        .get("eval_history")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    history.retain(|(s, _)| *s <= state.step);
    let mut cursor = DataCursor::new(&state, data.train.len())?;

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
    if root && training.resumed().is_none() && !data.eval.is_empty() {
        let r = evaluate(&model, 0)?;
        history.push((0, r.accuracy));
        training.log(&GrpoMetrics {
            step: 0.0,
            eval_acc: Some(r.accuracy),
            ..GrpoMetrics::default()
        })?;
        progress(&training.progress(0, config.steps, 0, vec![("eval_acc", r.accuracy)]));
    }

    let mut interrupted = false;
    while state.step < config.steps {
        let step_started = Instant::now();
        let step = state.step + 1;
        let lr = config.schedule.lr(state.step);
        // Step 1: the rollout policy, frozen for the whole step.
        let snapshot = model.valid();
        let algorithm = &config.algorithm;
        let mut stored_old = OldLogprobs::default();
        let mut batch = Batch::default();
        let mut last = UpdateStats::default();
        let mut generated = 0;
        let mut drawn: Vec<usize> = Vec::new();
        for epoch in 0..algorithm.inner_epochs {
            // Steps 2-4: fresh rollouts for the first update, and for every update in the book.
            if epoch == 0 || algorithm.resample_each_epoch {
                stored_old = OldLogprobs::default();
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
            let inputs = UpdateInputs {
                groups: &batch.kept,
                lr,
                pad_id,
                step,
                old_policy,
                reference: reference.as_ref(),
                collective: c,
            };
            let (m, stats) = update_policy(model, &mut optim, config, inputs, &mut stored_old)?;
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
        if root && !data.eval.is_empty() && (periodic_eval || is_last) {
            let r = evaluate(&model, state.step)?;
            history.push((state.step, r.accuracy));
            eval_acc = Some(r.accuracy);
        }
        state.seconds = training.seconds();
        training.log(&GrpoMetrics {
            step: state.step as f64,
            loss: Some(last.loss.loss),
            reward_avg: Some(group_stats.reward_mean),
            reward_std: Some(group_stats.reward_std),
            frac_zero_std: Some(group_stats.frac_zero_std),
            adv_avg: Some(adv_mean),
            adv_std: Some(adv_std),
            entropy: last.entropy,
            kl,
            clip_frac: has_ratio.then(|| last.loss.clip_frac()),
            avg_response_len: Some(avg_len),
            tokens_per_sec: Some(tokens_per_sec),
            grad_norm: last.grad_norm,
            lr: Some(lr),
            eval_acc,
        })?;
        if root && config.sample_every > 0 && state.step.is_multiple_of(config.sample_every) {
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
        progress(&training.progress(state.step, config.steps, state.epoch, shown));

        // Step 8: checkpoint (and plot) periodically, at the end, or on request (the flag may
        // have been raised during the step or by the progress callback).
        state.extra = json!({ "eval_history": history });
        if training.checkpoint(&model, &optim, &state, config.checkpoint_every, is_last)? {
            interrupted = true;
            break;
        }
    }
    let last_ckpt = training.finish()?;
    let model_dir = if root && run.save_model && !interrupted {
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
