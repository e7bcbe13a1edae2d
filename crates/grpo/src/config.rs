//! [`GrpoConfig`]: every setting of a GRPO run, with the book's chapter-6 defaults and the
//! project's headline run ([`GrpoConfig::tiny_arith`]).

use reasoning_inference::{Decoding, GenerationConfig, SamplingParams};
use reasoning_model::Model;
use reasoning_tokenizer::Tokenizer;
use reasoning_train::{AdamWConfig, LrSchedule, RunConfig};
use serde::{Deserialize, Serialize};

use crate::error::{GrpoError, Result};
use crate::preset::{Algorithm, Preset};
use crate::reward::RewardSpec;

/// Settings of a GRPO run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrpoConfig {
    /// The preset the algorithm started from (for the record; `algorithm` may override it).
    pub preset: Preset,
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
    /// Top-k of rollouts, applied with top-p (`None`: off, as in the book's chapters; the
    /// DeepSeek-V3.2 script's `--top_k`). The policy's log-probabilities are those of the
    /// unfiltered distribution unless the algorithm keeps the sampling mask
    /// ([`Algorithm::keep_sampling_mask`](crate::preset::Algorithm::keep_sampling_mask)).
    #[serde(default)]
    pub top_k: Option<usize>,
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
            preset: Preset::Book6,
            algorithm: Preset::Book6.algorithm(),
            steps: 50,
            prompts_per_step: 1,
            num_rollouts: 8,
            max_new_tokens: 512,
            temperature: 0.8,
            top_p: 0.9,
            top_k: None,
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
    /// The headline run of `cargo xtask train-grpo` with no flags: the embedded tiny model
    /// (`models/tiny-arith`) on its arithmetic task family (docs/grpo.md).
    ///
    /// Dr. GRPO's loss and advantages with a k3 KL penalty of β = 0.1 to the starting model
    /// (its paper has none: without it the tiny model drifts from what it knows), the reward
    /// `correct + 0.5 · steps` ([`RewardSpec::CorrectAndSteps`]), 150 steps of 16 problems × 8
    /// rollouts of at most 96 tokens, AdamW at a constant 1e-4 (weight decay 0.01), two update
    /// workers, evaluation and checkpoints every 25 steps, seed 42.
    ///
    /// ```
    /// let c = reasoning_grpo::GrpoConfig::tiny_arith();
    /// assert_eq!(c.preset, reasoning_grpo::Preset::DrGrpo);
    /// assert_eq!(c.algorithm.loss.kl_coef, 0.1);
    /// c.validate().unwrap();
    /// ```
    pub fn tiny_arith() -> Self {
        let mut algorithm = Preset::DrGrpo.algorithm();
        algorithm.loss.kl_coef = 0.1;
        algorithm.reward = RewardSpec::CorrectAndSteps { steps_weight: 0.5 };
        Self {
            preset: Preset::DrGrpo,
            algorithm,
            steps: 150,
            prompts_per_step: 16,
            num_rollouts: 8,
            max_new_tokens: 96,
            temperature: 0.8,
            top_p: 0.9,
            top_k: None,
            schedule: LrSchedule::Constant { lr: 1e-4 },
            adamw: AdamWConfig {
                weight_decay: 0.01,
                ..AdamWConfig::default()
            },
            max_grad_norm: 1.0,
            micro_batch_size: 0,
            workers: 2,
            eval_every: 25,
            eval_batch_size: 100,
            eval_max_new_tokens: 96,
            checkpoint_every: 25,
            sample_every: 10,
            seed: 42,
        }
    }

    /// Returns how rollouts are generated: `max_new_tokens` sampled at `temperature` and
    /// `top_p`, stopping at the tokenizer's end-of-sequence ids (the model's when the tokenizer
    /// has none), sampling only ids the tokenizer knows.
    pub fn rollout_generation(&self, tok: &Tokenizer, model: &Model) -> GenerationConfig {
        let config = GenerationConfig::greedy(self.max_new_tokens, &stop_ids(tok, model))
            .with_decoding(Decoding::Sample(self.rollout_sampling()))
            .with_vocab_limit(tok.vocab_size());
        GenerationConfig {
            record_support: self.algorithm.keep_sampling_mask,
            ..config
        }
    }

    /// The rollouts' sampling parameters: temperature, top-p and, when set, top-k.
    fn rollout_sampling(&self) -> SamplingParams {
        let sampling = SamplingParams::temperature(self.temperature).with_top_p(self.top_p);
        match self.top_k {
            Some(k) => sampling.with_top_k(k),
            None => sampling,
        }
    }

    /// Returns how held-out answers are generated: greedy, `eval_max_new_tokens` at most.
    pub fn eval_generation(&self, tok: &Tokenizer, model: &Model) -> GenerationConfig {
        GenerationConfig::greedy(self.eval_max_new_tokens, &stop_ids(tok, model))
            .with_vocab_limit(tok.vocab_size())
    }

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
        self.rollout_sampling().validate()?;
        self.schedule.validate()?;
        self.adamw.validate()?;
        Ok(())
    }
}

impl RunConfig for GrpoConfig {
    fn adamw(&self) -> AdamWConfig {
        self.adamw
    }

    fn seed(&self) -> u64 {
        self.seed
    }
}

/// The stop ids of generation: the tokenizer's end-of-sequence ids, else the model config's.
fn stop_ids(tok: &Tokenizer, model: &Model) -> Vec<u32> {
    if tok.eos_token_ids().is_empty() {
        model.config().eos_token_id.clone()
    } else {
        tok.eos_token_ids().to_vec()
    }
}

/// The serde default of [`GrpoConfig::workers`] (configs written before it existed).
fn one_worker() -> usize {
    1
}
