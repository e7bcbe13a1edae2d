//! LLM-as-a-judge, as in the book's appendix F (`chF/04_llm-judge`): a second model reads
//! the instruction, a reference answer and the candidate's answer, and grades the candidate
//! on a 1–5 rubric.
//!
//! ```text
//! prompt  = rubric (1 = fails the instruction … 5 = fully adheres, clear, accurate, concise)
//!           + "Instruction:" + "Reference Answer:" + "Answer:" + "Evaluation: "
//! reply   = the judge's greedy continuation (the book: temperature 0, 256 tokens)
//! score   = parse_score(reply) ∈ {1, …, 5} or none
//! summary = mean score over the replies that have one, and the count of each score
//! ```
//!
//! **Departures from the book.**
//! - The book's parser takes the first digit 1–5 not followed by a digit and falls back to 3
//!   when there is none, so a reply without a score counts as a middling grade, and a judge
//!   that restates the rubric ("1: The response fails …") scores 1. [`parse_score`] first
//!   removes a `<think>` block, then looks for a labelled score (`Score: 4`, `Rating: **4**`,
//!   `4/5`, the last one when there are several), then for the first stand-alone digit 1–5
//!   (not part of a number such as `10` or `2.5`); when there is none the score is `None` and
//!   the reply is kept, so unparsable replies are counted rather than hidden.
//! - The judge is any [`Judge`]: a local model ([`ModelJudge`], which formats the prompt with
//!   the judge's chat template as the book's Ollama call does), or a closure (tests, or a
//!   remote API).
//! - The rubric can be replaced ([`Rubric::from_template`]).
//! - [`judge_by_probability`] scores without a reply, from the judge's first-token
//!   distribution over the digits 1–5 (G-Eval's probability-weighted score), so that even a
//!   judge too small to follow the rubric's format gives a number, with the probability mass
//!   that says how much it meant it.

use std::sync::LazyLock;

use reasoning_inference::{
    Control, Decoding, InferenceError, LoadedModel, generate_batch, score_continuations_batch,
};
use reasoning_tokenizer::{ChatMessage, ChatOptions};
use regex::Regex;
use serde::{Deserialize, Serialize};

/// The book's rubric, followed by the three texts and the cue `Evaluation: `.
const BOOK_RUBRIC: &str = "You are a fair judge assistant. You will be given an instruction, \
a reference answer, and a candidate answer to evaluate, according to the following rubric:\n\n\
1: The response fails to address the instruction, providing irrelevant, incorrect, or \
excessively verbose content.\n\
2: The response partially addresses the instruction but contains major errors, omissions, or \
irrelevant details.\n\
3: The response addresses the instruction to some degree but is incomplete, partially \
correct, or unclear in places.\n\
4: The response mostly adheres to the instruction, with only minor errors, omissions, or lack \
of clarity.\n\
5: The response fully adheres to the instruction, providing a clear, accurate, and relevant \
answer in a concise and efficient manner.\n\n\
Now here is the instruction, the reference answer, and the response.\n\n\
Instruction:\n{instruction}\n\n\
Reference Answer:\n{reference}\n\n\
Answer:\n{answer}\n\n\
Evaluation: ";

/// A judging prompt with the placeholders `{instruction}`, `{reference}` and `{answer}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rubric {
    template: String,
}

impl Default for Rubric {
    /// The book's 1–5 rubric.
    fn default() -> Self {
        Self {
            template: BOOK_RUBRIC.to_string(),
        }
    }
}

impl Rubric {
    /// A rubric from a template holding `{answer}` (and usually `{instruction}` and
    /// `{reference}`).
    ///
    /// # Errors
    /// The template has no `{answer}` placeholder: the judge would never see the answer.
    pub fn from_template(template: impl Into<String>) -> Result<Self, String> {
        let template = template.into();
        if !template.contains("{answer}") {
            return Err("a rubric template must contain the placeholder {answer}".into());
        }
        Ok(Self { template })
    }

    /// The judge's prompt for one answer.
    pub fn prompt(&self, instruction: &str, reference: &str, answer: &str) -> String {
        // One pass over the template, so a placeholder inside a filled-in text stays as is.
        let mut out = String::with_capacity(self.template.len() + answer.len() + 256);
        let mut rest = self.template.as_str();
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let tail = &rest[start..];
            let filled = [
                ("{instruction}", instruction),
                ("{reference}", reference),
                ("{answer}", answer),
            ]
            .into_iter()
            .find(|(key, _)| tail.starts_with(key));
            match filled {
                Some((key, value)) => {
                    out.push_str(value);
                    rest = &tail[key.len()..];
                }
                None => {
                    out.push('{');
                    rest = &tail[1..];
                }
            }
        }
        out.push_str(rest);
        out
    }
}

static THINK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)<think>.*?(</think>|$)").expect("valid regex"));
static LABELLED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:score|rating|grade|evaluation)\s*(?:is|of)?\s*[:=]?\s*[*_\[(]*\s*([1-5])(?:\s*/\s*5)?\b")
        .expect("valid regex")
});
static OUT_OF_FIVE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|[^\d.])([1-5])\s*/\s*5\b").expect("valid regex"));
static DIGIT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[^\d.])([1-5])(?:$|[^\d.]|\.(?:$|\D))").expect("valid regex")
});

/// The score 1–5 in a judge's reply, or `None` when it gives none (see the module page).
pub fn parse_score(reply: &str) -> Option<u8> {
    let text = THINK.replace_all(reply, "");
    let last = |re: &Regex| {
        re.captures_iter(&text)
            .last()
            .and_then(|c| c[1].parse::<u8>().ok())
    };
    last(&LABELLED)
        .or_else(|| last(&OUT_OF_FIVE))
        .or_else(|| DIGIT.captures(&text).and_then(|c| c[1].parse::<u8>().ok()))
}

/// One answer to judge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// Its position in the input (from 1, as evaluation records count).
    pub index: usize,
    /// The instruction (problem) the answer responds to.
    pub instruction: String,
    /// The reference answer.
    pub reference: String,
    /// The candidate model's answer.
    pub answer: String,
}

/// One judged answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The candidate's index.
    pub index: usize,
    /// The score 1–5, or `None` when the reply holds none.
    pub score: Option<u8>,
    /// The judge's reply, as it was (empty when scored by probability).
    pub reply: String,
    /// Scored by probability ([`judge_by_probability`]): the expected score
    /// `Σ_k k · p(k)` under the judge's renormalised first-token distribution over 1–5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<f64>,
    /// Scored by probability: `p(1) … p(5)`, renormalised to sum to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probs: Option<[f64; 5]>,
    /// Scored by probability: the unnormalised probability mass the judge put on the five
    /// digits (how much it wanted to answer with a score at all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mass: Option<f64>,
}

/// Why [`judge_all`] failed.
#[derive(Debug, thiserror::Error)]
pub enum JudgeError<E> {
    /// The judge (or the caller's `on_batch`) failed.
    #[error("{0}")]
    Failed(E),
    /// The judge broke its contract of one reply per prompt.
    #[error("the judge gave {replies} replies to {prompts} prompts")]
    ReplyCount {
        /// Prompts sent.
        prompts: usize,
        /// Replies received.
        replies: usize,
    },
}

/// Something that answers judging prompts: one reply per prompt, in order.
pub trait Judge {
    /// Why judging failed.
    type Error;

    /// The judge's replies to `prompts`.
    ///
    /// # Errors
    /// Whatever stops the judge (a model error, a network error).
    fn replies(&mut self, prompts: &[String]) -> Result<Vec<String>, Self::Error>;
}

impl<E, F: FnMut(&[String]) -> Result<Vec<String>, E>> Judge for F {
    type Error = E;

    fn replies(&mut self, prompts: &[String]) -> Result<Vec<String>, E> {
        self(prompts)
    }
}

/// A local model as the judge: each prompt is a user message in the model's chat template
/// (raw text when it has none), answered greedily in left-padded batches.
#[derive(Debug)]
pub struct ModelJudge<'m> {
    lm: &'m LoadedModel,
    /// Most tokens per reply (the book: 256).
    pub max_new_tokens: usize,
}

impl<'m> ModelJudge<'m> {
    /// A judge with the book's 256-token replies.
    pub fn new(lm: &'m LoadedModel) -> Self {
        Self {
            lm,
            max_new_tokens: 256,
        }
    }
}

impl ModelJudge<'_> {
    /// The ids of a judging prompt: a user message in the judge's chat template, or the raw
    /// text when it has none.
    fn prompt_ids(&self, prompt: &str) -> Result<Vec<u32>, InferenceError> {
        let tokenizer = &self.lm.tokenizer;
        Ok(if tokenizer.has_chat_template() {
            tokenizer.encode_chat(&[ChatMessage::user(prompt)], &ChatOptions::generation())?
        } else {
            tokenizer.encode(prompt)?
        })
    }
}

impl Judge for ModelJudge<'_> {
    type Error = InferenceError;

    fn replies(&mut self, prompts: &[String]) -> Result<Vec<String>, InferenceError> {
        let tokenizer = &self.lm.tokenizer;
        let ids = prompts
            .iter()
            .map(|p| self.prompt_ids(p))
            .collect::<Result<Vec<_>, _>>()?;
        let config = self
            .lm
            .generation_config(self.max_new_tokens, Decoding::Greedy);
        let out = generate_batch(&self.lm.model, &ids, 1, &config, &mut [], |_| {
            Control::Continue
        })?;
        out.generations
            .iter()
            .map(|g| Ok(tokenizer.decode(g.content_ids(), true)?.trim().to_string()))
            .collect()
    }
}

/// Judges `candidates` without generating: the score is read off the judge's distribution of
/// its first reply token over the digits 1–5 (G-Eval's probability-weighted score, Liu et al.
/// 2023). `score` is the most likely digit (the first on a tie), `expected` the expected
/// digit, `mass` how much probability the five digits hold before renormalising. Every
/// answer gets a score, even from a judge too small to write one; a low `mass` says how
/// little that judge meant it.
///
/// # Errors
/// A digit the tokenizer cannot encode, or the model's errors.
pub fn judge_by_probability(
    judge: &ModelJudge<'_>,
    rubric: &Rubric,
    candidates: &[Candidate],
    batch_size: usize,
    mut on_batch: impl FnMut(&[Verdict]) -> Result<(), InferenceError>,
) -> Result<Vec<Verdict>, InferenceError> {
    let tokenizer = &judge.lm.tokenizer;
    let digits: Vec<Vec<u32>> = (1..=5)
        .map(|d| {
            Ok(tokenizer
                .encode(&d.to_string())?
                .into_iter()
                .take(1)
                .collect())
        })
        .collect::<Result<_, InferenceError>>()?;
    let mut verdicts = Vec::with_capacity(candidates.len());
    for chunk in candidates.chunks(batch_size.max(1)) {
        let items = chunk
            .iter()
            .map(|c| {
                let prompt = rubric.prompt(&c.instruction, &c.reference, &c.answer);
                Ok((judge.prompt_ids(&prompt)?, digits.clone()))
            })
            .collect::<Result<Vec<_>, InferenceError>>()?;
        let scored = score_continuations_batch(&judge.lm.model, &items)?;
        let made: Vec<Verdict> = chunk
            .iter()
            .zip(scored)
            .map(|(c, scores)| {
                let mut p = [0.0; 5];
                for (out, s) in p.iter_mut().zip(&scores) {
                    *out = s.sum().exp();
                }
                let mass: f64 = p.iter().sum();
                let probs = p.map(|x| x / mass);
                let best = (0..5).fold(0, |b, k| if probs[k] > probs[b] { k } else { b });
                let expected = probs
                    .iter()
                    .enumerate()
                    .map(|(k, q)| (k + 1) as f64 * q)
                    .sum();
                Verdict {
                    index: c.index,
                    score: Some(best as u8 + 1),
                    reply: String::new(),
                    expected: Some(expected),
                    probs: Some(probs),
                    mass: Some(mass),
                }
            })
            .collect();
        on_batch(&made)?;
        verdicts.extend(made);
    }
    Ok(verdicts)
}

/// Judges `candidates` in batches of `batch_size` with `rubric`, calling `on_batch` with each
/// batch's verdicts as they are made.
///
/// # Errors
/// The judge's or `on_batch`'s error, or a judge that returns a different number of replies
/// than prompts.
pub fn judge_all<J: Judge>(
    judge: &mut J,
    rubric: &Rubric,
    candidates: &[Candidate],
    batch_size: usize,
    mut on_batch: impl FnMut(&[Verdict]) -> Result<(), J::Error>,
) -> Result<Vec<Verdict>, JudgeError<J::Error>> {
    let mut verdicts = Vec::with_capacity(candidates.len());
    for chunk in candidates.chunks(batch_size.max(1)) {
        let prompts: Vec<String> = chunk
            .iter()
            .map(|c| rubric.prompt(&c.instruction, &c.reference, &c.answer))
            .collect();
        let replies = judge.replies(&prompts).map_err(JudgeError::Failed)?;
        if replies.len() != prompts.len() {
            return Err(JudgeError::ReplyCount {
                prompts: prompts.len(),
                replies: replies.len(),
            });
        }
        let made: Vec<Verdict> = chunk
            .iter()
            .zip(replies)
            .map(|(c, reply)| Verdict {
                index: c.index,
                score: parse_score(&reply),
                reply,
                expected: None,
                probs: None,
                mass: None,
            })
            .collect();
        on_batch(&made).map_err(JudgeError::Failed)?;
        verdicts.extend(made);
    }
    Ok(verdicts)
}

/// Mean score and histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeSummary {
    /// Verdicts counted.
    pub n: usize,
    /// Verdicts with a score.
    pub scored: usize,
    /// Mean score over those (`None` when none was scored).
    pub mean: Option<f64>,
    /// How many verdicts gave each score 1..=5 (`histogram[0]` counts 1s).
    pub histogram: [usize; 5],
    /// Verdicts whose reply held no score.
    pub unparsed: usize,
    /// Scored by probability: the mean expected score (`None` otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_expected: Option<f64>,
}

/// Sums up `verdicts`.
pub fn summarize(verdicts: &[Verdict]) -> JudgeSummary {
    let mut histogram = [0; 5];
    for s in verdicts.iter().filter_map(|v| v.score) {
        histogram[usize::from(s) - 1] += 1;
    }
    let scored: usize = histogram.iter().sum();
    let total: usize = histogram.iter().enumerate().map(|(i, c)| (i + 1) * c).sum();
    JudgeSummary {
        n: verdicts.len(),
        scored,
        mean: (scored > 0).then(|| total as f64 / scored as f64),
        histogram,
        unparsed: verdicts.len() - scored,
        mean_expected: {
            let e: Vec<f64> = verdicts.iter().filter_map(|v| v.expected).collect();
            (!e.is_empty()).then(|| e.iter().sum::<f64>() / e.len() as f64)
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_found_in_the_replies_judges_write() {
        let cases: &[(&str, Option<u8>)] = &[
            ("4", Some(4)),
            ("5.", Some(5)),
            ("Score: 3", Some(3)),
            ("**Rating: 4**\nThe answer is right but verbose.", Some(4)),
            ("I would give it a 2/5.", Some(2)),
            ("The answer 10 is wrong. Score: 1", Some(1)),
            // A judge that restates the rubric first: the labelled score wins.
            (
                "1: fails ... 5: fully adheres.\nThe answer matches. Score: 5",
                Some(5),
            ),
            ("<think>maybe 1, maybe 2</think>\n4", Some(4)),
            ("The reference is 12 and the answer is 2.5", None),
            ("No score can be given.", None),
            ("", None),
            ("Evaluation: [3]", Some(3)),
            ("9 out of 10", None),
        ];
        for (reply, want) in cases {
            assert_eq!(parse_score(reply), *want, "{reply:?}");
        }
    }

    #[test]
    fn the_books_rubric_is_filled_in_once() {
        let prompt = Rubric::default().prompt("Add 2 and 2.", "4", "It is {reference}");
        assert!(prompt.starts_with("You are a fair judge assistant."));
        assert!(prompt.ends_with(
            "Instruction:\nAdd 2 and 2.\n\nReference Answer:\n4\n\nAnswer:\nIt is {reference}\n\nEvaluation: "
        ));
        assert!(Rubric::from_template("no placeholder").is_err());
        let custom = Rubric::from_template("Q {instruction} A {answer} {x}").unwrap();
        assert_eq!(custom.prompt("i", "r", "a"), "Q i A a {x}");
    }

    #[test]
    fn a_scripted_judge_is_summarised() {
        let candidates: Vec<Candidate> = (1..=4)
            .map(|i| Candidate {
                index: i,
                instruction: format!("q{i}"),
                reference: "r".into(),
                answer: "a".into(),
            })
            .collect();
        let mut judge = |prompts: &[String]| -> Result<Vec<String>, String> {
            Ok(prompts
                .iter()
                .map(|p| match p.contains("q3") {
                    true => "I cannot tell.".to_string(),
                    false => format!("Score: {}", if p.contains("q1") { 5 } else { 2 }),
                })
                .collect())
        };
        let mut seen = 0;
        let verdicts = judge_all(&mut judge, &Rubric::default(), &candidates, 3, |batch| {
            seen += batch.len();
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, 4);
        assert_eq!(
            verdicts.iter().map(|v| v.score).collect::<Vec<_>>(),
            [Some(5), Some(2), None, Some(2)]
        );
        assert_eq!(verdicts[2].reply, "I cannot tell.");
        let s = summarize(&verdicts);
        assert_eq!((s.n, s.scored, s.unparsed), (4, 3, 1));
        assert_eq!(s.histogram, [0, 2, 0, 0, 1]);
        assert!((s.mean.unwrap() - 3.0).abs() < 1e-12);

        let mut short = |_: &[String]| -> Result<Vec<String>, String> { Ok(vec![]) };
        let err =
            judge_all(&mut short, &Rubric::default(), &candidates, 2, |_| Ok(())).unwrap_err();
        assert_eq!(err.to_string(), "the judge gave 0 replies to 2 prompts");
    }
}
