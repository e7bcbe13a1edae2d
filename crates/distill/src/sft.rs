//! Supervised fine-tuning (book chapter 8): next-token cross-entropy on prompt + response, with
//! the loss on the response only.
//!
//! An example is a chat-templated prompt followed by the target answer and the end-of-turn
//! token. The model reads all of it; only the answer's tokens are scored:
//!
//! ```text
//! ids      = prompt_ids ++ target_ids ++ [eos]                 length L, prompt length P
//! input    = ids[0 .. L-1]          target = ids[1 .. L]
//! loss_i   = −(1/n_i) Σ_{t ≥ P−1} log p_θ(target_t | input_≤t)      n_i = L − P answer tokens
//! loss     = (1/B) Σ_i loss_i                                    the book's batched variant
//! ```
//!
//! Position `t = P − 1` is the last prompt token, whose next-token prediction is the first
//! answer token (the book's `answer_start = prompt_len - 1`).
//!
//! **Per-example mean, not global token mean.** Each example weighs the same whatever its
//! length, as in the book's batched script; TRL's `SFTTrainer` divides the token sum by the
//! batch's token count instead, which weighs long answers more. Our arithmetic answers are
//! 5-60 tokens, so a global mean would let four-step problems drown out direct answers.
//!
//! **Batches.** Examples are right-padded to the longest in the micro-batch. A causal model
//! never attends to later positions, so padding at the end needs no attention mask; padded
//! positions get loss weight 0. Gradient accumulation splits a batch of `batch_size` examples
//! into micro-batches of `micro_batch_size` and sums their gradients; each micro-batch's
//! weights are `1/(n_i · batch_size)`, so the sum equals the full batch's loss gradient.
//! Only positions from the batch's earliest answer start go through the output head.
//!
//! **Training loop.** AdamW (torch semantics), warmup + cosine (or constant) learning rate,
//! global-norm clipping, validation loss every `eval_every` steps, a CSV row per step, a PNG
//! plot, atomic checkpoints every `checkpoint_every` steps that resume exactly (model,
//! optimizer, schedule position, RNG, data order). The data order is a fresh seeded shuffle
//! per epoch; a partial last batch is dropped. Departures from the book: the book uses batch
//! size 1, a constant learning rate and no warmup; those are settings here, not code paths.

use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use reasoning_model::Model;
use reasoning_tokenizer::{ChatMessage, ChatOptions, Tokenizer};
use reasoning_train::collective::agree;
use reasoning_train::{
    AdamWConfig, LrSchedule, MicroStep, Panel, PlotSpec, Progress, RngState, RunConfig, RunFolder,
    Series, TrainError, TrainingRun, accumulate_gradients_on_ranks, clip_and_step,
};
use serde::{Deserialize, Serialize};

use crate::DistillError;

/// Which of the two trained answer styles an example (or an evaluation) uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerStyle {
    /// Step-by-step reasoning inside `<think>...</think>`, then `\boxed{answer}`
    /// (chat template with `enable_thinking = true`).
    Reasoning,
    /// `\boxed{answer}` right away; the template writes an empty `<think>\n\n</think>\n\n`
    /// (`enable_thinking = false`).
    Direct,
}

impl AnswerStyle {
    /// Returns the chat template's `enable_thinking` value for this style.
    pub fn enable_thinking(self) -> bool {
        self == AnswerStyle::Reasoning
    }
}

/// One training example: prompt and answer token ids, and where the answer starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SftExample {
    /// `prompt ++ answer ++ [eos]`.
    pub ids: Vec<u32>,
    /// Number of prompt tokens `P`; the loss covers `ids[P..]`.
    pub prompt_len: usize,
}

impl SftExample {
    /// Builds an example from prompt ids and answer ids (which must end with the EOS id).
    ///
    /// Errors when the prompt or the answer is empty.
    pub fn new(prompt_ids: Vec<u32>, answer_ids: Vec<u32>) -> Result<Self, DistillError> {
        if prompt_ids.is_empty() || answer_ids.is_empty() {
            return Err(DistillError::Data(format!(
                "an SFT example needs a prompt and an answer; got {} prompt and {} answer tokens",
                prompt_ids.len(),
                answer_ids.len()
            )));
        }
        let prompt_len = prompt_ids.len();
        let mut ids = prompt_ids;
        ids.extend(answer_ids);
        Ok(Self { ids, prompt_len })
    }

    /// Returns the number of scored (answer + EOS) tokens.
    pub fn answer_len(&self) -> usize {
        self.ids.len() - self.prompt_len
    }
}

/// Returns the id that ends an assistant turn: `<|im_end|>` when the vocabulary has it (as the
/// book's Qwen3 tokenizer uses), else the tokenizer's first EOS id.
pub fn turn_end_id(tok: &Tokenizer) -> Result<u32, DistillError> {
    tok.token_to_id("<|im_end|>")
        .or_else(|| tok.eos_token_ids().first().copied())
        .ok_or_else(|| {
            DistillError::Data("the tokenizer has neither <|im_end|> nor an EOS id".into())
        })
}

/// Returns the prompt ids of `problem`: the book's `render_prompt`, as a user turn, with the
/// generation prompt and the thinking switch of `style`.
pub fn chat_prompt_ids(
    tok: &Tokenizer,
    problem: &str,
    style: AnswerStyle,
) -> Result<Vec<u32>, DistillError> {
    let messages = [ChatMessage::user(reasoning_verifier::render_prompt(
        problem,
    ))];
    Ok(tok.encode_chat(
        &messages,
        &ChatOptions::generation().thinking(style.enable_thinking()),
    )?)
}

/// Builds the example `chat(render_prompt(problem)) ++ target ++ [eos]`.
///
/// The target is encoded on its own (the book's `chat_wrapped=False`); `eos` is usually
/// [`turn_end_id`].
pub fn build_example(
    tok: &Tokenizer,
    problem: &str,
    target: &str,
    style: AnswerStyle,
    eos: u32,
) -> Result<SftExample, DistillError> {
    let prompt = chat_prompt_ids(tok, problem, style)?;
    let mut answer = tok.encode(target)?;
    answer.push(eos);
    SftExample::new(prompt, answer)
}

/// A padded micro-batch ready for the model.
#[derive(Debug, Clone)]
pub struct SftBatch {
    /// Input ids, right-padded, `[batch, T]`.
    pub inputs: Tensor<2, Int>,
    /// Next-token targets from position `start`, `[batch, T − start]` (0 where masked).
    pub targets: Tensor<2, Int>,
    /// Loss weight per target, `[batch, T − start]`: `scale / n_i` on answer tokens, 0 elsewhere.
    pub weights: Tensor<2>,
    /// The first input position scored in any row (`min_i P_i − 1`).
    pub start: usize,
    /// Scored tokens in the batch.
    pub answer_tokens: usize,
    /// All non-pad input tokens in the batch.
    pub tokens: usize,
}

/// Pads `examples` into one batch; each example's token weights sum to `scale`
/// (`1/batch_size` for a training batch, `1/N` for a validation set).
///
/// # Shapes
/// - returns `inputs` `[B, T]` with `T = max_i L_i − 1`; `targets`, `weights` `[B, T − start]`
pub fn collate(examples: &[&SftExample], pad_id: u32, scale: f64, device: &Device) -> SftBatch {
    let b = examples.len();
    let t = examples.iter().map(|e| e.ids.len() - 1).max().unwrap_or(1);
    let start = examples
        .iter()
        .map(|e| e.prompt_len.saturating_sub(1))
        .min()
        .unwrap_or(0);
    let width = t - start;
    let mut inputs = vec![pad_id as i64; b * t];
    let mut targets = vec![0i64; b * width];
    let mut weights = vec![0f32; b * width];
    let (mut answer_tokens, mut tokens) = (0, 0);
    for (row, e) in examples.iter().enumerate() {
        let l = e.ids.len();
        for (j, &id) in e.ids[..l - 1].iter().enumerate() {
            inputs[row * t + j] = id as i64;
        }
        let n = e.answer_len();
        let w = (scale / n as f64) as f32;
        // Step 1: target position j predicts ids[j + 1]; the answer starts at j = P − 1.
        for j in e.prompt_len - 1..l - 1 {
            targets[row * width + j - start] = e.ids[j + 1] as i64;
            weights[row * width + j - start] = w;
        }
        answer_tokens += n;
        tokens += l - 1;
    }
    SftBatch {
        inputs: Tensor::from_data(TensorData::new(inputs, [b, t]), device),
        targets: Tensor::from_data(TensorData::new(targets, [b, width]), device),
        weights: Tensor::from_data(TensorData::new(weights, [b, width]), device),
        start,
        answer_tokens,
        tokens,
    }
}

/// Returns the weighted next-token cross-entropy of a batch (a scalar tensor `[1]`).
///
/// Only positions from `batch.start` go through the output head and the softmax.
pub fn batch_loss(model: &Model, batch: &SftBatch) -> Tensor<1> {
    let hidden = model.forward_hidden(batch.inputs.clone()); // [B, T, hidden]
    let [_, t, _] = hidden.dims();
    let hidden = hidden.narrow(1, batch.start, t - batch.start); // [B, T - start, hidden]
    let targets: Vec<u32> = batch
        .targets
        .clone()
        .into_data()
        .iter::<i64>()
        .map(|id| id as u32)
        .collect();
    // log softmax at the targets, fused for wide vocabularies (`Model::target_log_probs`).
    let (picked, _) = model.target_log_probs(hidden, &targets, false); // [B, T - start]
    (picked * batch.weights.clone()).sum().neg()
}

/// Returns the mean over `examples` of each example's mean answer-token loss (the book's
/// `evaluate_examples`), computed without autodiff in micro-batches.
pub fn evaluate_loss(
    model: &Model,
    examples: &[SftExample],
    pad_id: u32,
    micro_batch_size: usize,
) -> Result<f64, DistillError> {
    if examples.is_empty() {
        return Err(DistillError::Config("validation set is empty".into()));
    }
    let model = model.valid();
    let device = model.device();
    let scale = 1.0 / examples.len() as f64;
    let mut total = 0.0;
    for chunk in examples.chunks(micro_batch_size.max(1)) {
        let refs: Vec<&SftExample> = chunk.iter().collect();
        let batch = collate(&refs, pad_id, scale, &device);
        total += f64::from(batch_loss(&model, &batch).into_scalar::<f32>());
    }
    Ok(total)
}

/// Forward and backward of the micro-batch `ids` of `data.train`: its loss (already scaled by
/// `1 / batch_size`), gradients, and `(loss, answer tokens, input tokens)`.
fn micro_grads(
    model: &Model,
    ids: &[usize],
    data: &SftData<'_>,
    scale: f64,
    device: &Device,
) -> MicroStep<(f64, usize, usize)> {
    let refs: Vec<&SftExample> = ids.iter().map(|&i| &data.train[i]).collect();
    let batch = collate(&refs, data.pad_id, scale, device);
    let loss = batch_loss(model, &batch);
    let value = f64::from(loss.clone().into_scalar::<f32>());
    MicroStep {
        loss: value,
        grads: GradientsParams::from_grads(loss.backward(), model),
        out: (value, batch.answer_tokens, batch.tokens),
    }
}

/// Settings of an SFT run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SftConfig {
    /// Optimizer steps of the whole run (epochs follow from the data size).
    pub total_steps: u64,
    /// Examples per optimizer step.
    pub batch_size: usize,
    /// Examples per forward pass; `batch_size / micro_batch_size` accumulation steps.
    pub micro_batch_size: usize,
    /// Micro-batches computed at once, each on its own thread with its own autodiff graph
    /// (data parallelism on one device; 1: one after another). Their gradients are summed in
    /// micro-batch order, so the result does not depend on this setting, only the speed: a
    /// small model leaves a core idle between ops, and two workers fill it (docs/tiny-model.md).
    #[serde(default = "one_worker")]
    pub workers: usize,
    /// Learning rate over steps.
    pub schedule: LrSchedule,
    /// AdamW hyper-parameters.
    pub adamw: AdamWConfig,
    /// Global gradient-norm clip (`None`: no clipping, the norm is still logged).
    pub max_grad_norm: Option<f64>,
    /// Validation loss every this many steps (0: only at the end).
    pub eval_every: u64,
    /// Checkpoint every this many steps (0: only at the end).
    pub checkpoint_every: u64,
    /// Seed of the data order.
    pub seed: u64,
    /// Group examples of similar length into batches to cut padding: each epoch's shuffle is
    /// cut into windows of 16 batches, each window sorted by length and cut into batches, and
    /// the batches shuffled (the book's `sort_by_length` sorts the whole epoch instead).
    pub group_by_length: bool,
}

/// The serde default of [`SftConfig::workers`] (configs written before it existed).
fn one_worker() -> usize {
    1
}

impl Default for SftConfig {
    /// The book's chapter-8 settings for one epoch of 1000 examples: batch 1, constant
    /// learning rate 1e-5, torch AdamW, clipping at 1.0, validation every 50 steps, seed 123.
    fn default() -> Self {
        Self {
            total_steps: 1000,
            batch_size: 1,
            micro_batch_size: 1,
            workers: 1,
            schedule: LrSchedule::Constant { lr: 1e-5 },
            adamw: AdamWConfig::default(),
            max_grad_norm: Some(1.0),
            eval_every: 50,
            checkpoint_every: 0,
            seed: 123,
            group_by_length: false,
        }
    }
}

impl RunConfig for SftConfig {
    fn adamw(&self) -> AdamWConfig {
        self.adamw
    }

    fn seed(&self) -> u64 {
        self.seed
    }
}

impl SftConfig {
    fn validate(&self, n_train: usize) -> Result<(), DistillError> {
        let bad = |m: String| Err(DistillError::Config(m));
        if self.total_steps == 0 {
            return bad("total_steps must be positive".into());
        }
        if self.batch_size == 0 || self.micro_batch_size == 0 {
            return bad(format!(
                "batch_size {} and micro_batch_size {} must be positive",
                self.batch_size, self.micro_batch_size
            ));
        }
        if !self.batch_size.is_multiple_of(self.micro_batch_size) {
            return bad(format!(
                "batch_size {} is not a multiple of micro_batch_size {}",
                self.batch_size, self.micro_batch_size
            ));
        }
        if n_train < self.batch_size {
            return bad(format!(
                "{n_train} training examples cannot fill a batch of {}",
                self.batch_size
            ));
        }
        if let Some(c) = self.max_grad_norm
            && !(c > 0.0 && c.is_finite())
        {
            return bad(format!("max_grad_norm {c} must be a positive number"));
        }
        self.schedule.validate()?;
        self.adamw.validate()?;
        Ok(())
    }
}

/// The data of an SFT run.
#[derive(Debug, Clone, Copy)]
pub struct SftData<'a> {
    /// Training examples.
    pub train: &'a [SftExample],
    /// Validation examples (may be empty: no validation loss).
    pub val: &'a [SftExample],
    /// The id used for right padding (any id; padded positions are never scored).
    pub pad_id: u32,
}

/// Where an SFT run writes (`metrics.csv`, `metrics.png`, `checkpoints/step-NNNNNN/`), and
/// how it may be interrupted: the training scaffold's run folder.
pub type SftRun<'a> = RunFolder<'a>;

/// What an SFT run returns.
#[derive(Debug)]
pub struct SftOutcome {
    /// The trained model (still on the training device).
    pub model: Model,
    /// Optimizer steps done in total.
    pub steps: u64,
    /// Training loss of the last step.
    pub train_loss: f64,
    /// The last validation loss, if any was computed.
    pub val_loss: Option<f64>,
    /// Seconds of training across resumes.
    pub seconds: f64,
    /// Whether the run stopped on request before `total_steps`.
    pub interrupted: bool,
    /// The last checkpoint written.
    pub checkpoint: Option<PathBuf>,
}

reasoning_train::metrics_row! {
    /// One row of an SFT run's `metrics.csv` (the columns are the field names, in order).
    pub struct SftMetrics {
        /// The optimizer step.
        pub step: f64,
        /// The epoch (0-based).
        pub epoch: f64,
        /// The step's learning rate.
        pub lr: f64,
        /// The step's training loss (answer tokens).
        pub train_loss: f64,
        /// The validation loss, when measured at this step.
        pub val_loss: Option<f64>,
        /// Global gradient norm before clipping.
        pub grad_norm: f64,
        /// Scored (answer) tokens of the step.
        pub answer_tokens: f64,
        /// Input tokens per second of the step.
        pub tokens_per_sec: f64,
        /// Seconds of training so far, across resumes.
        pub seconds: f64,
    }
}

/// The figure drawn from the metrics: losses, learning rate, gradient norm, throughput.
pub fn sft_plot() -> PlotSpec {
    PlotSpec::new(
        "step",
        vec![
            Panel::new(
                "Loss (answer tokens)",
                "cross-entropy",
                vec![Series::new("train_loss", 25), Series::new("val_loss", 1)],
            ),
            Panel::new("Learning rate", "lr", vec![Series::new("lr", 1)]),
            Panel::new(
                "Gradient norm (before clipping)",
                "global L2 norm",
                vec![Series::new("grad_norm", 25)],
            ),
            Panel::new(
                "Throughput",
                "input tokens / s",
                vec![Series::new("tokens_per_sec", 25)],
            ),
        ],
        2,
    )
}

/// Trains `model` (on an autodiff device) on `data` for `config.total_steps` optimizer steps.
///
/// Writes `metrics.csv` (one row per step), `metrics.png` and checkpoints under `run.dir`,
/// and reports each step to `progress`. A non-finite loss or gradient norm stops the run with
/// [`TrainError::NonFinite`] before the update, leaving the last checkpoint as the last good
/// state.
pub fn train_sft(
    model: Model,
    data: SftData<'_>,
    config: &SftConfig,
    run: &SftRun<'_>,
    progress: &mut dyn FnMut(&Progress),
) -> Result<SftOutcome, DistillError> {
    config.validate(data.train.len())?;
    for (i, e) in data.train.iter().chain(data.val).enumerate() {
        if e.prompt_len == 0 || e.prompt_len >= e.ids.len() {
            return Err(DistillError::Data(format!(
                "example {i} has prompt_len {} for {} ids; it needs at least one answer token",
                e.prompt_len,
                e.ids.len()
            )));
        }
    }
    let device = model.device();
    if !device.is_autodiff() {
        return Err(DistillError::Config(
            "SFT needs the model on an autodiff device (device.autodiff())".into(),
        ));
    }

    // Step 1: start fresh or resume from the latest checkpoint (with several ranks: checked
    // to hold the same examples, configuration and weights on every rank).
    let c = run.collective;
    if c.size() > 1 {
        let mut bytes = Vec::new();
        for e in data.train.iter().chain(data.val) {
            bytes.extend((e.prompt_len as u64).to_le_bytes());
            bytes.extend((e.ids.len() as u64).to_le_bytes());
            bytes.extend(e.ids.iter().flat_map(|i| i.to_le_bytes()));
        }
        agree(c, "training and validation examples", &bytes)?;
    }
    let started =
        TrainingRun::<SftMetrics>::start(run.clone(), config, sft_plot(), model, &device)?;
    let (mut training, mut model, mut optim, mut state) = started.into_parts();

    // Step 2: the epoch's data order. `state.rng` is the generator before this epoch's
    // shuffle, so a resume reproduces the order and continues at `state.position`.
    let mut rng = state.rng.restore()?;
    let lengths: Vec<usize> = data.train.iter().map(|e| e.ids.len()).collect();
    let mut order = epoch_order(&lengths, config, &mut rng);
    let mut val_loss = state.extra.get("val_loss").and_then(|v| v.as_f64());
    let (mut train_loss, mut interrupted) = (f64::NAN, false);

    while state.step < config.total_steps {
        if state.position as usize + config.batch_size > order.len() {
            state.epoch += 1;
            state.position = 0;
            state.rng = RngState::capture(&rng);
            order = epoch_order(&lengths, config, &mut rng);
        }
        let step_started = Instant::now();
        let pos = state.position as usize;
        let batch_ids = &order[pos..pos + config.batch_size];

        // Step 3: forward and backward per micro-batch, gradients summed (with several ranks,
        // each computes its share of the micro-batches and the sums are taken over all).
        let scale = 1.0 / config.batch_size as f64;
        let chunks: Vec<&[usize]> = batch_ids.chunks(config.micro_batch_size).collect();
        let pass = |model: &Model, _: usize, chunk: &&[usize]| {
            Ok::<_, TrainError>(micro_grads(model, chunk, &data, scale, &device))
        };
        let (grads, counts) = accumulate_gradients_on_ranks(
            &model,
            &device,
            &chunks,
            config.workers,
            state.step + 1,
            c,
            pass,
        )?;
        // This rank's sums, then the sums over ranks (one process: the identity).
        let mut sums = [0.0; 3];
        for (loss, answer, input) in &counts {
            sums[0] += loss;
            sums[1] += *answer as f64;
            sums[2] += *input as f64;
        }
        c.sum_f64(&mut sums)?;
        let [loss_sum, answer_tokens, tokens] = sums;
        let answer_tokens = answer_tokens as usize;
        let tokens = tokens as usize;

        // Step 4: clip by the global norm, check it, update.
        let lr = config.schedule.lr(state.step);
        let (next, grad_norm) = clip_and_step(
            model,
            &mut optim,
            grads,
            config.max_grad_norm,
            lr,
            state.step + 1,
        )?;
        model = next;
        state.step += 1;
        state.position += config.batch_size as u64;
        train_loss = loss_sum;
        let step_seconds = step_started.elapsed().as_secs_f64();

        // Step 5: validation (rank 0), metrics, progress.
        let last = state.step == config.total_steps;
        let mut this_val = None;
        if c.rank() == 0
            && !data.val.is_empty()
            && (last || (config.eval_every > 0 && state.step.is_multiple_of(config.eval_every)))
        {
            let v = evaluate_loss(&model, data.val, data.pad_id, config.micro_batch_size)?;
            this_val = Some(v);
            val_loss = Some(v);
        }
        state.seconds = training.seconds();
        let tokens_per_sec = tokens as f64 / step_seconds.max(1e-9);
        training.log(&SftMetrics {
            step: state.step as f64,
            epoch: state.epoch as f64,
            lr,
            train_loss,
            val_loss: this_val,
            grad_norm,
            answer_tokens: answer_tokens as f64,
            tokens_per_sec,
            seconds: state.seconds,
        })?;
        let mut shown = vec![
            ("loss", train_loss),
            ("lr", lr),
            ("grad_norm", grad_norm),
            ("tokens_per_sec", tokens_per_sec),
        ];
        if let Some(v) = this_val {
            shown.push(("val_loss", v));
        }
        progress(&training.progress(state.step, config.total_steps, state.epoch, shown));

        // Step 6: checkpoint (and plot) periodically, at the end, or on request (the flag may
        // have been raised during the step or by the progress callback).
        state.extra = serde_json::json!({ "val_loss": val_loss, "train_loss": train_loss });
        if training.checkpoint(&model, &optim, &state, config.checkpoint_every, last)? {
            interrupted = true;
            break;
        }
    }
    let last_ckpt = training.finish()?;
    Ok(SftOutcome {
        model,
        steps: state.step,
        train_loss,
        val_loss,
        seconds: state.seconds,
        interrupted,
        checkpoint: last_ckpt,
    })
}

/// Returns one epoch's order of example indices; consecutive `batch_size` blocks are the
/// batches (a partial last block is dropped by the caller).
pub fn epoch_order(lengths: &[usize], config: &SftConfig, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.shuffle(rng);
    if !config.group_by_length {
        return order;
    }
    let b = config.batch_size;
    let usable = order.len() / b * b;
    order.truncate(usable);
    // Step 1: sort windows of 16 batches by length (stable, so ties keep the shuffled order).
    for window in order.chunks_mut(16 * b) {
        window.sort_by_key(|&i| lengths[i]);
    }
    // Step 2: shuffle whole batches, so lengths do not rise and fall in a pattern.
    let mut batches: Vec<&[usize]> = order.chunks(b).collect();
    batches.shuffle(rng);
    batches.concat()
}
