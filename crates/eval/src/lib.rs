//! Appendix F of *Build a Reasoning Model (From Scratch)*: evaluating models beyond one
//! answer's correctness, three ways:
//!
//! - [`mmlu`]: a multiple-choice benchmark (MMLU, 57 subjects, 14,042 test questions) scored
//!   the book's three ways: the first letter the model generates, the next-token
//!   log-probabilities of the four letters, or the teacher-forced log-probability of each whole
//!   answer; plus the seeded random baseline.
//! - [`leaderboard`]: rankings from pairwise human votes, as in LM Arena: the book's Elo and
//!   the Bradley–Terry maximum-likelihood fit, with bootstrap intervals.
//! - [`judge`]: LLM-as-a-judge: a second model grades each answer 1–5 with the book's rubric.
//!
//! # MMLU
//!
//! ```text
//! letter           pred = first A–D character in the greedy continuation (≤ 8 tokens)
//! logprob          pred = argmax_L log p(first token of L | prompt)
//! teacher-forcing  pred = argmax_L (1/|a_L|) Σ_t log p(a_L,t | prompt, a_L,<t),  a_L = "L. <choice>"
//! accuracy         (1/n) Σ [pred = gold],  chance 25% ± sqrt(0.25 · 0.75 / n)
//! ```
//!
//! [`mmlu::evaluate`] batches questions (left padding, one shared prefill for the four
//! teacher-forced answers of a question) and is checked against HF transformers' answers on
//! the real SmolLM2 GGUF. See the [`mmlu`] page for the prompt and the departures from the
//! book.
//!
//! # LLM as a judge
//!
//! ```text
//! score = parse_score(judge(rubric(instruction, reference, answer))) ∈ {1..5} or none
//! ```
//!
//! The judge is any [`judge::Judge`]: a local model ([`judge::ModelJudge`]) or a closure. The
//! book falls back to a score of 3 when the reply holds no digit; here such replies are
//! counted as unscored, with the reply kept ([`judge::parse_score`]).
//!
//! # Leaderboards
//!
//! A vote is a pair `(winner, loser)`. [`leaderboard::elo`] replays the votes in order,
//! exactly as the book's `elo_ratings`: every model starts at `R₀` (1000) and each vote moves
//! both ratings by `K` (32) times the surprise:
//!
//! ```text
//! E_w = 1 / (1 + 10^((R_l − R_w) / 400))      expected score of the winner
//! R_w ← R_w + K (1 − E_w)                     R_l ← R_l − K (1 − E_w)
//! ```
//!
//! Elo depends on the order of the votes. The Bradley–Terry model does not: it gives model
//! `i` a strength `θ_i` with `P(i beats j) = σ(θ_i − θ_j)` and fits all votes at once by
//! maximum likelihood,
//!
//! ```text
//! max_θ  Σ_votes log σ(θ_w − θ_l)       ⇔      Σ_j n_ij σ(θ_j − θ_i) = W_i  for every i
//! ```
//!
//! where `W_i` counts the wins of `i` and `n_ij` the games between `i` and `j`.
//! [`leaderboard::bradley_terry`] solves it with Hunter's minorise–maximise iteration
//! (`p_i ← W_i / Σ_j n_ij / (p_i + p_j)`, `p = e^θ`) until no rating moves by more than a
//! tolerance, then rescales as the book does: `R = θ · 400 / ln 10`, shifted so the mean is
//! 1000.
//!
//! Departure from the book: the book fits Bradley–Terry with 500 Adam steps (learning rate
//! 0.01, weight decay 1e-4) and stops there, which is close to the optimum but not at it.
//! This crate iterates to convergence, so its ratings are the maximum-likelihood estimate
//! (its gradient is zero there, tested). When that estimate does not exist (a model never
//! lost, or never won, or the models split into groups that never met in one direction) the
//! fit is an error naming the cause, not a rating that drifts with the number of steps.
//!
//! [`leaderboard::bootstrap`] adds what LM Arena reports and the book does not: 95% intervals
//! from refitting on votes resampled with replacement (seeded).
//!
//! ```
//! use reasoning_eval::leaderboard::{Vote, bradley_terry, elo, EloConfig, FitConfig};
//!
//! let votes: Vec<Vote> = [("a", "b"), ("a", "c"), ("b", "c"), ("c", "a"), ("b", "a"), ("c", "b")]
//!     .into_iter()
//!     .map(|(w, l)| Vote::new(w, l))
//!     .collect();
//! let elo = elo(&votes, &EloConfig::default());
//! let bt = bradley_terry(&votes, &FitConfig::default()).unwrap();
//! // Every model won two of its four games: all Bradley–Terry ratings are 1000.
//! assert!(bt.iter().all(|r| (r.rating - 1000.0).abs() < 1e-6));
//! assert_eq!(elo.len(), 3);
//! ```
//!
//! # Cargo features
//!
//! None.

#![deny(missing_docs)]

pub mod judge;
pub mod leaderboard;
pub mod mmlu;
