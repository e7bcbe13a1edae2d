//! The answer verifier of *Build a Reasoning Model (From Scratch)*, chapter 3: find the final
//! answer in a model's response and decide, exactly, whether it equals the reference answer.
//! Chapter 3 uses it to measure MATH-500 accuracy, chapters 4-5 to vote among sampled answers,
//! chapters 6-7 as the reward of every reinforcement-learning step (`reward_rlvr`, 6.6), and
//! chapter 8 to filter distillation data. It depends on no other crate of this workspace.
//!
//! # The pipeline, step by step (with the book's section numbers)
//!
//! ```text
//! 0. render_prompt(problem)            3.9  ask for the result on a new line as \boxed{ANSWER}
//! 1. extract_final_candidate(text)     3.4  the last \boxed{...}; without a box, the last
//!                                           number, then the whole text (the book's fallbacks)
//! 2. normalize_text(answer)            3.5  the book's light LaTeX clean-up (kept for display)
//! 3. read both answers                 3.6  strip chat tokens, "B:" labels, layout (\left, \,);
//!                                           parse LaTeX or plain text (\frac12, sqrt(2), 2x)
//! 4. evaluate exactly                  3.6  rationals, radicals, pi, e, i, logarithms;
//!                                           variables at three seeded random rational points
//! 5. grade_answer(pred, gt) -> bool    3.7  equal values, or equal prose ignoring case
//! +  datasets::load_math500(path)      3.8  MATH-500 and other JSON / JSONL record files
//! ```
//!
//! # What counts as equal
//!
//! ```text
//! numbers     1/2 = 0.5 = \frac12 = \dfrac{1}{2} = 50/100;  0.333 != 1/3;  0.\overline{3} = 1/3
//! mixed       137 \frac{1}{2} = 275/2;  2 3/4 = 11/4
//! radicals    2\sqrt{2} = \sqrt{8};  \frac{1}{1+\sqrt2} = \sqrt2 - 1;  \sqrt[3]{16} = 2\sqrt[3]{2}
//! constants   \pi, e, i;  \log_2 8 = 3;  \sin\frac{\pi}{6} = 1/2;  \cos 60^\circ = 1/2
//! variables   (x+1)^2 = x^2+2x+1;  2x = x2;  \frac{x^2-1}{x-1} = x+1
//! complex     (1+i)^2 = 2i;  \frac{1}{1+i} = \frac{1-i}{2}
//! tuples      (1, 2) != (2, 1);  (3, \frac{\pi}{2}) = (3, pi/2)
//! sets        1, -2 = -2, 1 = \{-2, 1\};  x = \pm 2 = \{2, -2\};  \{5\} = 5
//! intervals   brackets matter;  (0,9) \cup (9,36) = (0,36) \setminus \{9\};  x > 2 = (2, \infty)
//! matrices    entrywise; a column vector equals the tuple of its entries
//! relations   x = 3 = 3;  y = 2x+3 = 2x - y + 3 = 0;  x^2 = 4 != x = 2
//! decorations 90^\circ = 90;  50\% = 50 (not 0.5, as in the book);  \$18.90 = 18.9;
//!             5.4 \text{ cents} = 5.4;  12^{\mathrm{th}} = 12
//! layout      1,000 = 1\,000 = 1000;  −3 (unicode minus) = -3;  x² = x^2
//! numerals    1011_2 = 23_4 = 1011 (same digits), but != 11 (the value in base 10)
//! prose       \text{Evelyn} = evelyn;  \text{(C)} = C
//! ```
//!
//! An empty answer, an empty box and an unterminated box are wrong.
//!
//! # Safety limits
//!
//! The verifier grades whatever a model emits during reinforcement learning, so every step is
//! bounded ([`limits`]): answers over 2 000 bytes are compared only as text, nesting is capped
//! at 48 levels, integers at 2 048 bits, numbers at 64 terms, factorials at `300!`, exponents
//! at 100 000, and each comparison at a fixed amount of work. A limit turns into "not equal",
//! never into a hang, a panic or an unbounded allocation. The benchmark
//! `examples/grade_bench.rs` measures the latency on real and adversarial 100 KB inputs, and
//! `fuzz/` holds cargo-fuzz targets for extraction and grading.
//!
//! # How this departs from the book
//!
//! The book normalises text with regular expressions and asks SymPy whether
//! `simplify(gt - pred) == 0`, splitting tuples first. This crate parses LaTeX itself and
//! evaluates both answers in an exact number system (see `number.rs`): sums of Gaussian
//! rationals times prime radicals, pi, e and logarithms of primes, in a canonical form in which
//! equal numbers are identical. Expressions with variables are compared at three random
//! rational points derived from a fixed seed, so verdicts are deterministic. Consequences: no
//! floating point anywhere, no dependency on a computer-algebra system, microseconds per answer,
//! and structure the book's grader does not see (sets, intervals, unions, matrices, equations,
//! `\pm`, based numerals, units). The book's test tables are reproduced as tests; where the
//! book's behaviour is different on purpose (a box without braces is read, an empty last box
//! does not fall back to a number), the test says so.
//!
//! What is not decided: identities that need simplification beyond this number system
//! (`\sin^2 x + \cos^2 x = 1`, denesting `\sqrt{3+2\sqrt2} = 1+\sqrt2`) grade as different.
//!
//! # Modules
//!
//! - [`extract`]: step 1, the last `\boxed{}` and the book's fallbacks.
//! - [`normalize`]: step 2, the book's `normalize_text`.
//! - [`mod@grade`]: steps 3-5, [`grade_answer`], [`Verdict`], [`answer_key`] for voting, [`reward_rlvr`].
//! - [`prompt`]: step 0, the book's prompt template.
//! - [`datasets`]: MATH-500 and any JSON / JSONL records, with errors naming file, line, field.
//! - [`limits`]: the safety limits and the adversarial inputs that test them.
//! - `lex`, `parse`, `eval`, `number`, `factor`, `compare` (internal): tokens, answer trees,
//!   exact evaluation, the number system, 64-bit factorisation, the equivalence rules.
//!
//! # Example
//!
//! ```
//! use reasoning_verifier::{extract_final_candidate, grade_answer, render_prompt, Fallback};
//!
//! let prompt = render_prompt("Compute 1/2 + 1/6.");
//! assert!(prompt.contains("\\boxed{ANSWER}"));
//! let response = "1/2 + 1/6 = 3/6 + 1/6 = 4/6, so the answer is \\boxed{\\dfrac{2}{3}}.";
//! let answer = extract_final_candidate(response, Fallback::default());
//! assert_eq!(answer, "\\dfrac{2}{3}");
//! assert!(grade_answer(&answer, "2/3"));
//! assert!(grade_answer("0.5", "\\frac{1}{2}"));
//! assert!(!grade_answer("0.333", "\\frac{1}{3}"));
//! ```
//!
//! # Cargo features
//!
//! None. Dependencies: serde, serde_json and thiserror for datasets and verdicts; num-bigint
//! and num-rational for exact arithmetic; rand_chacha for the seeded evaluation points.

#![deny(missing_docs)]

mod compare;
pub mod datasets;
mod eval;
pub mod extract;
mod factor;
pub mod grade;
mod lex;
pub mod limits;
pub mod normalize;
mod number;
mod parse;
pub mod prompt;
pub mod steps;

pub use extract::{Fallback, extract_boxed, extract_final_candidate, get_last_boxed, last_number};
pub use grade::{
    Grader, Reading, Reason, Verdict, answer_key, grade, grade_answer, grade_answer_evaluated,
    is_single_number, reward_rlvr,
};
pub use normalize::normalize_text;
pub use prompt::render_prompt;
