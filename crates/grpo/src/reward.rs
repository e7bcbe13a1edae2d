//! Verifiable rewards: how a completion is scored (book sections 6.6 and 7.6).
//!
//! A reward sees one completion (its text and generated ids, why it ended) and the data record
//! it answers (problem, reference answer, level, ...), and returns one or more named
//! *components*, each with a weight:
//!
//! ```text
//! r_i        = Σ_n w_n · r_n^(i)                   the scalar reward of rollout i
//! correct    = 1 if the completion has a \boxed{...} that grades equal to the answer, else 0
//!              (the book's reward_rlvr: no fallback extraction, a box is required; unlike
//!              the book, an unevaluated expression is not an answer to a numeric reference)
//! format     = 1 if the first <think> comes before the first </think>, else 0   (section 7.6)
//! boxed      = 1 if the completion has a non-empty \boxed{...}, else 0          (GDPO, 7.7)
//! ```
//!
//! Components are kept apart so GDPO can normalise each within its group before summing (see
//! [`crate::advantage`]); every other preset uses the weighted sum `r_i`.
//!
//! Implement [`Reward`] to train on your own signal. The built-in rewards are named by
//! [`RewardSpec`], which is what a run's configuration stores:
//!
//! - [`RewardSpec::Correct`]: the book's `reward_rlvr` (chapter 6, sections 7.3-7.5).
//! - [`RewardSpec::CorrectAndFormat`]: correctness plus a `<think>` format bonus (section 7.6),
//!   optionally conditional on correctness (`--conditional_reward`).
//! - [`RewardSpec::CorrectAndBoxed`]: the book's GDPO reward: correctness read with the
//!   number fallback, plus a small bonus for a box.
//! - [`RewardSpec::FormatOnly`] and [`RewardSpec::Random`]: controls. They carry no
//!   information about correctness, so a gain under them is not a gain from verification.

use reasoning_inference::FinishReason;
use reasoning_tokenizer::Tokenizer;
use reasoning_verifier::datasets::Record;
use reasoning_verifier::{Fallback, extract_final_candidate, grade_answer_evaluated};
use serde::{Deserialize, Serialize};

/// What a reward sees of one rollout.
#[derive(Debug, Clone, Copy)]
pub struct RewardInput<'a> {
    /// The decoded completion, the stop id left out.
    pub text: &'a str,
    /// The generated ids, the stop id included when the completion ended with one.
    pub ids: &'a [u32],
    /// Why the completion ended (`Length` = cut off at `max_new_tokens`).
    pub finish: FinishReason,
    /// The record the prompt was made from: `problem`, `answer` (the ground truth), `level`,
    /// `subject`, `unique_id`, `solution`.
    pub record: &'a Record,
}

/// One named part of a reward, with the weight it enters the sum with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RewardComponent {
    /// Its name (`correct`, `format`, ...): a column of the samples log.
    pub name: String,
    /// Its value for this rollout.
    pub value: f64,
    /// Its weight `w_n` in `r = Σ_n w_n r_n`.
    pub weight: f64,
}

/// A rollout's reward, as components.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RewardScore {
    /// The components, in a fixed order for a given reward.
    pub components: Vec<RewardComponent>,
}

impl RewardScore {
    /// A single component of weight 1.
    pub fn single(name: &str, value: f64) -> Self {
        Self {
            components: vec![RewardComponent {
                name: name.to_string(),
                value,
                weight: 1.0,
            }],
        }
    }

    /// Returns the weighted sum `Σ_n w_n r_n`.
    pub fn total(&self) -> f64 {
        self.components.iter().map(|c| c.weight * c.value).sum()
    }

    /// Returns the value of the component called `name`.
    pub fn component(&self, name: &str) -> Option<f64> {
        self.components
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.value)
    }
}

/// One step of a completion under process supervision: it ends at byte `end` of the
/// completion's text and earns `value`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepReward {
    /// Byte offset in [`RewardInput::text`] where the step ends (its text is before it);
    /// `text.len()` or more is the end of the completion, the stop id included.
    pub end: usize,
    /// Its reward.
    pub value: f64,
}

/// A reward function. It must be deterministic: the same input gives the same score (resumed
/// runs rely on it).
pub trait Reward: Send + Sync {
    /// A short name for logs and errors.
    fn name(&self) -> String;

    /// Scores one rollout. An `Err` stops training with a message naming the reward and the
    /// rollout; a non-finite component is refused the same way.
    fn score(&self, input: &RewardInput<'_>) -> Result<RewardScore, String>;

    /// Scores one rollout step by step, for process supervision
    /// ([`AdvantageMode::Process`](crate::advantage::AdvantageMode::Process)): the steps in
    /// order of their ends. The default, `None`, is a reward without steps: it counts as one
    /// step at the end of the completion worth its [`RewardScore::total`].
    fn steps(&self, input: &RewardInput<'_>) -> Result<Option<Vec<StepReward>>, String> {
        let _ = input;
        Ok(None)
    }
}

/// The book's `reward_rlvr`: 1 when the completion's last `\boxed{...}` grades equal to the
/// record's answer. With `require_box = false` the answer is read with the book's
/// `number_then_full` fallback instead (GDPO's correctness component).
///
/// One departure from the book: answers are graded with
/// [`reasoning_verifier::grade_answer_evaluated`], so when the
/// reference is a plain number the boxed answer must be one too. The book's grader accepts an
/// unevaluated expression such as `\boxed{4 * 10}` for `40`, and GRPO finds that loophole
/// (SmolLM2-135M, docs/grpo.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Correctness {
    /// Whether an answer without `\boxed{}` earns nothing.
    pub require_box: bool,
}

impl Reward for Correctness {
    fn name(&self) -> String {
        "correct".into()
    }

    fn score(&self, input: &RewardInput<'_>) -> Result<RewardScore, String> {
        let fallback = if self.require_box {
            Fallback::None
        } else {
            Fallback::NumberThenFullText
        };
        let candidate = extract_final_candidate(input.text, fallback);
        let ok = !candidate.is_empty() && grade_answer_evaluated(&candidate, &input.record.answer);
        let value = f64::from(u8::from(ok));
        Ok(RewardScore::single("correct", value))
    }
}

/// Where a reasoning delimiter is looked for: a token id (the book's `THINK_TOKEN_ID`), or the
/// text when the tokenizer has no such token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Marker {
    /// A token id in the generated ids.
    Id(u32),
    /// A substring of the decoded text.
    Text(String),
}

impl Marker {
    fn position(&self, input: &RewardInput<'_>) -> Option<usize> {
        match self {
            Marker::Id(id) => input.ids.iter().position(|t| t == id),
            Marker::Text(s) => input.text.find(s.as_str()),
        }
    }
}

/// The section 7.6 format reward: 1 when the first `<think>` comes before the first
/// `</think>` in the completion (both must be present), else 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThinkFormat {
    /// The opening delimiter.
    pub open: Marker,
    /// The closing delimiter.
    pub close: Marker,
}

impl ThinkFormat {
    /// Uses the tokenizer's `<think>` / `</think>` ids when it has both tokens (Qwen3: 151667,
    /// 151668), else the text of the tags.
    pub fn from_tokenizer(tok: &Tokenizer) -> Self {
        match (tok.token_to_id("<think>"), tok.token_to_id("</think>")) {
            (Some(open), Some(close)) => Self {
                open: Marker::Id(open),
                close: Marker::Id(close),
            },
            _ => Self {
                open: Marker::Text("<think>".into()),
                close: Marker::Text("</think>".into()),
            },
        }
    }
}

impl Reward for ThinkFormat {
    fn name(&self) -> String {
        "format".into()
    }

    fn score(&self, input: &RewardInput<'_>) -> Result<RewardScore, String> {
        let ok = match (self.open.position(input), self.close.position(input)) {
            (Some(o), Some(c)) => o < c,
            _ => false,
        };
        Ok(RewardScore::single("format", f64::from(u8::from(ok))))
    }
}

/// 1 when the completion has a non-empty `\boxed{...}` (GDPO's format component in the book).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Boxed;

impl Reward for Boxed {
    fn name(&self) -> String {
        "boxed".into()
    }

    fn score(&self, input: &RewardInput<'_>) -> Result<RewardScore, String> {
        let boxed = !extract_final_candidate(input.text, Fallback::None).is_empty();
        Ok(RewardScore::single("boxed", f64::from(u8::from(boxed))))
    }
}

/// A process reward for step-by-step arithmetic: the fraction of the reasoning's non-empty
/// lines that are true `a op b = c` equations
/// ([`count_true_steps`](reasoning_verifier::steps::count_true_steps)); 0 without lines. The
/// reasoning is the text between `<think>` and `</think>`, or before the last `\boxed` when
/// there is no `</think>`.
///
/// Every line of the embedded task family's solutions is checkable on its own, so this grades
/// the chain and not only its end: a rollout with the right method and one slip earns part of
/// the reward where the outcome reward gives it nothing. It is a fraction, so it neither favours
/// long nor short chains; a chain of true but irrelevant lines earns it, which is why it enters
/// only as a bonus beside correctness (`correct+steps`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArithmeticSteps;

impl ArithmeticSteps {
    /// The reasoning part of a completion.
    pub fn reasoning(text: &str) -> &str {
        match text.find("</think>") {
            Some(end) => {
                let head = &text[..end];
                head.rfind("<think>")
                    .map_or(head, |o| &head[o + "<think>".len()..])
            }
            None => text.rfind("\\boxed").map_or(text, |b| &text[..b]),
        }
    }
}

impl Reward for ArithmeticSteps {
    fn name(&self) -> String {
        "steps".into()
    }

    fn score(&self, input: &RewardInput<'_>) -> Result<RewardScore, String> {
        let (ok, n) = reasoning_verifier::steps::count_true_steps(Self::reasoning(input.text));
        let value = if n == 0 { 0.0 } else { ok as f64 / n as f64 };
        Ok(RewardScore::single("steps", value))
    }

    /// One step per non-empty reasoning line, ending after its last character: 1 for a true
    /// equation, 0 otherwise (the line verdicts whose mean is [`Reward::score`]).
    fn steps(&self, input: &RewardInput<'_>) -> Result<Option<Vec<StepReward>>, String> {
        let reasoning = Self::reasoning(input.text);
        // `reasoning` is a slice of `text`: its offset there.
        let base = reasoning.as_ptr() as usize - input.text.as_ptr() as usize;
        let mut steps = Vec::new();
        let mut at = 0;
        for line in reasoning.split_inclusive('\n') {
            let body = line.trim_end_matches(['\n', '\r']);
            if !body.trim().is_empty() {
                let holds = reasoning_verifier::steps::equation_holds(body) == Some(true);
                steps.push(StepReward {
                    end: base + at + body.len(),
                    value: f64::from(u8::from(holds)),
                });
            }
            at += line.len();
        }
        Ok(Some(steps))
    }
}

/// A control reward that ignores correctness: a fair coin with probability `p`, drawn from a
/// hash of the seed, the problem and the completion's ids (so it is deterministic, and two
/// different completions of one problem are scored independently).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomReward {
    /// Probability of a reward of 1.
    pub p: f64,
    /// Mixed into the hash.
    pub seed: u64,
}

impl Reward for RandomReward {
    fn name(&self) -> String {
        format!("random(p={})", self.p)
    }

    fn score(&self, input: &RewardInput<'_>) -> Result<RewardScore, String> {
        // FNV-1a over the problem's bytes and the ids, then a SplitMix64 finish.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ self.seed;
        let mut eat = |b: u8| {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        };
        input.record.problem.bytes().for_each(&mut eat);
        input
            .ids
            .iter()
            .flat_map(|id| id.to_le_bytes())
            .for_each(&mut eat);
        let u = (reasoning_inference::splitmix64(h) >> 11) as f64 / (1u64 << 53) as f64;
        Ok(RewardScore::single(
            "random",
            f64::from(u8::from(u < self.p)),
        ))
    }
}

/// A weighted sum of rewards: their components in order, each weight multiplied by the term's.
pub struct Weighted {
    /// The terms and their weights.
    pub terms: Vec<(Box<dyn Reward>, f64)>,
    /// Multiply every later term's components by the first term's total (the book's
    /// `--conditional_reward`: the format bonus only counts for correct answers).
    pub conditional: bool,
}

impl Reward for Weighted {
    fn name(&self) -> String {
        let parts: Vec<String> = self
            .terms
            .iter()
            .map(|(r, w)| format!("{w}*{}", r.name()))
            .collect();
        let sum = parts.join(" + ");
        if self.conditional {
            format!("{sum} (conditional)")
        } else {
            sum
        }
    }

    fn score(&self, input: &RewardInput<'_>) -> Result<RewardScore, String> {
        let mut out = RewardScore::default();
        let mut gate = 1.0;
        for (i, (reward, weight)) in self.terms.iter().enumerate() {
            let score = reward.score(input)?;
            if i == 0 && self.conditional {
                gate = score.total();
            }
            for mut c in score.components {
                if i > 0 && self.conditional {
                    c.value *= gate;
                }
                c.weight *= weight;
                out.components.push(c);
            }
        }
        Ok(out)
    }

    /// Every term's steps (a term without steps is one step at the end worth its total),
    /// times the term's weight (and the gate of a conditional sum), ordered by their ends.
    fn steps(&self, input: &RewardInput<'_>) -> Result<Option<Vec<StepReward>>, String> {
        let mut out = Vec::new();
        let mut gate = 1.0;
        for (i, (reward, weight)) in self.terms.iter().enumerate() {
            let total = reward.score(input)?.total();
            if i == 0 && self.conditional {
                gate = total;
            }
            let factor = if i > 0 && self.conditional {
                weight * gate
            } else {
                *weight
            };
            let steps = reward.steps(input)?.unwrap_or_else(|| {
                vec![StepReward {
                    end: input.text.len(),
                    value: total,
                }]
            });
            out.extend(steps.into_iter().map(|s| StepReward {
                end: s.end,
                value: s.value * factor,
            }));
        }
        out.sort_by_key(|s| s.end);
        Ok(Some(out))
    }
}

/// The built-in rewards by name, as stored in a run's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RewardSpec {
    /// The book's `reward_rlvr` (a `\boxed{}` is required).
    Correct,
    /// `correct + format_weight · format` (section 7.6; the book's weight is 1.0).
    CorrectAndFormat {
        /// Weight of the format component.
        format_weight: f64,
        /// Count the format bonus only when the answer is correct.
        conditional: bool,
    },
    /// GDPO's reward in the book: correctness with the number fallback, plus
    /// `boxed_weight · boxed` (book: 0.1).
    CorrectAndBoxed {
        /// Weight of the box component.
        boxed_weight: f64,
    },
    /// `correct + steps_weight · steps`: correctness plus the fraction of true reasoning lines
    /// ([`ArithmeticSteps`]).
    CorrectAndSteps {
        /// Weight of the steps component.
        steps_weight: f64,
    },
    /// Control: the format reward alone.
    FormatOnly,
    /// Control: a coin with probability `p`, independent of the completion's correctness.
    Random {
        /// Probability of a reward of 1.
        p: f64,
        /// Seed of the coin.
        seed: u64,
    },
}

impl RewardSpec {
    /// Parses the command-line names `correct`, `correct+format`, `correct+format-if-correct`,
    /// `correct+boxed`, `correct+steps`, `format`, `random`.
    pub fn parse(name: &str, seed: u64) -> Option<Self> {
        Some(match name {
            "correct" => RewardSpec::Correct,
            "correct+format" => RewardSpec::CorrectAndFormat {
                format_weight: 1.0,
                conditional: false,
            },
            "correct+format-if-correct" => RewardSpec::CorrectAndFormat {
                format_weight: 1.0,
                conditional: true,
            },
            "correct+boxed" => RewardSpec::CorrectAndBoxed { boxed_weight: 0.1 },
            "correct+steps" => RewardSpec::CorrectAndSteps { steps_weight: 0.5 },
            "format" => RewardSpec::FormatOnly,
            "random" => RewardSpec::Random { p: 0.5, seed },
            _ => return None,
        })
    }

    /// The command-line names [`RewardSpec::parse`] knows.
    pub const NAMES: [&'static str; 7] = [
        "correct",
        "correct+format",
        "correct+format-if-correct",
        "correct+boxed",
        "correct+steps",
        "format",
        "random",
    ];

    /// Builds the reward; `tok` supplies the `<think>` ids of the format reward.
    pub fn build(&self, tok: &Tokenizer) -> Box<dyn Reward> {
        let strict = Correctness { require_box: true };
        match *self {
            RewardSpec::Correct => Box::new(strict),
            RewardSpec::CorrectAndFormat {
                format_weight,
                conditional,
            } => Box::new(Weighted {
                terms: vec![
                    (Box::new(strict), 1.0),
                    (Box::new(ThinkFormat::from_tokenizer(tok)), format_weight),
                ],
                conditional,
            }),
            RewardSpec::CorrectAndBoxed { boxed_weight } => Box::new(Weighted {
                terms: vec![
                    (Box::new(Correctness { require_box: false }), 1.0),
                    (Box::new(Boxed), boxed_weight),
                ],
                conditional: false,
            }),
            RewardSpec::CorrectAndSteps { steps_weight } => Box::new(Weighted {
                terms: vec![
                    (Box::new(strict), 1.0),
                    (Box::new(ArithmeticSteps), steps_weight),
                ],
                conditional: false,
            }),
            RewardSpec::FormatOnly => Box::new(ThinkFormat::from_tokenizer(tok)),
            RewardSpec::Random { p, seed } => Box::new(RandomReward { p, seed }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(answer: &str) -> Record {
        Record {
            problem: "What is 6 * 7?".into(),
            answer: answer.into(),
            solution: None,
            level: Some(1),
            subject: None,
            unique_id: None,
        }
    }

    fn input<'a>(text: &'a str, ids: &'a [u32], record: &'a Record) -> RewardInput<'a> {
        RewardInput {
            text,
            ids,
            finish: FinishReason::Eos,
            record,
        }
    }

    #[test]
    fn steps_reward_is_the_fraction_of_true_reasoning_lines() {
        let r = record("42");
        let steps = |text: &str| {
            ArithmeticSteps
                .score(&input(text, &[], &r))
                .unwrap()
                .total()
        };
        // Both lines true; the boxed line after </think> is not a step.
        assert_eq!(
            steps("<think>\n6 * 5 = 30\n30 + 12 = 42\n</think>\n\n\\boxed{42}"),
            1.0
        );
        // One slip out of two lines.
        assert_eq!(
            steps("<think>\n6 * 5 = 30\n30 + 12 = 41\n</think>\n\\boxed{41}"),
            0.5
        );
        // No </think>: the lines before the last box count.
        assert_eq!(steps("6 * 7 = 42\nso\n\\boxed{42}"), 0.5);
        // No reasoning lines at all.
        assert_eq!(steps("<think>\n</think>\n\\boxed{42}"), 0.0);
        assert_eq!(steps(""), 0.0);
    }

    #[test]
    fn steps_of_a_reasoning_end_after_each_line_and_the_answer_at_the_end() {
        let record = record("1");
        let text = "<think>\n9 + 2 = 11\n3 + 7 = 11\n11 - 10 = 1\n</think>\n\n\\boxed{1}";
        let ids = [1, 2, 3];
        let steps = ArithmeticSteps
            .steps(&input(text, &ids, &record))
            .unwrap()
            .unwrap();
        let ends: Vec<&str> = steps.iter().map(|s| &text[..s.end]).collect();
        assert_eq!(
            ends,
            [
                "<think>\n9 + 2 = 11",
                "<think>\n9 + 2 = 11\n3 + 7 = 11",
                "<think>\n9 + 2 = 11\n3 + 7 = 11\n11 - 10 = 1",
            ]
        );
        let values: Vec<f64> = steps.iter().map(|s| s.value).collect();
        assert_eq!(values, [1.0, 0.0, 1.0]);
        // correct+steps: the lines at half weight, then the answer's correctness at the end.
        let both = Weighted {
            terms: vec![
                (Box::new(Correctness { require_box: true }), 1.0),
                (Box::new(ArithmeticSteps), 0.5),
            ],
            conditional: false,
        };
        let both = both.steps(&input(text, &ids, &record)).unwrap().unwrap();
        let pairs: Vec<(usize, f64)> = both.iter().map(|s| (s.end, s.value)).collect();
        assert_eq!(
            pairs,
            [
                (steps[0].end, 0.5),
                (steps[1].end, 0.0),
                (steps[2].end, 0.5),
                (text.len(), 1.0)
            ]
        );
        // A reward without steps has none of its own.
        let strict = Correctness { require_box: true };
        assert_eq!(strict.steps(&input(text, &ids, &record)).unwrap(), None);
    }

    #[test]
    fn correct_plus_steps_weighs_the_steps_by_one_half() {
        let tok_free = Weighted {
            terms: vec![
                (Box::new(Correctness { require_box: true }), 1.0),
                (Box::new(ArithmeticSteps), 0.5),
            ],
            conditional: false,
        };
        let r = record("42");
        let score = |text: &str| tok_free.score(&input(text, &[], &r)).unwrap();
        let right = score("<think>\n6 * 7 = 42\n</think>\n\\boxed{42}");
        assert_eq!(right.total(), 1.5);
        let slip = score("<think>\n6 * 7 = 43\n</think>\n\\boxed{43}");
        assert_eq!(slip.total(), 0.0);
        let half = score("<think>\n6 * 5 = 30\n30 + 12 = 41\n</think>\n\\boxed{41}");
        assert_eq!(half.total(), 0.25);
        assert_eq!(half.component("steps"), Some(0.5));
        assert_eq!(
            RewardSpec::parse("correct+steps", 0),
            Some(RewardSpec::CorrectAndSteps { steps_weight: 0.5 })
        );
    }

    #[test]
    fn correctness_requires_a_box_like_the_books_reward_rlvr() {
        let r = record("42");
        let strict = Correctness { require_box: true };
        let score = |text| strict.score(&input(text, &[], &r)).unwrap().total();
        assert_eq!(score(r"6 * 7 = 42, so \boxed{42}"), 1.0);
        assert_eq!(score("6 * 7 = 42"), 0.0, "no box, no reward");
        assert_eq!(score(r"\boxed{41}"), 0.0);
        let lenient = Correctness { require_box: false };
        assert_eq!(
            lenient
                .score(&input("6 * 7 = 42", &[], &r))
                .unwrap()
                .total(),
            1.0,
            "the GDPO variant falls back to the last number"
        );
    }

    #[test]
    fn boxing_the_problems_own_expression_earns_nothing() {
        // The loophole GRPO found on SmolLM2: the verifier evaluates `4 * 10` to 40.
        let r = record("40");
        let strict = Correctness { require_box: true };
        let score = |text| strict.score(&input(text, &[], &r)).unwrap().total();
        assert_eq!(score(r"\boxed{4 * 10}"), 0.0);
        assert_eq!(score(r"\boxed{4 \cdot 10}"), 0.0);
        assert_eq!(score(r"4 * 10 = 40, \boxed{40}"), 1.0);
        let fraction = record(r"\frac{1}{2}");
        let half = strict
            .score(&input(r"\boxed{0.5}", &[], &fraction))
            .unwrap()
            .total();
        assert_eq!(
            half, 1.0,
            "non-integer references keep the exact equivalence"
        );
    }

    #[test]
    fn format_rewards_think_before_end_think_by_id_or_text() {
        let r = record("42");
        let by_id = ThinkFormat {
            open: Marker::Id(3),
            close: Marker::Id(4),
        };
        let s = |f: &ThinkFormat, text, ids| f.score(&input(text, ids, &r)).unwrap().total();
        assert_eq!(s(&by_id, "", &[3, 9, 4, 7]), 1.0);
        assert_eq!(
            s(&by_id, "", &[4, 3, 9, 4]),
            0.0,
            "first </think> comes first"
        );
        assert_eq!(s(&by_id, "", &[3, 9, 9]), 0.0, "no closing tag");
        let by_text = ThinkFormat {
            open: Marker::Text("<think>".into()),
            close: Marker::Text("</think>".into()),
        };
        assert_eq!(s(&by_text, "<think>\nhm\n</think> 42", &[]), 1.0);
        assert_eq!(s(&by_text, "</think><think>", &[]), 0.0);
    }

    #[test]
    fn weighted_sum_keeps_components_and_multiplies_weights() {
        let r = record("42");
        let w = Weighted {
            terms: vec![
                (Box::new(Correctness { require_box: true }), 1.0),
                (
                    Box::new(ThinkFormat {
                        open: Marker::Id(3),
                        close: Marker::Id(4),
                    }),
                    0.5,
                ),
            ],
            conditional: false,
        };
        let score = w.score(&input(r"\boxed{41}", &[3, 4], &r)).unwrap();
        assert_eq!(score.component("correct"), Some(0.0));
        assert_eq!(score.component("format"), Some(1.0));
        assert_eq!(score.total(), 0.5);
        let gated = Weighted {
            conditional: true,
            ..w
        };
        let score = gated.score(&input(r"\boxed{41}", &[3, 4], &r)).unwrap();
        assert_eq!(score.total(), 0.0, "a wrong answer earns no format bonus");
        let score = gated.score(&input(r"\boxed{42}", &[3, 4], &r)).unwrap();
        assert_eq!(score.total(), 1.5);
    }

    #[test]
    fn random_control_is_deterministic_and_near_its_rate() {
        let r = record("42");
        let coin = RandomReward { p: 0.5, seed: 7 };
        let a = coin.score(&input("x", &[1, 2, 3], &r)).unwrap();
        let b = coin.score(&input("x", &[1, 2, 3], &r)).unwrap();
        assert_eq!(a, b);
        let ones: f64 = (0..2000u32)
            .map(|i| coin.score(&input("", &[i], &r)).unwrap().total())
            .sum();
        assert!((ones / 2000.0 - 0.5).abs() < 0.05, "{ones}");
    }

    #[test]
    fn spec_names_parse_and_unknown_names_do_not() {
        for name in RewardSpec::NAMES {
            assert!(RewardSpec::parse(name, 0).is_some(), "{name}");
        }
        assert!(RewardSpec::parse("bogus", 0).is_none());
        let json = serde_json::to_string(&RewardSpec::Correct).unwrap();
        assert_eq!(json, r#"{"kind":"correct"}"#);
    }
}
