//! The recipe of the embedded default model: its tokenizer, chat template and architecture.
//!
//! Real Qwen3 weights are out of reach on a 2-core CPU with no downloads, so the project ships
//! a small Qwen3-architecture model trained from scratch on the [arithmetic](crate::task)
//! task family. It goes through the same pipeline as a real model (chat template, `\boxed{}`
//! answers, `<think>` reasoning, HF folder layout), so every chapter's command runs on it.
//!
//! # Tokenizer
//!
//! A byte-level BPE with Qwen3's pre-tokenizer (the same split regex, so every digit is its own
//! piece, and the same `ByteLevel` mapping), trained on the rendered training conversations:
//! the constant prompt template collapses into whole-word tokens while numbers stay digit by
//! digit. Its special tokens are ChatML's, with Qwen3's ids order:
//!
//! ```text
//! id 0  <|endoftext|>   padding, end of text
//! id 1  <|im_start|>    start of a chat turn
//! id 2  <|im_end|>      end of a chat turn: the EOS of generation
//! id 3  <think>         opens the reasoning (an added, non-special token, as in Qwen3)
//! id 4  </think>        closes it
//! ```
//!
//! # Chat template
//!
//! [`CHAT_TEMPLATE`] is Qwen3's ChatML layout without tools, with the same thinking switch:
//!
//! ```text
//! <|im_start|>user\n{render_prompt(problem)}<|im_end|>\n<|im_start|>assistant\n
//!     enable_thinking (default):  the model writes <think>\n{steps}\n</think>\n\n\boxed{N}<|im_end|>
//!     enable_thinking = false:    the template adds <think>\n\n</think>\n\n; the model writes \boxed{N}<|im_end|>
//! ```
//!
//! # Training
//!
//! [`pretrain`] runs three phases with the chapter-8 SFT trainer: a drill on raw solution lines,
//! SFT on the chat-formatted problems (80% reasoning, 20% direct), and a short phase 3
//! ([`PolishConfig::habit`]) in which a quarter of the reasoning answers are replaced by the
//! empty think block a hybrid model writes when it decides not to think. Phases 1-2 alone give a
//! model that always reasons and fails only by its arithmetic facts, which neither voting nor
//! 15 minutes of GRPO can fix; phase 3 adds a failure of behaviour, as the book's base model
//! has, which both can: greedy decoding skips the reasoning on two thirds of the test problems
//! (the choice is one token after `<think>`, and greedy takes the empty block wherever its
//! probability passes one half), samples reason more often, and GRPO rewards reasoning.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use reasoning_model::{Architecture, Config, Device, Model};
use reasoning_tokenizer::{ChatMessage, ChatOptions, Tokenizer};
use reasoning_train::fs::write_json_atomic;
use reasoning_train::{AdamWConfig, LrSchedule, Progress};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::BpeTrainerBuilder;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer as HfTokenizer};

use reasoning_distill::sft::{
    AnswerStyle, SftConfig, SftData, SftExample, SftOutcome, SftRun, build_example, turn_end_id,
};

use crate::ArithError;
use crate::targets::{arithmetic_examples, arithmetic_target, drill_examples, empty_think_target};
use crate::task::ArithRecord;

/// The control tokens, in id order (ids 0, 1, 2).
pub const SPECIAL_TOKENS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// The reasoning delimiters (ids 3, 4): added tokens that are not "special", as in Qwen3, so
/// decoding with `skip_special` keeps them.
pub const THINK_TOKENS: [&str; 2] = ["<think>", "</think>"];

/// The end-of-turn token that ends generation.
pub const EOS_TOKEN: &str = "<|im_end|>";

/// The padding token.
pub const PAD_TOKEN: &str = "<|endoftext|>";

/// Qwen2/Qwen3's pre-tokenizer regex: letters in words, every digit alone, punctuation runs,
/// newlines.
pub const SPLIT_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Qwen3's chat template without tools: ChatML turns and the `enable_thinking` switch.
pub const CHAT_TEMPLATE: &str = "{%- for message in messages %}\n    {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n    {%- if enable_thinking is defined and enable_thinking is false %}\n        {{- '<think>\\n\\n</think>\\n\\n' }}\n    {%- endif %}\n{%- endif %}";

/// Sizes of the tiny Qwen3 (all other settings follow Qwen3: QK-norm, tied embeddings,
/// SwiGLU, RMSNorm ε = 1e-6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TinySize {
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Number of transformer blocks.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads (grouped-query attention).
    pub num_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Width of the SwiGLU layer.
    pub intermediate_size: usize,
}

impl Default for TinySize {
    /// The shipped model's size.
    fn default() -> Self {
        Self {
            hidden_size: 192,
            num_layers: 4,
            num_heads: 6,
            num_kv_heads: 2,
            head_dim: 32,
            intermediate_size: 512,
        }
    }
}

/// Returns the Qwen3 configuration of the tiny model for a vocabulary of `vocab_size` ids.
///
/// RoPE covers 1024 positions (prompts are about 60 tokens, answers under 60) with θ = 10⁴.
pub fn tiny_config(size: &TinySize, vocab_size: usize, eos_id: u32) -> Config {
    Config {
        model_type: Architecture::Qwen3,
        vocab_size,
        hidden_size: size.hidden_size,
        intermediate_size: size.intermediate_size,
        num_hidden_layers: size.num_layers,
        num_attention_heads: size.num_heads,
        num_key_value_heads: size.num_kv_heads,
        head_dim: size.head_dim,
        rms_norm_eps: 1e-6,
        rope_theta: 10_000.0,
        max_position_embeddings: 1024,
        tie_word_embeddings: true,
        bos_token_id: None,
        eos_token_id: vec![eos_id],
    }
}

/// Returns a `tokenizer.json` (as JSON) with Qwen3's pipeline and the given BPE vocabulary.
fn tokenizer_json(vocab: Value, merges: Value) -> Value {
    let added: Vec<Value> = SPECIAL_TOKENS
        .iter()
        .map(|t| (t, true))
        .chain(THINK_TOKENS.iter().map(|t| (t, false)))
        .enumerate()
        .map(|(id, (content, special))| {
            json!({"id": id, "content": content, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": special})
        })
        .collect();
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false});
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": SPLIT_REGEX}, "behavior": "Isolated", "invert": false},
            byte_level,
        ]},
        "post_processor": byte_level,
        "decoder": byte_level,
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false,
                  "ignore_merges": false, "vocab": vocab, "merges": merges},
    })
}

/// The tokens every vocabulary starts with: the five specials, then the 256 byte symbols.
fn base_vocab() -> Vec<String> {
    let alphabet: BTreeSet<char> = ByteLevel::alphabet().into_iter().collect();
    SPECIAL_TOKENS
        .iter()
        .chain(THINK_TOKENS.iter())
        .map(|s| s.to_string())
        .chain(alphabet.into_iter().map(String::from))
        .collect()
}

/// Writes `tokenizer_config.json` (chat template, EOS, padding) and `generation_config.json`
/// next to a `tokenizer.json` in `dir`.
fn write_side_files(dir: &Path, eos_id: u32, pad_id: u32) -> Result<(), ArithError> {
    let decoder: serde_json::Map<String, Value> = SPECIAL_TOKENS
        .iter()
        .map(|t| (t, true))
        .chain(THINK_TOKENS.iter().map(|t| (t, false)))
        .enumerate()
        .map(|(id, (content, special))| {
            (
                id.to_string(),
                json!({"content": content, "lstrip": false, "normalized": false,
                                    "rstrip": false, "single_word": false, "special": special}),
            )
        })
        .collect();
    let config = json!({
        "add_bos_token": false,
        "add_prefix_space": false,
        "added_tokens_decoder": decoder,
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": null,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": false,
        "eos_token": EOS_TOKEN,
        "errors": "replace",
        "model_max_length": 1024,
        "pad_token": PAD_TOKEN,
        "split_special_tokens": false,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": null,
    });
    write_json_atomic(&dir.join("tokenizer_config.json"), &config)?;
    let generation = json!({
        "eos_token_id": [eos_id, pad_id],
        "pad_token_id": pad_id,
        "do_sample": false,
    });
    write_json_atomic(&dir.join("generation_config.json"), &generation)?;
    Ok(())
}

/// Returns the rendered training conversations of `records` in both answer styles: the texts
/// the tokenizer is trained on, exactly as the SFT examples will encode them.
fn conversations(tok: &Tokenizer, records: &[ArithRecord]) -> Result<Vec<String>, ArithError> {
    let mut texts = Vec::with_capacity(2 * records.len());
    for r in records {
        for style in [AnswerStyle::Reasoning, AnswerStyle::Direct] {
            let messages = [ChatMessage::user(reasoning_verifier::render_prompt(
                &r.problem,
            ))];
            let opts = ChatOptions::generation().thinking(style == AnswerStyle::Reasoning);
            let prompt = tok.apply_chat_template(&messages, &opts)?;
            texts.push(format!(
                "{prompt}{}{EOS_TOKEN}",
                arithmetic_target(r, style)
            ));
        }
    }
    Ok(texts)
}

/// Trains the tiny model's tokenizer on `records` and writes `tokenizer.json`,
/// `tokenizer_config.json` and `generation_config.json` into `dir`; returns the loaded
/// tokenizer.
///
/// Deterministic: the same records and `vocab_size` give the same files (the BPE trainer
/// breaks ties by pair ids, and its alphabet is sorted).
///
/// Step 1 writes a byte-level tokenizer without merges, so the chat template can render the
/// training conversations exactly; step 2 trains the merges on them.
pub fn build_tokenizer(
    dir: &Path,
    records: &[ArithRecord],
    vocab_size: usize,
) -> Result<Tokenizer, ArithError> {
    let base = base_vocab();
    if vocab_size < base.len() {
        return Err(ArithError::Config(format!(
            "tokenizer vocab_size {vocab_size} is below the {} base tokens",
            base.len()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| ArithError::io("create folder", dir, e))?;
    let (eos_id, pad_id) = (2, 0);
    // Step 1: the bootstrap tokenizer (bytes only) renders the conversations.
    let vocab: serde_json::Map<String, Value> = base
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), json!(i)))
        .collect();
    let bootstrap = tokenizer_json(Value::Object(vocab), json!([]));
    write_json_atomic(&dir.join("tokenizer.json"), &bootstrap)?;
    write_side_files(dir, eos_id, pad_id)?;
    let texts = conversations(&Tokenizer::load(dir)?, records)?;
    // Step 2: train the merges. Specials are registered first so the trainer never splits them.
    let empty = tokenizer_json(json!({}), json!([]));
    let mut hf = HfTokenizer::from_str(&empty.to_string())
        .map_err(|e| ArithError::TokenizerTraining(e.to_string()))?;
    let specials: Vec<AddedToken> = SPECIAL_TOKENS
        .iter()
        .chain(THINK_TOKENS.iter())
        .map(|t| AddedToken::from(t.to_string(), true))
        .collect();
    hf.add_special_tokens(&specials);
    let mut trainer = TrainerWrapper::BpeTrainer(
        BpeTrainerBuilder::new()
            .vocab_size(vocab_size)
            .show_progress(false)
            .special_tokens(specials)
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build(),
    );
    hf.train(&mut trainer, texts.iter())
        .map_err(|e| ArithError::TokenizerTraining(e.to_string()))?;
    // Step 3: rebuild the file with our pipeline and added-token flags around the trained model.
    let trained: Value = serde_json::from_str(
        &hf.to_string(false)
            .map_err(|e| ArithError::TokenizerTraining(e.to_string()))?,
    )
    .map_err(|e| ArithError::TokenizerTraining(e.to_string()))?;
    let final_json = tokenizer_json(
        trained["model"]["vocab"].clone(),
        trained["model"]["merges"].clone(),
    );
    write_json_atomic(&dir.join("tokenizer.json"), &final_json)?;
    let tok = Tokenizer::load(dir)?;
    for (id, t) in SPECIAL_TOKENS.iter().chain(THINK_TOKENS.iter()).enumerate() {
        if tok.token_to_id(t) != Some(id as u32) {
            return Err(ArithError::TokenizerTraining(format!(
                "trained tokenizer gives {t:?} id {:?}, expected {id}",
                tok.token_to_id(t)
            )));
        }
    }
    Ok(tok)
}

/// The first training phase: drill sequences of raw solution lines (see [`drill_examples`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillConfig {
    /// Number of packed sequences (one epoch).
    pub sequences: usize,
    /// Tokens per sequence, at most.
    pub max_tokens: usize,
    /// The training loop's settings for this phase.
    pub sft: SftConfig,
}

/// The third training phase: a short SFT pass over the training split's problems up to a level
/// at a constant learning rate, optionally with some reasoning-style answers replaced by an
/// empty think block (see [`pretrain`] and [`PolishConfig::habit`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolishConfig {
    /// Problems of levels `1..=max_level` are kept.
    pub max_level: u8,
    /// Fraction of the kept reasoning-style examples rewritten to skip their reasoning
    /// ([`empty_think_target`]: an empty think block under the
    /// thinking prompt), drawn per example (0: none; recipes written before it existed have
    /// none).
    #[serde(default)]
    pub empty_think_fraction: f64,
    /// The training loop's settings for this phase.
    pub sft: SftConfig,
}

impl PolishConfig {
    /// Checks the settings against the training records: the fraction must lie in `[0, 1]`
    /// and some record must have `level <= max_level`.
    pub fn validate(&self, records: &[ArithRecord]) -> Result<(), ArithError> {
        let fraction = self.empty_think_fraction;
        if !(0.0..=1.0).contains(&fraction) {
            return Err(ArithError::Config(format!(
                "phase 3 empty_think_fraction {fraction} is not in [0, 1]"
            )));
        }
        if !records.iter().any(|r| r.level <= self.max_level) {
            return Err(ArithError::Data(format!(
                "no training problem of level 1..={} for phase 3",
                self.max_level
            )));
        }
        Ok(())
    }

    /// Phase 3 of the shipped recipe: 200 steps of 16 examples of all levels at a constant
    /// learning rate of 1e-4 (two workers of 8), in which a quarter of the reasoning-style
    /// examples answer with an empty think block ([`empty_think_target`]). It gives the
    /// model the habit of a hybrid or base model that does not always reason, which chapters
    /// 4-7 correct (docs/tiny-model.md, "Phase 3").
    ///
    /// [`empty_think_target`]: crate::targets::empty_think_target
    pub fn habit() -> Self {
        let mut config = Self::pilot(200);
        config.max_level = 5;
        config.empty_think_fraction = 0.25;
        config.sft.schedule = LrSchedule::Constant { lr: 1e-4 };
        config
    }

    /// The settings of the pilot in docs/tiny-model.md: `steps` steps of 16 examples of levels
    /// 1 to 3 at a constant learning rate of 1e-3 (two workers of 8), AdamW with weight decay
    /// 0.1, clipping at 1.0. (It lowered the test accuracy there; the shipped recipe's phase 3
    /// is [`PolishConfig::habit`].)
    pub fn pilot(steps: u64) -> Self {
        Self {
            max_level: 3,
            empty_think_fraction: 0.0,
            sft: SftConfig {
                total_steps: steps,
                batch_size: 16,
                micro_batch_size: 8,
                workers: 2,
                schedule: LrSchedule::Constant { lr: 1e-3 },
                adamw: AdamWConfig {
                    weight_decay: 0.1,
                    ..AdamWConfig::default()
                },
                max_grad_norm: Some(1.0),
                eval_every: 100,
                checkpoint_every: 100,
                seed: 1,
                group_by_length: true,
            },
        }
    }
}

/// The whole recipe of `cargo xtask pretrain-tiny`: tokenizer, model size, data mix and SFT
/// settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainConfig {
    /// Seed of the weights' initialisation and the answer-style draw (the data order uses
    /// `sft.seed`).
    pub seed: u64,
    /// Model size.
    pub size: TinySize,
    /// Tokenizer vocabulary size (specials, bytes and merges).
    pub vocab_size: usize,
    /// Fraction of training problems shown in the reasoning style (the rest answer directly).
    pub reasoning_fraction: f64,
    /// Phase 1: drill on raw solution lines (`None`: skip).
    pub drill: Option<DrillConfig>,
    /// Phase 2: SFT on the chat-formatted problems.
    pub sft: SftConfig,
    /// Phase 3: SFT at a constant learning rate on the problems up to a level, some answers
    /// without their reasoning (`None`: skip; recipes written before it existed have none).
    #[serde(default)]
    pub polish: Option<PolishConfig>,
}

impl Default for PretrainConfig {
    /// The recipe of the shipped model.
    fn default() -> Self {
        let (drill_steps, total_steps) = (400, 1300);
        // Phase 2; phase 1 differs in its length, warm-up, checkpoints and batching.
        let sft = SftConfig {
            total_steps,
            batch_size: 32,
            micro_batch_size: 16,
            workers: 2,
            schedule: LrSchedule::WarmupCosine {
                peak_lr: 3e-3,
                min_lr: 3e-4,
                warmup_steps: 100,
                total_steps,
            },
            adamw: AdamWConfig {
                weight_decay: 0.1,
                ..AdamWConfig::default()
            },
            max_grad_norm: Some(1.0),
            eval_every: 100,
            checkpoint_every: 250,
            seed: 1,
            group_by_length: true,
        };
        let drill = SftConfig {
            total_steps: drill_steps,
            schedule: LrSchedule::WarmupCosine {
                peak_lr: 3e-3,
                min_lr: 3e-4,
                warmup_steps: 50,
                total_steps: drill_steps,
            },
            checkpoint_every: 200,
            group_by_length: false,
            ..sft.clone()
        };
        Self {
            seed: 1,
            size: TinySize::default(),
            vocab_size: 512,
            reasoning_fraction: 0.8,
            drill: Some(DrillConfig {
                sequences: drill_steps as usize * 32,
                max_tokens: 128,
                sft: drill,
            }),
            sft,
            polish: Some(PolishConfig::habit()),
        }
    }
}

/// What [`pretrain`] returns.
#[derive(Debug)]
pub struct PretrainOutcome {
    /// The run's final model folder (`<run>/model`): HF Qwen3 layout with tokenizer files.
    pub model_dir: PathBuf,
    /// The last phase's outcome (with the trained model; an earlier phase's when that phase
    /// was interrupted).
    pub sft: SftOutcome,
    /// Seconds of phase 1 (0 without a drill phase).
    pub drill_seconds: f64,
    /// Seconds of phase 2.
    pub sft_seconds: f64,
    /// Seconds of phase 3 (0 without a polish phase).
    pub polish_seconds: f64,
    /// Number of parameters.
    pub num_params: usize,
}

/// Trains the tiny model from scratch: builds the tokenizer on `train` into `<run>/tokenizer`,
/// initialises a seeded Qwen3 of `config.size`, trains phase 1 (drill on packed solution lines,
/// [`drill_examples`]) in `<run>/drill` and phase 2 (SFT, one chat example per training
/// problem, style drawn with `reasoning_fraction`) in `<run>/sft`, each with
/// [`sft::train_sft`](reasoning_distill::sft::train_sft); the final model goes to `<run>/model`. Progress reports
/// carry a `phase` metric (1, 2 or 3). With `config.polish`, phase 3 trains again on the
/// problems with `level <= max_level` at a constant learning rate in `<run>/polish`, a
/// fraction `empty_think_fraction` of the reasoning-style answers (drawn from the seed's own
/// stream 3) replaced by [`empty_think_target`], before the
/// model is saved.
///
/// Deterministic on one machine for one seed: the tokenizer, data order and initialisation are
/// seeded, and burn-flex's CPU kernels are deterministic.
pub fn pretrain(
    config: &PretrainConfig,
    train: &[ArithRecord],
    val: &[ArithRecord],
    device: &Device,
    run: &SftRun<'_>,
    progress: &mut dyn FnMut(&Progress),
) -> Result<PretrainOutcome, ArithError> {
    // Phase 3's settings are checked before phases 1 and 2 spend their minutes.
    if let Some(polish) = &config.polish {
        polish.validate(train)?;
    }
    // Step 1: the tokenizer, trained on the training conversations. With several ranks
    // (data parallelism) each trains the same one; only rank 0 writes into the run folder.
    let root = run.collective.rank() == 0;
    let tok_dir = if root {
        run.dir.join("tokenizer")
    } else {
        let name = format!(
            "reasoning-tokenizer-{}-rank{}",
            std::process::id(),
            run.collective.rank()
        );
        std::env::temp_dir().join(name)
    };
    let tok = build_tokenizer(&tok_dir, train, config.vocab_size)?;
    let eos = turn_end_id(&tok)?;
    let pad_id = tok.pad_token_id().unwrap_or(0);
    // Step 2: one example per problem, in the reasoning style with probability
    // `reasoning_fraction`; validation examples in both styles in the same mix.
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    rng.set_stream(1);
    let train_ex = arithmetic_examples(&tok, train, config.reasoning_fraction, &mut rng)?;
    let val_ex = arithmetic_examples(&tok, val, config.reasoning_fraction, &mut rng)?;
    // Step 3: a seeded Qwen3, trained.
    let model_config = tiny_config(&config.size, tok.vocab_size(), eos);
    let mut model = Model::init(&model_config, &device.clone().autodiff(), config.seed);
    let num_params = model.num_params();
    let extra_files: Vec<PathBuf> = reasoning_model::hub::TOKENIZER_FILES
        .iter()
        .map(|f| tok_dir.join(f))
        .collect();
    // One phase: `train` (validated on `val`) from `model` in `<run>/<name>`, each progress
    // report tagged with the phase's number.
    let mut phase = |model: Model,
                     name: &str,
                     number: f64,
                     train: &[SftExample],
                     val: &[SftExample],
                     sft: &SftConfig| {
        let dir = run.dir.join(name);
        let phase_run = SftRun {
            dir: &dir,
            extra_files: extra_files.clone(),
            resume: run.resume,
            stop: run.stop,
            collective: run.collective,
        };
        let data = SftData { train, val, pad_id };
        let mut tagged = |p: &Progress| progress(&with_phase(p, number));
        reasoning_distill::sft::train_sft(model, data, sft, &phase_run, &mut tagged)
    };
    // Seconds of phases 1, 2 and 3; an interrupted phase ends the run with its outcome.
    let mut seconds = [0.0; 3];
    let stopped = |outcome: SftOutcome, seconds: [f64; 3]| PretrainOutcome {
        model_dir: run.dir.join("model"),
        sft: outcome,
        drill_seconds: seconds[0],
        sft_seconds: seconds[1],
        polish_seconds: seconds[2],
        num_params,
    };
    // Step 3a: phase 1, drill on raw solution lines, in `<run>/drill`.
    if let Some(drill) = &config.drill {
        let drill_train = drill_examples(&tok, train, drill.sequences, drill.max_tokens, &mut rng)?;
        let drill_val = drill_examples(&tok, val, 64, drill.max_tokens, &mut rng)?;
        let outcome = phase(model, "drill", 1.0, &drill_train, &drill_val, &drill.sft)?;
        seconds[0] = outcome.seconds;
        if outcome.interrupted {
            return Ok(stopped(outcome, seconds));
        }
        model = outcome.model;
    }
    // Step 3b: phase 2, SFT on the chat-formatted problems, in `<run>/sft`.
    let mut outcome = phase(model, "sft", 2.0, &train_ex, &val_ex, &config.sft)?;
    seconds[1] = outcome.seconds;
    if outcome.interrupted {
        return Ok(stopped(outcome, seconds));
    }
    // Step 3c: phase 3, the problems up to a level again at a constant learning rate, in
    // `<run>/polish` (each problem keeps the answer style drawn for it in step 2, except the
    // reasoning answers drawn to skip their reasoning).
    if let Some(polish) = &config.polish {
        // Its own stream, so phases 1 and 2 see the same draws with or without phase 3.
        let mut skip_rng = ChaCha8Rng::seed_from_u64(config.seed);
        skip_rng.set_stream(3);
        let easy = phase3_examples(&tok, train, &train_ex, polish, &mut skip_rng)?;
        outcome = phase(outcome.model, "polish", 3.0, &easy, &val_ex, &polish.sft)?;
        seconds[2] = outcome.seconds;
        if outcome.interrupted {
            return Ok(stopped(outcome, seconds));
        }
    }
    // Step 4: the final model folder (rank 0).
    let model_dir = run.dir.join("model");
    if root {
        outcome
            .model
            .save_hf(&model_dir, reasoning_model::DType::F32)?;
        let files = &reasoning_model::hub::TOKENIZER_FILES;
        reasoning_model::hf::copy_files(&tok_dir, &model_dir, files)?;
    } else {
        // Best effort: the private copy of the tokenizer is no longer needed.
        let _ = std::fs::remove_dir_all(&tok_dir);
    }
    Ok(PretrainOutcome {
        model_dir,
        ..stopped(outcome, seconds)
    })
}

/// Returns the examples of phase 3: those of `examples` (one per record of `records`, as
/// [`arithmetic_examples`] built them) whose problem has `level <= polish.max_level`, each
/// reasoning-style one replaced, with probability `polish.empty_think_fraction` drawn from
/// `rng`, by the same prompt answered with an empty think block
/// ([`empty_think_target`]). Direct-style examples are kept
/// as they are. One draw per kept reasoning example, in order, so a seed gives one data set.
///
/// Errors when the fraction is outside `[0, 1]` or the lists differ in length.
pub fn phase3_examples(
    tok: &Tokenizer,
    records: &[ArithRecord],
    examples: &[SftExample],
    polish: &PolishConfig,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<SftExample>, ArithError> {
    polish.validate(records)?;
    let fraction = polish.empty_think_fraction;
    if records.len() != examples.len() {
        return Err(ArithError::Data(format!(
            "phase 3 needs one example per record; got {} records and {} examples",
            records.len(),
            examples.len()
        )));
    }
    let eos = turn_end_id(tok)?;
    let think = tok.token_to_id("<think>");
    let mut out = Vec::new();
    for (r, e) in records.iter().zip(examples) {
        if r.level > polish.max_level {
            continue;
        }
        let reasoning = think.is_some() && e.ids.get(e.prompt_len).copied() == think;
        if reasoning && fraction > 0.0 && rand::RngExt::random_bool(rng, fraction) {
            let target = empty_think_target(r);
            out.push(
                build_example(tok, &r.problem, &target, AnswerStyle::Reasoning, eos)
                    .map_err(|e| ArithError::Data(format!("record {}: {e}", r.unique_id)))?,
            );
        } else {
            out.push(e.clone());
        }
    }
    Ok(out)
}

/// Returns `p` with a `phase` metric (1: drill, 2: SFT, 3: polish) for the caller's progress display.
fn with_phase(p: &Progress, phase: f64) -> Progress {
    let mut p = p.clone();
    p.metrics.push(("phase", phase));
    p
}
