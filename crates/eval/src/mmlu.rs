//! MMLU scored three ways, as in the book's appendix F (`chF/02_mmlu`).
//!
//! A question becomes the book's zero-shot prompt, with no chat template:
//!
//! ```text
//! <question>
//! A. <choice 0>
//! B. <choice 1>
//! C. <choice 2>
//! D. <choice 3>
//! Answer: ␣
//! ```
//!
//! (the trailing space nudges the model towards a one-letter next token), and [`Method`] turns
//! the model's view of it into a letter:
//!
//! ```text
//! letter           generate ≤ 8 tokens greedily; the first character c with upper(c) ∈ {A,B,C,D}
//! logprob          s_L = log p(t_L | prompt),  t_L = first id of encode(prompt + L) not in encode(prompt)
//! teacher-forcing  s_L = (1/|a_L|) Σ_t log p(a_L,t | prompt, a_L,<t),
//!                  a_L = encode(prompt + "L. <choice>") after its common prefix with encode(prompt)
//! random           a letter drawn uniformly (seeded per question): the baseline
//! prediction       argmax_L s_L, the first of equal scores in A–D order (Python's max)
//! ```
//!
//! Method 1 is the intuitive one and fails when the model answers in words; method 2 is what
//! most leaderboards use; method 3 scores the whole answer text, so a model that would write
//! `"B. 11"` rather than `"B"` is not penalised, at four times the cost.
//!
//! **Departures from the book**, none of which changes a prediction:
//! - Questions run in batches: prompts are sorted by length and left-padded ([`evaluate`]);
//!   the four teacher-forced continuations of a question share one prefill of its prompt
//!   ([`reasoning_inference::score_continuations_batch`]). The book runs one question and,
//!   for method 3, four full forward passes at a time.
//! - Method 1 decodes the new tokens together rather than one by one; the letters found are
//!   the same.
//! - A question whose prompt does not fit the model's context is answered `None` and marked
//!   [`MmluRecord::skipped`] (the book's scripts would stop with an error).
//! - With [`MmluConfig::chat`] the prompt is wrapped in the tokenizer's chat template as a user
//!   message (the book never does; chat models may answer better this way).
//!
//! The data is the MMLU test split in cais/mmlu's schema, one JSON object per line
//! ([`read_questions`]).

use std::cmp::Reverse;
use std::fmt;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rand::RngExt;
use reasoning_inference::{
    Control, Decoding, InferenceError, LoadedModel, generate_batch, sample_stream,
    score_continuations_batch,
};
use reasoning_tokenizer::{ChatMessage, ChatOptions};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

/// The answer letters, in order.
pub const LETTERS: [char; 4] = ['A', 'B', 'C', 'D'];

/// The book's default subject.
pub const DEFAULT_SUBJECT: &str = "high_school_mathematics";

/// Why reading questions or answering them failed.
#[derive(Debug, Error)]
pub enum MmluError {
    /// The data file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line of the data file is not a question in cais/mmlu's schema.
    #[error("{path}:{line}: {message}")]
    BadQuestion {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A subject asked for is not in the data.
    #[error("no question has the subject {subject:?} (known: {known})")]
    UnknownSubject {
        /// The subject asked for.
        subject: String,
        /// The subjects the data has, comma-separated.
        known: String,
    },
    /// A continuation adds no token to the prompt, so it cannot be scored.
    #[error("question {index}: {continuation:?} adds no token to the prompt")]
    NoNewToken {
        /// The question's index in the data file.
        index: usize,
        /// The text appended to the prompt.
        continuation: String,
    },
    /// Tokenizing, generating or scoring failed.
    #[error(transparent)]
    Inference(#[from] InferenceError),
}

impl From<reasoning_tokenizer::TokenizerError> for MmluError {
    fn from(e: reasoning_tokenizer::TokenizerError) -> Self {
        MmluError::Inference(e.into())
    }
}

/// Results of this module.
pub type Result<T> = std::result::Result<T, MmluError>;

/// One four-choice question (cais/mmlu's schema).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// The cais/mmlu configuration name, e.g. `high_school_mathematics`.
    pub subject: String,
    /// The question text.
    pub question: String,
    /// The four choices, A to D.
    pub choices: [String; 4],
    /// The correct choice, 0 to 3.
    pub answer: usize,
}

impl Question {
    /// The correct letter.
    pub fn gold(&self) -> char {
        LETTERS[self.answer]
    }
}

/// Reads questions from a JSON Lines file in cais/mmlu's schema: `subject`, `question`,
/// `choices` (four strings) and `answer` (0–3, or the letter `"A"`–`"D"`). Blank lines are
/// skipped; a question's index is its position among the questions, from 0.
///
/// # Errors
/// The file cannot be read, or a line is not such a question (the error names the line and
/// the field).
pub fn read_questions(path: &Path) -> Result<Vec<Question>> {
    let text = std::fs::read_to_string(path).map_err(|source| MmluError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut questions = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| MmluError::BadQuestion {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        };
        let value: Value = serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
        questions.push(parse_question(&value).map_err(bad)?);
    }
    Ok(questions)
}

/// One question from its JSON object, or what is wrong with it.
fn parse_question(value: &Value) -> std::result::Result<Question, String> {
    let text = |field: &str| -> std::result::Result<String, String> {
        match value.get(field) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(format!("field `{field}` must be a string, got {other}")),
            None => Err(format!("field `{field}` is missing")),
        }
    };
    let subject = text("subject")?;
    let question = text("question")?;
    let choices = match value.get("choices") {
        Some(Value::Array(items)) if items.len() == 4 => {
            let mut out: [String; 4] = Default::default();
            for (slot, item) in out.iter_mut().zip(items) {
                *slot = item
                    .as_str()
                    .ok_or_else(|| format!("field `choices` must hold strings, got {item}"))?
                    .to_string();
            }
            out
        }
        Some(Value::Array(items)) => {
            return Err(format!(
                "field `choices` must hold 4 choices, got {}",
                items.len()
            ));
        }
        Some(other) => return Err(format!("field `choices` must be an array, got {other}")),
        None => return Err("field `choices` is missing".into()),
    };
    let answer = match value.get("answer") {
        Some(Value::Number(n)) => n.as_u64().filter(|&a| a < 4).map(|a| a as usize),
        Some(Value::String(s)) => LETTERS.iter().position(|&l| s.trim() == l.to_string()),
        _ => None,
    }
    .ok_or_else(|| match value.get("answer") {
        None => "field `answer` is missing".to_string(),
        Some(v) => format!("field `answer` must be 0-3 or a letter A-D, got {v}"),
    })?;
    Ok(Question {
        subject,
        question,
        choices,
        answer,
    })
}

/// The subjects present, sorted.
pub fn subjects(questions: &[Question]) -> Vec<String> {
    let mut all: Vec<String> = questions.iter().map(|q| q.subject.clone()).collect();
    all.sort();
    all.dedup();
    all
}

/// The questions of the given subjects (all of them for `None`), each with its index in
/// `questions`, in data order.
///
/// # Errors
/// A subject no question has.
pub fn select<'q>(
    questions: &'q [Question],
    subjects_wanted: Option<&[String]>,
) -> Result<Vec<(usize, &'q Question)>> {
    if let Some(wanted) = subjects_wanted {
        let known = subjects(questions);
        for s in wanted {
            if known.binary_search(s).is_err() {
                return Err(MmluError::UnknownSubject {
                    subject: s.clone(),
                    known: known.join(", "),
                });
            }
        }
    }
    Ok(questions
        .iter()
        .enumerate()
        .filter(|(_, q)| subjects_wanted.is_none_or(|w| w.contains(&q.subject)))
        .collect())
}

/// The book's zero-shot prompt (see the module page), ending in `"Answer: "`.
pub fn format_prompt(q: &Question) -> String {
    let mut prompt = format!("{}\n", q.question);
    for (letter, choice) in LETTERS.iter().zip(&q.choices) {
        prompt.push_str(&format!("{letter}. {choice}\n"));
    }
    prompt.push_str("Answer: ");
    prompt
}

/// The first character of `text` that is a letter A–D in either case, upper-cased (method 1).
pub fn first_letter(text: &str) -> Option<char> {
    text.chars()
        .map(|c| c.to_ascii_uppercase())
        .find(|c| LETTERS.contains(c))
}

/// The index of the first largest score (Python's `max(scores, key=scores.get)` over A–D).
pub fn first_best(scores: &[f64; 4]) -> usize {
    let mut best = 0;
    for (i, &s) in scores.iter().enumerate() {
        if s > scores[best] {
            best = i;
        }
    }
    best
}

/// How a question is answered (see the module page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Method 1: generate up to a few tokens, take the first letter.
    Letter,
    /// Method 2: compare the next-token log-probabilities of the four letters.
    Logprob,
    /// Method 3: compare the mean log-probabilities of the four answers `"L. <choice>"`.
    TeacherForcing,
    /// The baseline: a seeded uniform guess.
    Random,
}

impl Method {
    /// Every method, in the book's order, the baseline last.
    pub const ALL: [Method; 4] = [
        Method::Letter,
        Method::Logprob,
        Method::TeacherForcing,
        Method::Random,
    ];

    /// The name used on the command line and in records.
    pub fn name(self) -> &'static str {
        match self {
            Method::Letter => "letter",
            Method::Logprob => "logprob",
            Method::TeacherForcing => "teacher-forcing",
            Method::Random => "random",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                format!("unknown MMLU method {s:?}: use letter, logprob, teacher-forcing or random")
            })
    }
}

/// How questions are answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MmluConfig {
    /// The scoring method.
    pub method: Method,
    /// Wrap the prompt in the tokenizer's chat template as a user message.
    pub chat: bool,
    /// With `chat`, the template's thinking switch (Qwen3); `None` keeps its default.
    pub thinking: Option<bool>,
    /// Method 1's generation budget (the book: 8).
    pub max_new_tokens: usize,
    /// Seed of the random baseline (per question, so the same seed gives the same guesses in
    /// any batch order or subset).
    pub seed: u64,
    /// End the prompt with `"Answer:"` instead of the book's `"Answer: "`, so that the letter
    /// tokens scored by methods 2 and 3 (`" A"` for byte-level BPE tokenizers, which merge the
    /// space into the letter) follow the prompt as the tokenizer itself would write them.
    #[serde(default)]
    pub no_trailing_space: bool,
}

impl Default for MmluConfig {
    /// Method 2 (log-probabilities), no chat template, 8 tokens for method 1, seed 0.
    fn default() -> Self {
        Self {
            method: Method::Logprob,
            chat: false,
            thinking: None,
            max_new_tokens: 8,
            seed: 0,
            no_trailing_space: false,
        }
    }
}

/// One answered question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MmluRecord {
    /// The question's index in the data file (from 0).
    pub index: usize,
    /// Its subject.
    pub subject: String,
    /// The correct letter.
    pub gold: char,
    /// The predicted letter; `None` when method 1 found no letter or the question was skipped.
    pub pred: Option<char>,
    /// Whether `pred` is `gold`.
    pub correct: bool,
    /// The score of each letter A–D, for methods 2 (log-probability) and 3 (mean
    /// log-probability).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<[f64; 4]>,
    /// Method 1's generated text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated: Option<String>,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Why the question was not answered (its prompt does not fit the model's context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl MmluRecord {
    fn new(index: usize, q: &Question, pred: Option<char>, prompt_tokens: usize) -> Self {
        Self {
            index,
            subject: q.subject.clone(),
            gold: q.gold(),
            pred,
            correct: pred == Some(q.gold()),
            scores: None,
            generated: None,
            prompt_tokens,
            skipped: None,
        }
    }
}

/// A question made ready for the model: its prompt text and ids.
struct Prepared<'q> {
    index: usize,
    question: &'q Question,
    text: String,
    ids: Vec<u32>,
}

/// Answers MMLU questions with one model.
#[derive(Debug)]
pub struct Mmlu<'m> {
    lm: &'m LoadedModel,
    config: MmluConfig,
}

impl<'m> Mmlu<'m> {
    /// An evaluator of `lm` with `config`.
    pub fn new(lm: &'m LoadedModel, config: MmluConfig) -> Self {
        Self { lm, config }
    }

    /// The configuration.
    pub fn config(&self) -> &MmluConfig {
        &self.config
    }

    /// The text the model continues for `q`: [`format_prompt`] (without its final space with
    /// [`MmluConfig::no_trailing_space`]), inside the chat template with [`MmluConfig::chat`].
    ///
    /// # Errors
    /// `chat` is set and the tokenizer has no chat template.
    pub fn prompt_text(&self, q: &Question) -> Result<String> {
        let mut prompt = format_prompt(q);
        if self.config.no_trailing_space {
            prompt.pop();
        }
        if !self.config.chat {
            return Ok(prompt);
        }
        let mut opts = ChatOptions::generation();
        if let Some(thinking) = self.config.thinking {
            opts = opts.thinking(thinking);
        }
        Ok(self
            .lm
            .tokenizer
            .apply_chat_template(&[ChatMessage::user(prompt)], &opts)?)
    }

    fn prepare<'q>(&self, index: usize, question: &'q Question) -> Result<Prepared<'q>> {
        let text = self.prompt_text(question)?;
        let ids = self.lm.tokenizer.encode(&text)?;
        Ok(Prepared {
            index,
            question,
            text,
            ids,
        })
    }

    /// The ids `continuation` adds after `p`'s prompt: those of `encode(prompt + continuation)`
    /// after its common prefix with `encode(prompt)`, as the book computes them.
    fn new_ids(&self, p: &Prepared<'_>, continuation: &str) -> Result<Vec<u32>> {
        let full = self
            .lm
            .tokenizer
            .encode(&format!("{}{continuation}", p.text))?;
        let common = full.iter().zip(&p.ids).take_while(|(a, b)| a == b).count();
        if common >= full.len() {
            return Err(MmluError::NoNewToken {
                index: p.index,
                continuation: continuation.to_string(),
            });
        }
        Ok(full[common..].to_vec())
    }

    /// Answers a batch of questions (`(index, question)` pairs) together, returning their
    /// records in the same order.
    ///
    /// # Errors
    /// Tokenizing or running the model failed, or a continuation adds no token.
    pub fn answer_batch(&self, items: &[(usize, &Question)]) -> Result<Vec<MmluRecord>> {
        let prepared = items
            .iter()
            .map(|&(i, q)| self.prepare(i, q))
            .collect::<Result<Vec<_>>>()?;
        let context = self.lm.model.config().max_position_embeddings;
        let mut records: Vec<Option<MmluRecord>> = vec![None; prepared.len()];
        let mut runnable = Vec::new();
        // The tokens each method needs beyond the prompt.
        let mut continuations: Vec<Vec<Vec<u32>>> = Vec::new();
        for (slot, p) in prepared.iter().enumerate() {
            let conts = match self.config.method {
                Method::Letter | Method::Random => Vec::new(),
                Method::Logprob => LETTERS
                    .iter()
                    .map(|l| Ok(self.new_ids(p, &l.to_string())?[..1].to_vec()))
                    .collect::<Result<Vec<_>>>()?,
                Method::TeacherForcing => LETTERS
                    .iter()
                    .zip(&p.question.choices)
                    .map(|(l, c)| self.new_ids(p, &format!("{l}. {c}")))
                    .collect::<Result<Vec<_>>>()?,
            };
            let needed = p.ids.len()
                + match self.config.method {
                    Method::Letter => 1,
                    _ => conts.iter().map(Vec::len).max().unwrap_or(0),
                };
            if self.config.method != Method::Random && (needed > context || p.ids.is_empty()) {
                let mut r = MmluRecord::new(p.index, p.question, None, p.ids.len());
                r.skipped = Some(format!(
                    "the prompt and answer need {needed} tokens, the model's context is {context}"
                ));
                records[slot] = Some(r);
            } else {
                runnable.push(slot);
                continuations.push(conts);
            }
        }
        let answered = match self.config.method {
            Method::Random => runnable
                .iter()
                .map(|&slot| {
                    let p = &prepared[slot];
                    let guess =
                        sample_stream(self.config.seed, p.index as u64, 0).random_range(0..4);
                    MmluRecord::new(p.index, p.question, Some(LETTERS[guess]), p.ids.len())
                })
                .collect(),
            Method::Letter => self.letter(&prepared, &runnable)?,
            Method::Logprob | Method::TeacherForcing => {
                let batch: Vec<(Vec<u32>, Vec<Vec<u32>>)> = runnable
                    .iter()
                    .zip(continuations)
                    .map(|(&slot, conts)| (prepared[slot].ids.clone(), conts))
                    .collect();
                let scored = score_continuations_batch(&self.lm.model, &batch)?;
                runnable
                    .iter()
                    .zip(scored)
                    .map(|(&slot, scores)| {
                        let p = &prepared[slot];
                        let mut s = [0.0; 4];
                        for (out, score) in s.iter_mut().zip(&scores) {
                            *out = match self.config.method {
                                Method::Logprob => score.sum(),
                                _ => score.mean().unwrap_or(f64::NEG_INFINITY),
                            };
                        }
                        let pred = LETTERS[first_best(&s)];
                        let mut r = MmluRecord::new(p.index, p.question, Some(pred), p.ids.len());
                        r.scores = Some(s);
                        r
                    })
                    .collect()
            }
        };
        for (slot, r) in runnable.into_iter().zip(answered) {
            records[slot] = Some(r);
        }
        Ok(records.into_iter().flatten().collect())
    }

    /// Method 1 on the prompts at `slots`.
    fn letter(&self, prepared: &[Prepared<'_>], slots: &[usize]) -> Result<Vec<MmluRecord>> {
        let prompts: Vec<Vec<u32>> = slots.iter().map(|&s| prepared[s].ids.clone()).collect();
        let config = self
            .lm
            .generation_config(self.config.max_new_tokens, Decoding::Greedy);
        let out = generate_batch(&self.lm.model, &prompts, 1, &config, &mut [], |_| {
            Control::Continue
        })?;
        slots
            .iter()
            .zip(out.generations)
            .map(|(&slot, g)| {
                let p = &prepared[slot];
                let text = self.lm.tokenizer.decode(g.content_ids(), false)?;
                let mut r = MmluRecord::new(p.index, p.question, first_letter(&text), p.ids.len());
                r.generated = Some(text);
                Ok(r)
            })
            .collect()
    }
}

/// Answers `items` in batches of `batch_size`, longest prompts first (so padding stays small
/// and a batch that does not fit in memory fails at once), calling `on_batch` with each
/// batch's records; `on_batch` may stop the run by returning `ControlFlow::Break`. Returns every
/// record made, sorted by index.
///
/// # Errors
/// As [`Mmlu::answer_batch`], or the first error `on_batch` returns.
pub fn evaluate<E: From<MmluError>>(
    mmlu: &Mmlu<'_>,
    items: &[(usize, &Question)],
    batch_size: usize,
    mut on_batch: impl FnMut(&[MmluRecord]) -> std::result::Result<ControlFlow<()>, E>,
) -> std::result::Result<Vec<MmluRecord>, E> {
    let mut order: Vec<(usize, &Question, usize)> = items
        .iter()
        .map(|&(i, q)| (i, q, format_prompt(q).len()))
        .collect();
    order.sort_by_key(|&(i, _, len)| (Reverse(len), i));
    let mut records = Vec::with_capacity(items.len());
    for chunk in order.chunks(batch_size.max(1)) {
        let batch: Vec<(usize, &Question)> = chunk.iter().map(|&(i, q, _)| (i, q)).collect();
        let made = mmlu.answer_batch(&batch)?;
        let flow = on_batch(&made)?;
        records.extend(made);
        if flow.is_break() {
            break;
        }
    }
    records.sort_by_key(|r| r.index);
    Ok(records)
}

/// Accuracy of one subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubjectScore {
    /// The subject.
    pub subject: String,
    /// Questions answered or skipped.
    pub n: usize,
    /// Correct predictions.
    pub correct: usize,
    /// `correct / n`.
    pub accuracy: f64,
}

/// Accuracy over a set of records, overall and per subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MmluSummary {
    /// Records counted.
    pub n: usize,
    /// Correct predictions.
    pub correct: usize,
    /// `correct / n` (0 for no records).
    pub accuracy: f64,
    /// The binomial standard error `sqrt(acc (1 - acc) / n)`.
    pub stderr: f64,
    /// A random guesser's standard deviation at this `n`: `sqrt(0.25 · 0.75 / n)` (the
    /// book's yardstick: accuracies within about 2 of these of 25% are chance).
    pub chance_sd: f64,
    /// Records without a predicted letter (method 1 found none, or skipped).
    pub no_answer: usize,
    /// Records skipped because the prompt did not fit the context.
    pub skipped: usize,
    /// Per subject, sorted by name.
    pub subjects: Vec<SubjectScore>,
}

/// Sums up `records`.
pub fn summarize(records: &[MmluRecord]) -> MmluSummary {
    let n = records.len();
    let correct = records.iter().filter(|r| r.correct).count();
    let ratio = |c: usize, n: usize| if n == 0 { 0.0 } else { c as f64 / n as f64 };
    let accuracy = ratio(correct, n);
    let nf = n.max(1) as f64;
    let mut by_subject: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    for r in records {
        let e = by_subject.entry(&r.subject).or_default();
        e.0 += 1;
        e.1 += usize::from(r.correct);
    }
    MmluSummary {
        n,
        correct,
        accuracy,
        stderr: (accuracy * (1.0 - accuracy) / nf).sqrt(),
        chance_sd: (0.25 * 0.75 / nf).sqrt(),
        no_answer: records.iter().filter(|r| r.pred.is_none()).count(),
        skipped: records.iter().filter(|r| r.skipped.is_some()).count(),
        subjects: by_subject
            .into_iter()
            .map(|(subject, (n, correct))| SubjectScore {
                subject: subject.to_string(),
                n,
                correct,
                accuracy: ratio(correct, n),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(answer: usize) -> Question {
        Question {
            subject: "s".into(),
            question: "What is 2 + 2?".into(),
            choices: ["3".into(), "4".into(), "5".into(), "22".into()],
            answer,
        }
    }

    #[test]
    fn the_prompt_is_the_books() {
        assert_eq!(
            format_prompt(&question(1)),
            "What is 2 + 2?\nA. 3\nB. 4\nC. 5\nD. 22\nAnswer: "
        );
    }

    #[test]
    fn the_first_letter_is_case_blind_and_may_be_none() {
        assert_eq!(first_letter(" B. 4"), Some('B'));
        assert_eq!(first_letter("the answer is C"), Some('A'));
        assert_eq!(first_letter("1234 xyz"), None);
        assert_eq!(first_letter(" d"), Some('D'));
    }

    #[test]
    fn ties_go_to_the_first_letter() {
        assert_eq!(first_best(&[-1.0, -0.5, -0.5, -2.0]), 1);
        assert_eq!(first_best(&[-3.0; 4]), 0);
    }

    #[test]
    fn bad_lines_are_errors_naming_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.jsonl");
        let good =
            r#"{"subject": "s", "question": "q", "choices": ["a","b","c","d"], "answer": 2}"#;
        let cases = [
            (
                r#"{"subject": "s", "question": "q", "choices": ["a","b","c"], "answer": 2}"#,
                "4 choices",
            ),
            (
                r#"{"subject": "s", "question": "q", "choices": ["a","b","c","d"], "answer": 4}"#,
                "`answer`",
            ),
            (
                r#"{"subject": "s", "choices": ["a","b","c","d"], "answer": 1}"#,
                "`question` is missing",
            ),
            (
                r#"{"subject": 3, "question": "q", "choices": ["a","b","c","d"], "answer": 1}"#,
                "`subject` must be a string",
            ),
            ("{not json", "not JSON"),
        ];
        for (bad, expect) in cases {
            std::fs::write(&path, format!("{good}\n\n{bad}\n")).unwrap();
            let err = read_questions(&path).unwrap_err().to_string();
            assert!(err.contains("q.jsonl:3") && err.contains(expect), "{err}");
        }
        std::fs::write(&path, format!("{good}\n{}\n", good.replace("2}", "\"D\"}"))).unwrap();
        let qs = read_questions(&path).unwrap();
        assert_eq!(qs.iter().map(Question::gold).collect::<String>(), "CD");
    }

    #[test]
    fn unknown_subjects_are_refused_with_the_known_ones() {
        let qs = vec![question(0)];
        let err = select(&qs, Some(&["astronomy".to_string()])).unwrap_err();
        assert!(err.to_string().contains("known: s"), "{err}");
        assert_eq!(select(&qs, None).unwrap().len(), 1);
    }

    #[test]
    fn the_summary_counts_per_subject() {
        let mut a = MmluRecord::new(0, &question(1), Some('B'), 10);
        let b = MmluRecord::new(1, &question(1), None, 10);
        let mut c = MmluRecord::new(2, &question(0), Some('A'), 10);
        c.subject = "t".into();
        a.scores = Some([0.0; 4]);
        let s = summarize(&[a, b, c]);
        assert_eq!((s.n, s.correct, s.no_answer), (3, 2, 1));
        assert_eq!(s.subjects.len(), 2);
        assert_eq!((s.subjects[0].n, s.subjects[0].correct), (2, 1));
        assert!((s.chance_sd - (0.1875f64 / 3.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn methods_parse_from_their_names() {
        for m in Method::ALL {
            assert_eq!(m.name().parse::<Method>().unwrap(), m);
        }
        assert!("logprobs".parse::<Method>().is_err());
    }
}
