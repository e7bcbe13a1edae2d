//! Reinforcement learning with verifiable rewards: GRPO and its variants, the companion of
//! *Build a Reasoning Model (From Scratch)* chapters 6 and 7.
//!
//! A model answers a problem `G` times; a verifier checks each answer against the known
//! result; answers that beat their siblings are made more likely, the others less. No reward
//! model, no value network: the group is its own baseline (Group Relative Policy
//! Optimization). This crate samples the rollouts (through `reasoning-inference`), scores them
//! (`reasoning-verifier`), turns scores into advantages, computes the loss of any of thirteen
//! presets on one batched forward pass, and runs the training loop with evaluation,
//! checkpoints and logs (optimizer and checkpoints from `reasoning-train`).
//!
//! # The objectives
//!
//! Notation: prompt `q`, rollouts `o_1 .. o_G` sampled from the rollout policy `π_old` at
//! temperature 0.8 with top-p 0.9; `o_it` the `t`-th token of rollout `i` (its stop token
//! included), `|o_i|` its length; `log π(o_it)` the log-probability at temperature 1 over the
//! full vocabulary (the book's convention); `S_i^X = Σ_t log π_X(o_it)`; `r_i` the reward,
//! `A_i` the advantage; `R` the rollouts of an update (`P` prompts × `G`); `sg` stop-gradient;
//! `clip(x) = clip(x, 1 − ε_low, 1 + ε_high)`. Every loss is `L = −J + β·KL`, minimised.
//!
//! ```text
//! advantage (book)     A_i = (r_i − mean_g r) / (std_g r + 1e-4)       std unbiased, as torch
//! advantage (Dr.GRPO)  A_i =  r_i − mean_g r
//! advantage (GDPO)     A_i = batchnorm( Σ_n w_n (r_n,i − mean_g r_n) / (std_g r_n + 1e-4) )
//! advantage (process)  A_it = Σ_{steps j of o_i ending after t} (r_i^j − mean_g R) / (std_g R + 1e-4)
//!                      R: every step reward of the group (DeepSeekMath §4.1.3; any preset with
//!                      a token-level objective, `--advantage process`)
//!
//! 6-grpo, 7.3          J = (1/R) Σ_i A_i S_i^θ                                   REINFORCE + group baseline
//! 7.4-clip-ratio       J = (1/R) Σ_i f_book(ρ_i, A_i),  ρ_i = exp(S_i^θ − S_i^old),  ε = (0.2, 10)
//! 7.5-kl               J as 7.4;  KL = (1/R) Σ_i (S_i^θ − S_i^ref),  β = 0.001    k1 on sequence sums
//! 7.6-format-reward    J as 7.4;  r_i = correct_i + format_i                      one update per step
//! grpo (DeepSeekMath)  J = (1/R) Σ_i (1/|o_i|) Σ_t f_ppo(ρ_it, A_i),  ρ_it = π_θ(o_it)/π_old(o_it)
//!                      KL = same average of exp(x) − x − 1, x = log π_ref − log π_θ,  β = 0.04
//! dr-grpo              J = (1/(R·L_max)) Σ_i Σ_t f_ppo(ρ_it, A_i),  A without std
//! dapo                 J = (1/Σ_i|o_i|) Σ_i Σ_t f_ppo(ρ_it, A_i),  ε = (0.2, 0.28),
//!                      zero-variance groups dropped and redrawn, truncated rollouts masked
//! gspo                 J = (1/R) Σ_i f_ppo(s_i, A_i),  s_i = exp((S_i^θ − S_i^old)/|o_i|),  ε = (3e-4, 4e-4)
//! cispo                J = (1/Σ_i|o_i|) Σ_i Σ_t sg(clip(ρ_it)) A_i log π_θ(o_it),  clip to [0, 5]
//! olmo3                J = (1/Σ_i|o_i|) Σ_i Σ_t f_ppo(min(ρ_it, 1.28), A_i),  A without std,
//!                      zero-variance groups dropped and redrawn (up to 8 tries)
//! deepseek-v32         J as grpo with A_i ← 0 where A_i < 0 and (S_i^old − S_i^θ)/|o_i| > 0.1;
//!                      KL = average of ρ_it (exp(x) − x − 1),  β = 0.001         unbiased k3;
//!                      every π over the sampler's support: log π̃(o_t) = z_{o_t} − logsumexp_{K_t} z
//! gdpo                 J as grpo (no KL), GDPO advantages of r = correct + 0.1·boxed
//!
//! f_ppo(ρ, A)  = min(ρA, clip(ρ)A)
//! f_book(ρ, A) = A ≥ 0 ? min(ρA, clip(ρ)A) : max(ρA, clip(ρ)A)  = A · min(ρ, 1 + ε_high)
//! ```
//!
//! # What is implemented, and how it departs from the book and the papers
//!
//! - **The book's clip sign.** `f_book` is what the book's scripts compute: for negative
//!   advantages it takes the `max`, so the lower clip never acts and the ratio is capped at
//!   `1 + ε_high` for both signs. The book-section presets keep it; the paper presets use
//!   PPO's `f_ppo`. Both are unit-tested against hand-computed values ([`loss`]).
//! - **Sequence sums.** The book's log-probabilities, ratios and KL are sums over a rollout's
//!   tokens (`ρ_i` is the product of token ratios, not GSPO's geometric mean); the paper
//!   presets work per token as their papers do.
//! - **Batches.** The book trains on one prompt per step and scores each rollout in its own
//!   forward pass. Here `P` prompts per step (default 1 in the library, more for the tiny
//!   model) share one batched, right-padded forward pass over all `P·G` rollouts
//!   ([`logprob`]); rollouts of a prompt share one prefill of the prompt.
//! - **Old policy.** With one update per step, `π_old = π_θ`: its log-probabilities are the
//!   detached values of the same forward pass, never recomputed. With `inner_epochs > 1` the
//!   book samples fresh rollouts from the step's frozen copy for every update (kept for the
//!   book presets); the paper presets reuse the rollouts (PPO).
//! - **Reference model.** A frozen copy of the starting weights exists only when `β ≠ 0`.
//! - **Rewards before forward passes.** Rewards and advantages are computed from the text
//!   before any policy pass; rollouts run on an inference copy, so no autodiff graph is kept.
//! - **Keep sampling mask** (DeepSeek-V3.2, on in `deepseek-v32`, `Algorithm::keep_sampling_mask`
//!   elsewhere): the generator records `K_t`, the ids top-p/top-k kept when rollout token `t`
//!   was drawn (at the rollout temperature), and `π_θ`, `π_old` and `π_ref` are all computed
//!   at temperature 1 over `K_t` only (`Model::target_log_probs_within`), as the book's script
//!   does with its stored boolean masks. The supports are id lists, not vocabulary-wide masks.
//! - **Not implemented:** DAPO's soft overlong penalty, importance weights between a separate
//!   sampler and learner (there is none here).
//!
//! # From the objective to the code, in the book's order
//!
//! One GRPO step is five functions of [`step`], each public so a program can run its own loop:
//!
//! 1. [`step::prompt_ids`]: the problems as prompt ids (the book's prompt, section 3).
//! 2. [`step::sample_rollouts`]: `G` rollouts per prompt from `π_old` (section 6.3).
//! 3. [`step::score_rollouts`]: rewards from the verifier or any [`Reward`] (section 6.4).
//! 4. [`step::assign_advantages`]: the group-relative advantages (section 6.5, [`advantage`]).
//! 5. [`step::update_policy`]: the loss of the chosen [`Preset`] on one batched forward pass
//!    ([`logprob`], [`loss`]; the chapter-6 loss alone is [`loss::book_loss`]), backward,
//!    global-norm clipping, AdamW (sections 6.6-6.8).
//!
//! [`train`] is the section-6.9 loop over them: evaluation
//! ([`reasoning_inference::evaluate_greedy`]), metrics ([`metrics`]),
//! checkpoints and resume ([`trainer`]). [`GrpoConfig::default`] is the book's chapter-6 run;
//! [`GrpoConfig::tiny_arith`] is the project's headline run (`cargo xtask train-grpo`).
//!
//! # Modules
//!
//! - [`preset`]: the named presets ([`Preset`], [`Algorithm`]).
//! - [`config`]: [`GrpoConfig`], every setting of a run.
//! - [`step`]: the five steps of an update, with [`step::Rollout`] and [`step::Group`].
//! - [`reward`]: the [`Reward`] trait and the built-in rewards ([`RewardSpec`]), among them
//!   a process reward this project adds for arithmetic chains, `correct+steps`
//!   (`r_i = correct_i + 0.5 · true_lines_i / lines_i`, [`reward::ArithmeticSteps`]).
//! - [`advantage`]: group advantages, GDPO, process supervision (per-token advantages from
//!   step rewards: [`Reward::steps`], [`advantage::process_advantages`]), statistics.
//! - [`loss`]: [`LossConfig`] and [`grpo_loss`], one function per row of its table, and
//!   [`loss::book_loss`].
//! - [`logprob`]: batched per-token log-probabilities and entropies.
//! - [`metrics`]: the CSV columns and the 2×2 plot.
//! - [`trainer`]: [`train`], the loop with checkpoints and resume.
//!
//! # Example
//!
//! The headline run from Rust (the step-by-step loop is in [`step`] and
//! `examples/custom_reward.rs`):
//!
//! ```no_run
//! use reasoning_grpo::{GrpoConfig, GrpoData, GrpoRun, train};
//! use reasoning_inference::{LoadedModel, PromptBuilder};
//! use reasoning_model::{DType, Device};
//! use reasoning_verifier::datasets::{FieldMap, load_records};
//!
//! let device = Device::flex().autodiff();
//! let lm = LoadedModel::load("models/tiny-arith", None, &device, DType::F32)?;
//! let train_set = load_records("datasets/arith/train.jsonl".as_ref(), &FieldMap::default())?;
//! let test_set = load_records("datasets/arith/test.jsonl".as_ref(), &FieldMap::default())?;
//! let config = GrpoConfig { steps: 20, ..GrpoConfig::tiny_arith() };
//! let data = GrpoData { train: &train_set, eval: &test_set[..200], prompt: PromptBuilder::default() };
//! let run = GrpoRun { dir: "runs/grpo-example".as_ref(), extra_files: vec![], resume: false,
//!                     stop: None, save_model: true,
//!                     collective: reasoning_train::collective::SINGLE };
//! let outcome = train(lm.model, &lm.tokenizer, data, None, &config, &run, &mut |_| {})?;
//! println!("{:?} -> {:?}", outcome.start_accuracy, outcome.final_accuracy);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Several processes
//!
//! [`GrpoRun::collective`] takes the ranks of a data-parallel run (`reasoning_train::collective`;
//! `SINGLE` for one process). Every rank draws the same prompts; each samples and scores a
//! contiguous share of them from the same per-slot streams one process would use
//! ([`step::sample_rollouts_at`]); the scored groups are gathered so advantages see the whole
//! batch; each rank computes its share of the update's micro-batches; one sum of the gradients
//! (and loss statistics) gives every rank the same AdamW step. Rank 0 alone evaluates and
//! writes. `mpirun -np 2` reproduces one process within 1e-5 (docs/distributed.md).
//!
//! # Cargo features
//!
//! None. The device is chosen at run time (`reasoning_model::DeviceSpec`); training needs
//! `device.autodiff()`. MPI comes from `reasoning-train`'s feature `mpi`.

#![deny(missing_docs)]

pub mod advantage;
pub mod config;
pub mod error;
pub mod logprob;
pub mod loss;
pub mod metrics;
pub mod preset;
pub mod reward;
pub mod step;
pub mod trainer;
mod wire;

pub use advantage::{AdvantageMode, AdvantageStats, gdpo_advantages, group_advantages};
pub use config::GrpoConfig;
pub use error::{GrpoError, Result};
pub use loss::{LossConfig, LossInputs, LossStats, book_loss, grpo_loss};
pub use preset::{Algorithm, Preset};
pub use reward::{Reward, RewardInput, RewardScore, RewardSpec};
pub use step::{Group, Rollout};
pub use trainer::{GrpoData, GrpoOutcome, GrpoRun, train};
