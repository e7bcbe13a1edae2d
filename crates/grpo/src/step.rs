//! The steps of one GRPO update, each a public function, so a program can run its own loop
//! (its own reward, data order or logging) with the same arithmetic as [`crate::train`]:
//!
//! ```text
//! 1. prompts     prompt_ids(tok, builder, records, context)          once per dataset
//! 2. rollouts    sample_rollouts(π_old, prompts, G, generation, seed) G samples per prompt, one prefill each
//! 3. rewards     score_rollouts(groups, records, reward, tok)         r_i = Σ_n w_n r_n,i, any Reward
//! 4. advantages  assign_advantages(groups, mode)                      A_i within each group
//! 5. update      update_policy(π_θ, optimizer, config, inputs)        loss, backward, clip, AdamW
//! ```
//!
//! `crate::train` is a loop over these five steps plus evaluation, metrics and checkpoints.
//! A minimal loop (the full program is `examples/custom_reward.rs`):
//!
//! ```no_run
//! use burn::module::Module;
//! use reasoning_grpo::step::{
//!     OldLogprobs, UpdateInputs, assign_advantages, prompt_ids, sample_rollouts,
//!     score_rollouts, update_policy,
//! };
//! use reasoning_grpo::{GrpoConfig, RewardSpec};
//! use reasoning_inference::{LoadedModel, PromptBuilder};
//! use reasoning_model::{DType, Device};
//! use reasoning_train::AdamW;
//! use reasoning_verifier::datasets::{FieldMap, load_records};
//!
//! let device = Device::flex().autodiff();
//! let lm = LoadedModel::load("models/tiny-arith", None, &device, DType::F32)?;
//! let records = load_records("datasets/arith/train.jsonl".as_ref(), &FieldMap::default())?;
//! let records = &records[..4];
//! let config = GrpoConfig { prompts_per_step: 4, ..GrpoConfig::tiny_arith() };
//! let context = lm.model.config().max_position_embeddings;
//! let prompts = prompt_ids(&lm.tokenizer, &PromptBuilder::default(), records, context)?;
//! let picks: Vec<(usize, &[u32])> = prompts.iter().map(|p| p.as_slice()).enumerate().collect();
//! let generation = config.rollout_generation(&lm.tokenizer, &lm.model);
//! let reward = RewardSpec::Correct.build(&lm.tokenizer);
//! let reference = lm.model.valid();
//! let (mut model, mut optim) = (lm.model, AdamW::new(config.adamw)?);
//!
//! let policy = model.valid();
//! let mut batch = sample_rollouts(&policy, &lm.tokenizer, &picks, 8, &generation, 42)?;
//! score_rollouts(&mut batch.groups, records, reward.as_ref(), &lm.tokenizer, false)?;
//! assign_advantages(&mut batch.groups, config.algorithm.advantage);
//! let inputs = UpdateInputs {
//!     reference: Some(&reference),
//!     ..UpdateInputs::new(&batch.groups, 1e-4, lm.tokenizer.pad_token_id().unwrap_or(0))
//! };
//! let (next, stats) = update_policy(model, &mut optim, &config, inputs, &mut OldLogprobs::default())?;
//! model = next;
//! println!("loss {:.4}, grad norm {:?}", stats.loss.loss, stats.grad_norm);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Seeds: `sample_rollouts` draws rollout `j` of prompt `p` from its own stream
//! ([`reasoning_inference::sample_stream`]`(seed, p, j)`), so a group's samples do not depend
//! on how many prompts share the batch.

use burn::optim::GradientsParams;
use rand_chacha::ChaCha8Rng;
use reasoning_inference::{
    Control, FinishReason, GenerationConfig, PromptBuilder, generate_batch, sample_stream,
};
use reasoning_model::Model;
use reasoning_tokenizer::Tokenizer;
use reasoning_train::collective::{Collective, SINGLE};
use reasoning_train::{AdamW, MicroStep, accumulate_gradients_on_ranks, clip_and_step};
use reasoning_verifier::datasets::Record;
use serde::Serialize;

use crate::advantage::{AdvantageMode, gdpo_advantages, group_advantages, process_advantages};
use crate::config::GrpoConfig;
use crate::error::{GrpoError, Result};
use crate::logprob::{Packed, pack, to_host, token_logprobs};
use crate::loss::{LossInputs, LossStats, Normalizer, grpo_loss};
use crate::reward::{Reward, RewardInput, RewardScore, StepReward};

/// One sampled rollout with its reward and advantage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rollout {
    /// The generated ids (stop id included when it ended with one).
    pub ids: Vec<u32>,
    /// The decoded text (the stop id left out).
    pub text: String,
    /// Why it ended.
    pub finish: FinishReason,
    /// Its reward components (empty until [`score_rollouts`]).
    pub score: RewardScore,
    /// `r_i`, the weighted sum.
    pub reward: f64,
    /// `A_i` (0 until [`assign_advantages`]); under process supervision the first token's.
    pub advantage: f64,
    /// Process supervision only: the steps as `(end token, reward)`, each covering the
    /// tokens before its end.
    #[serde(skip)]
    pub steps: Vec<(usize, f64)>,
    /// Process supervision only: `A_it` of every generated id.
    #[serde(skip)]
    pub token_advantages: Vec<f64>,
    /// With the keep-sampling mask: per generated id, the ids it was drawn from (empty:
    /// unrestricted, or not recorded).
    #[serde(skip)]
    pub support: Vec<Vec<u32>>,
}

impl Rollout {
    /// The generated ids without the final stop id.
    pub fn content_ids(&self) -> &[u32] {
        match self.finish {
            FinishReason::Eos => &self.ids[..self.ids.len() - 1],
            _ => &self.ids,
        }
    }
}

/// The `G` rollouts of one prompt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// Index of the problem in the caller's record list.
    pub record: usize,
    /// The prompt ids.
    #[serde(skip)]
    pub prompt: Vec<u32>,
    /// The rollouts.
    pub rollouts: Vec<Rollout>,
}

impl Group {
    /// Returns every rollout's reward `r_i`, in order.
    pub fn rewards(&self) -> Vec<f64> {
        self.rollouts.iter().map(|r| r.reward).collect()
    }
}

/// The groups of one sampling call and the ids they generated.
#[derive(Debug, Clone, Default)]
pub struct RolloutBatch {
    /// One group per prompt, in the order of the prompts.
    pub groups: Vec<Group>,
    /// Ids generated in all (for tokens per second).
    pub generated_tokens: usize,
}

/// Encodes each record's problem as prompt ids (step 1).
///
/// # Errors
/// [`GrpoError::Record`] for a record whose prompt cannot be built, is empty, or does not fit
/// in `context` positions with room for one generated id.
pub fn prompt_ids(
    tok: &Tokenizer,
    builder: &PromptBuilder,
    records: &[Record],
    context: usize,
) -> Result<Vec<Vec<u32>>> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let fail = |message: String| GrpoError::Record {
                index: i,
                id: r.unique_id.clone().unwrap_or_else(|| "-".into()),
                message,
            };
            let ids = builder
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
}

/// Samples `num_rollouts` completions of each prompt from `policy` and decodes them (step 2).
///
/// `prompts` pairs each prompt with the index of its record (kept in [`Group::record`]).
/// Rollout `j` of prompt slot `p` draws from `sample_stream(seed, p, j)`. `policy` should be
/// an inference copy (`model.valid()`), so no autodiff graph is built.
pub fn sample_rollouts(
    policy: &Model,
    tok: &Tokenizer,
    prompts: &[(usize, &[u32])],
    num_rollouts: usize,
    generation: &GenerationConfig,
    seed: u64,
) -> Result<RolloutBatch> {
    sample_rollouts_at(policy, tok, prompts, 0, num_rollouts, generation, seed)
}

/// [`sample_rollouts`] for the prompts of slots `first_slot..first_slot + prompts.len()` of a
/// larger batch: rollout `j` of `prompts[p]` draws from `sample_stream(seed, first_slot + p, j)`.
///
/// A data-parallel rank samples its share of a step's prompts with it and draws exactly the
/// rollouts one process sampling the whole batch would.
pub fn sample_rollouts_at(
    policy: &Model,
    tok: &Tokenizer,
    prompts: &[(usize, &[u32])],
    first_slot: usize,
    num_rollouts: usize,
    generation: &GenerationConfig,
    seed: u64,
) -> Result<RolloutBatch> {
    let g = num_rollouts;
    let ids: Vec<Vec<u32>> = prompts.iter().map(|(_, p)| p.to_vec()).collect();
    let mut streams: Vec<ChaCha8Rng> = (0..prompts.len() * g)
        .map(|row| {
            let slot = (first_slot + row / g) as u64;
            sample_stream(seed, slot, (row % g) as u64)
        })
        .collect();
    let out = generate_batch(policy, &ids, g, generation, &mut streams, |_| {
        Control::Continue
    })?;
    let mut rows = out.generations.into_iter();
    let mut supports = out.supports.into_iter();
    let mut groups = Vec::with_capacity(prompts.len());
    for (&(record, _), prompt) in prompts.iter().zip(ids) {
        let mut rollouts = Vec::with_capacity(g);
        for generation in rows.by_ref().take(g) {
            rollouts.push(Rollout {
                support: supports.next().unwrap_or_default(),
                text: tok.decode(generation.content_ids(), false)?,
                ids: generation.ids,
                finish: generation.finish,
                score: RewardScore::default(),
                reward: 0.0,
                advantage: 0.0,
                steps: Vec::new(),
                token_advantages: Vec::new(),
            });
        }
        groups.push(Group {
            record,
            prompt,
            rollouts,
        });
    }
    Ok(RolloutBatch {
        groups,
        generated_tokens: out.stats.generated_tokens,
    })
}

/// Scores every rollout with `reward` against its group's record (step 3):
/// `records[group.record]` is the problem it answered.
///
/// With `with_steps` (process supervision) each rollout also gets its step rewards
/// ([`Reward::steps`]) mapped to token positions; a reward without steps counts as one step
/// at the end worth its total.
///
/// # Errors
/// [`GrpoError::Reward`] naming the reward and the rollout (its position in `groups`, group
/// by group) when the reward fails or returns a non-finite value.
pub fn score_rollouts(
    groups: &mut [Group],
    records: &[Record],
    reward: &dyn Reward,
    tok: &Tokenizer,
    with_steps: bool,
) -> Result<()> {
    let mut row = 0;
    for group in groups {
        let record = &records[group.record];
        for r in &mut group.rollouts {
            let input = RewardInput {
                text: &r.text,
                ids: &r.ids,
                finish: r.finish,
                record,
            };
            let fail = |message: String| GrpoError::Reward {
                reward: reward.name(),
                rollout: row,
                message,
            };
            let score = reward.score(&input).map_err(fail)?;
            if let Some(c) = score.components.iter().find(|c| !c.value.is_finite()) {
                return Err(fail(format!("component {:?} is {}", c.name, c.value)));
            }
            let total = score.total();
            if with_steps {
                let steps = reward.steps(&input).map_err(fail)?;
                let steps = steps.unwrap_or_else(|| {
                    vec![StepReward {
                        end: r.text.len(),
                        value: total,
                    }]
                });
                if let Some(s) = steps.iter().find(|s| !s.value.is_finite()) {
                    return Err(fail(format!("a step reward is {}", s.value)));
                }
                let decode = |ids: &[u32]| Ok(tok.decode(ids, false)?.len());
                r.steps = token_steps(r.content_ids(), r.ids.len(), r.text.len(), &steps, decode)?;
            }
            r.score = score;
            r.reward = total;
            row += 1;
        }
    }
    Ok(())
}

/// Fills in every rollout's advantage from the rewards of its group (step 4; GDPO normalises
/// over all of `groups`, which must then have equal sizes).
pub fn assign_advantages(groups: &mut [Group], mode: AdvantageMode) {
    match mode {
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
            let group_size = groups[0].rollouts.len();
            let weights: Vec<f64> = first.score.components.iter().map(|c| c.weight).collect();
            let comps: Vec<Vec<f64>> = groups
                .iter()
                .flat_map(|g| &g.rollouts)
                .map(|r| r.score.components.iter().map(|c| c.value).collect())
                .collect();
            let adv = gdpo_advantages(&comps, &weights, group_size, eps);
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

/// What one optimizer update measured.
#[derive(Debug, Clone, Default)]
pub struct UpdateStats {
    /// The loss and its parts, summed over micro-batches.
    pub loss: LossStats,
    /// The global gradient norm before clipping (`None` when the update was skipped).
    pub grad_norm: Option<f64>,
    /// The rollout policy's mean entropy per scored rollout.
    pub entropy: Option<f64>,
    /// Whether no optimizer step was taken (nothing to score, or every advantage zero with
    /// no KL term and `skip_zero_advantage` set).
    pub skipped: bool,
}

/// Per micro-batch log-probabilities and entropies of the rollout policy, kept between the
/// updates of a step that reuse the same rollouts (PPO's epochs; the paper presets with
/// `inner_epochs > 1`). Start each step with an empty one.
#[derive(Debug, Clone, Default)]
pub struct OldLogprobs(Vec<(Vec<f32>, Vec<f64>)>);

impl OldLogprobs {
    /// Whether nothing is stored (the next update is the first on its rollouts).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The rollouts of one update and where its old and reference log-probabilities come from.
#[derive(Debug, Clone, Copy)]
pub struct UpdateInputs<'a> {
    /// The groups to train on (with advantages).
    pub groups: &'a [Group],
    /// The learning rate of this update.
    pub lr: f64,
    /// The id that pads the packed rollouts (never scored).
    pub pad_id: u32,
    /// The step number, for error messages.
    pub step: u64,
    /// A frozen snapshot to compute `log π_old` with (the book's fresh rollouts for each
    /// inner epoch); `None`: `π_old` is the stored values or, on the first update, `π_θ`
    /// itself (the detached values of the same forward pass).
    pub old_policy: Option<&'a Model>,
    /// The reference model of the KL term (ignored when `β = 0`).
    pub reference: Option<&'a Model>,
    /// The ranks of a data-parallel run: each computes the gradients of its share of the
    /// micro-batches, and the sum is taken over all ([`SINGLE`]: one process).
    pub collective: &'a dyn Collective,
}

impl<'a> UpdateInputs<'a> {
    /// An update of `groups` at learning rate `lr`, `π_old = π_θ`, no reference.
    pub fn new(groups: &'a [Group], lr: f64, pad_id: u32) -> Self {
        Self {
            groups,
            lr,
            pad_id,
            step: 0,
            old_policy: None,
            reference: None,
            collective: SINGLE,
        }
    }
}

/// Runs one optimizer update on the groups (step 5): a batched forward of every rollout (in
/// `config.micro_batch_size` micro-batches on `config.workers` threads), the preset's loss,
/// backward, gradient accumulation in micro-batch order, global-norm clipping to
/// `config.max_grad_norm`, one AdamW step.
///
/// `old` carries the rollout policy's log-probabilities between updates on the same
/// rollouts: it is filled on the first update when a later one will reuse the rollouts
/// (`inner_epochs > 1` without resampling) and read when it is not empty.
///
/// With several ranks (`inputs.collective`) every rank passes the same groups; each computes
/// its contiguous share of the micro-batches, the gradients and the loss statistics are summed
/// over ranks, and every rank takes the same step. `old` then holds this rank's share only.
///
/// # Errors
/// A non-finite loss or gradient norm ([`reasoning_train::TrainError::NonFinite`]): the model
/// is not updated.
pub fn update_policy(
    model: Model,
    optim: &mut AdamW,
    config: &GrpoConfig,
    inputs: UpdateInputs<'_>,
    old: &mut OldLogprobs,
) -> Result<(Model, UpdateStats)> {
    let algorithm = &config.algorithm;
    let rollouts: Vec<(&Group, &Rollout)> = inputs
        .groups
        .iter()
        .flat_map(|g| g.rollouts.iter().map(move |r| (g, r)))
        .collect();
    let live: Vec<&(&Group, &Rollout)> = rollouts
        .iter()
        .filter(|(_, r)| is_scored(config, r) && !r.ids.is_empty())
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
        let stats = UpdateStats {
            skipped: true,
            ..UpdateStats::default()
        };
        return Ok((model, stats));
    }

    let workers = config.workers.max(1);
    let micro = match config.micro_batch_size {
        0 => rollouts.len().div_ceil(workers),
        m => m,
    };
    let reuse = !old.is_empty();
    let keep_old = !reuse && algorithm.inner_epochs > 1 && !algorithm.resample_each_epoch;
    let chunks: Vec<&[(&Group, &Rollout)]> = rollouts.chunks(micro).collect();
    let pass_inputs = PassInputs {
        config,
        pad_id: inputs.pad_id,
        old_policy: inputs.old_policy,
        reference: inputs.reference.filter(|_| !no_kl),
        norm,
        keep_old,
    };
    let pass = |model: &Model, index: usize, chunk: &&[(&Group, &Rollout)]| {
        let stored = reuse.then(|| old.0[index].clone());
        let out = chunk_pass(&pass_inputs, model, chunk, stored)?;
        let loss = out.stats.loss;
        let grads = out.grads;
        let out = (out.stats, out.entropy_sum, out.entropy_n, out.old);
        Ok::<_, GrpoError>(MicroStep { loss, grads, out })
    };
    let device = model.device();
    let c = inputs.collective;
    let (grads, outs) = accumulate_gradients_on_ranks(
        &model,
        &device,
        &chunks,
        config.workers,
        inputs.step,
        c,
        pass,
    )?;
    let mut stats = UpdateStats::default();
    let (mut entropy_sum, mut entropy_n) = (0.0, 0usize);
    for (loss, e_sum, e_n, fresh) in outs {
        stats.loss.add(&loss);
        entropy_sum += e_sum;
        entropy_n += e_n;
        old.0.extend(fresh);
    }
    // The statistics over all ranks (one process: the sum is the identity).
    let l = &mut stats.loss;
    let mut sums = [
        l.loss,
        l.pg_loss,
        l.kl,
        l.clipped,
        l.units,
        l.ratio_sum,
        l.off_policy_masked as f64,
        entropy_sum,
        entropy_n as f64,
    ];
    c.sum_f64(&mut sums)?;
    [l.loss, l.pg_loss, l.kl, l.clipped, l.units, l.ratio_sum] =
        [sums[0], sums[1], sums[2], sums[3], sums[4], sums[5]];
    l.off_policy_masked = sums[6] as usize;
    (entropy_sum, entropy_n) = (sums[7], sums[8] as usize);
    let (model, grad_norm) = clip_and_step(
        model,
        optim,
        grads,
        Some(config.max_grad_norm),
        inputs.lr,
        inputs.step,
    )?;
    stats.grad_norm = Some(grad_norm);
    stats.entropy = (entropy_n > 0).then(|| entropy_sum / entropy_n as f64);
    Ok((model, stats))
}

/// Whether a rollout's tokens enter the loss (DAPO's overlong filtering leaves truncated
/// ones out).
fn is_scored(config: &GrpoConfig, r: &Rollout) -> bool {
    !(config.algorithm.mask_truncated && r.finish == FinishReason::Length)
}

/// What every micro-batch pass of one update shares.
struct PassInputs<'a> {
    config: &'a GrpoConfig,
    pad_id: u32,
    old_policy: Option<&'a Model>,
    reference: Option<&'a Model>,
    norm: Normalizer,
    keep_old: bool,
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

/// Forward and backward of one micro-batch of rollouts: `stored` holds its old-policy
/// log-probabilities from an earlier update of the same batch.
fn chunk_pass(
    p: &PassInputs<'_>,
    model: &Model,
    chunk: &[(&Group, &Rollout)],
    stored: Option<(Vec<f32>, Vec<f64>)>,
) -> Result<ChunkOut> {
    let pairs: Vec<(&[u32], &[u32])> = chunk
        .iter()
        .map(|(g, r)| (g.prompt.as_slice(), r.ids.as_slice()))
        .collect();
    let mut packed = pack(&pairs, p.pad_id);
    if p.config.algorithm.keep_sampling_mask {
        let supports: Vec<&[Vec<u32>]> = chunk.iter().map(|(_, r)| r.support.as_slice()).collect();
        packed.set_supports(&pairs, &supports);
    }
    let mut mask = packed.mask.clone();
    for (i, (_, r)) in chunk.iter().enumerate() {
        if !is_scored(p.config, r) {
            mask[i * packed.cols..(i + 1) * packed.cols].fill(0.0);
        }
    }
    // The current policy, with gradient; entropy only when no other pass gives it.
    let first_pass = p.old_policy.is_none() && stored.is_none();
    let current = token_logprobs(model, &packed, first_pass);
    let (old, entropies): (Vec<f32>, Vec<f64>) = if let Some(stored) = stored {
        stored
    } else if let Some(old_model) = p.old_policy {
        let o = token_logprobs(old_model, &packed, true);
        (to_host(o.logp), o.entropy.unwrap_or_default())
    } else {
        // One update per snapshot: π_old is π_θ itself, no second pass needed.
        (
            to_host(current.logp.clone().detach()),
            current.entropy.clone().unwrap_or_default(),
        )
    };
    let (mut entropy_sum, mut entropy_n) = (0.0, 0usize);
    for (e, (_, r)) in entropies.iter().zip(chunk) {
        if is_scored(p.config, r) {
            entropy_sum += e;
            entropy_n += 1;
        }
    }
    let ref_logp = p
        .reference
        .map(|reference| to_host(token_logprobs(reference, &packed, false).logp));
    let inputs = LossInputs {
        rows: packed.rows,
        cols: packed.cols,
        old_logp: old,
        ref_logp,
        mask,
        advantages: chunk.iter().map(|(_, r)| r.advantage as f32).collect(),
        token_advantages: token_advantages(chunk, &packed),
        norm: p.norm,
    };
    let out = grpo_loss(&p.config.algorithm.loss, current.logp, &inputs);
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
        old: p.keep_old.then_some((inputs.old_logp, entropies)),
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
