//! Teacher traces by rejection sampling (book chapter 8, section "generating distillation
//! data"). The greedy held-out accuracy that judges teacher and student alike is
//! [`reasoning_inference::evaluate_greedy`].
//!
//! The book asks a large reasoning model (DeepSeek-R1, Qwen3-235B) for one answer per MATH
//! training problem and stores its reasoning and final message. Here any model the workspace
//! loads can be the teacher, and it may answer each problem `K` times:
//!
//! ```text
//! for each problem x_i with reference answer a_i:
//!     y_i1 .. y_iK ~ π_teacher(· | chat(render_prompt(x_i)))      T, top-p; one shared prefill
//!     c_ij = 1[y_ij ended with EOS] · 1[grade(box(y_ij), a_i)]      box required, no fallback
//!     keep y_ij            if c_ij = 1           (--only-correct: rejection sampling)
//!     keep y_ij            otherwise             (every complete trace with a final message)
//!     skip y_ij            if an identical trace of x_i is kept already   (unless keep-duplicates)
//!     skip y_ij            if a reasoning line is a false equation        (check_arithmetic_steps)
//! ```
//!
//! With `only_correct` this is rejection-sampling fine-tuning (RFT) and, when the teacher is
//! the student itself, one round of STaR (Zelikman et al., 2022): the student learns from its
//! own verified answers. The book keeps every teacher answer (its teachers are far stronger
//! than the student); the verifier is the chapter-3 grader with the RLVR reward's strict
//! reading (`\boxed{}` required), so a lucky trailing number never counts.
//!
//! **Streams.** Sample `j` of problem `i` draws from
//! [`sample_stream`]`(seed, i, j)`, so a trace does not depend on batching or on where a
//! resumed run restarted: a crashed and resumed run writes the same traces as one that never
//! stopped (tested).
//!
//! **Files and resume.** [`TraceLog`] appends the kept traces of each problem to
//! `traces.jsonl` (the book's four fields plus `index`, `sample`, `extracted`, `tokens`), then
//! one line to `progress.jsonl` saying the problem is done, each flushed to disk. Reopening
//! the folder reads both, drops a line cut off by a crash, and drops traces of problems that
//! have no progress line (they are generated again), so a rerun with the same folder skips
//! exactly the finished problems.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use reasoning_inference::{
    Decoding, FinishReason, LoadedModel, PromptBuilder, sample_responses, sample_stream,
};
use reasoning_verifier::datasets::Record;
use reasoning_verifier::{Fallback, extract_final_candidate, grade_answer_evaluated};
use serde::{Deserialize, Serialize};

use crate::DistillError;
use crate::data::{DistillRecord, split_thinking};

/// Settings of teacher sampling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeacherConfig {
    /// Samples per problem `K`.
    pub num_samples: usize,
    /// Sampling temperature (0: greedy, then `num_samples` must be 1).
    pub temperature: f32,
    /// Nucleus mass; `None` (or 1.0) samples from the whole distribution.
    pub top_p: Option<f32>,
    /// Most new tokens per sample, the EOS included.
    pub max_new_tokens: usize,
    /// Keep only traces whose boxed answer grades correct (rejection sampling).
    pub only_correct: bool,
    /// Also require every reasoning line of a kept trace to be a true `a op b = c` equation
    /// ([`arithmetic_steps_hold`]): a process check for the arithmetic task family, which
    /// rejects right answers reached through wrong steps.
    pub check_arithmetic_steps: bool,
    /// Keep a problem's identical traces once (the RFT paper's distinct reasoning paths);
    /// false keeps every copy.
    pub unique: bool,
    /// Problems per generation batch (`batch_size · num_samples` rows).
    pub batch_size: usize,
    /// Base seed of the per-sample streams.
    pub seed: u64,
    /// How a problem becomes a prompt (the book: `render_prompt`, chat template, thinking on).
    pub prompt: PromptBuilder,
}

impl Default for TeacherConfig {
    /// Four samples at T = 0.8, top-p 0.9 (the book's chapter-4/6 sampling), 128 new tokens,
    /// only correct traces kept, duplicates once, 16 problems per batch, seed 123.
    fn default() -> Self {
        Self {
            num_samples: 4,
            temperature: 0.8,
            top_p: Some(0.9),
            max_new_tokens: 128,
            only_correct: true,
            check_arithmetic_steps: false,
            unique: true,
            batch_size: 16,
            seed: 123,
            prompt: PromptBuilder::default(),
        }
    }
}

impl TeacherConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// Zero samples, batch size or token limit, a bad temperature or top-p, or several samples
    /// with greedy decoding (they would all be the same).
    pub fn validate(&self) -> Result<(), DistillError> {
        let bad = |m: String| Err(DistillError::Config(m));
        if self.num_samples == 0 || self.batch_size == 0 || self.max_new_tokens == 0 {
            return bad(format!(
                "num_samples {}, batch_size {} and max_new_tokens {} must be positive",
                self.num_samples, self.batch_size, self.max_new_tokens
            ));
        }
        if self.temperature == 0.0 && self.num_samples > 1 {
            return bad(format!(
                "temperature 0 is greedy: {} samples per problem would be identical",
                self.num_samples
            ));
        }
        self.decoding()?;
        Ok(())
    }

    /// The decoding these settings describe.
    pub fn decoding(&self) -> Result<Decoding, DistillError> {
        Ok(Decoding::from_temperature(self.temperature, self.top_p)?)
    }
}

/// One sampled answer before grading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampledAnswer {
    /// The decoded text, the stop id left out (special tokens such as `<think>` kept).
    pub text: String,
    /// Generated ids, the stop id included.
    pub tokens: usize,
    /// Whether it ended with the stop id (false: cut at `max_new_tokens`).
    pub finished: bool,
}

/// What a teacher returns for a batch of problems: each problem's answers, in sample order.
pub type SampledBatch = Result<Vec<Vec<SampledAnswer>>, DistillError>;

/// One kept trace: the book's record plus where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// The book's four fields.
    #[serde(flatten)]
    pub record: DistillRecord,
    /// 1-based position of the problem in the dataset.
    pub index: usize,
    /// Which of the problem's samples this is (0-based).
    pub sample: usize,
    /// The final answer read from the trace's last `\boxed{}` (empty without one).
    pub extracted: String,
    /// Whether `extracted` grades equal to the reference.
    pub correct: bool,
    /// Generated ids, the stop id included.
    pub tokens: usize,
}

/// One finished problem, as a line of `progress.jsonl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemDone {
    /// 1-based position of the problem in the dataset.
    pub index: usize,
    /// Samples generated.
    pub generated: usize,
    /// Samples that graded correct.
    pub correct: usize,
    /// Samples kept as traces.
    pub kept: usize,
}

/// Counts over a trace-generation run (resumed problems included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceSummary {
    /// Problems done.
    pub problems: usize,
    /// Samples generated.
    pub generated: usize,
    /// Samples that graded correct.
    pub correct: usize,
    /// Traces kept.
    pub kept: usize,
    /// Problems with at least one correct sample (pass@K numerator).
    pub solved: usize,
}

impl TraceSummary {
    /// Sums the progress lines.
    pub fn of(done: &[ProblemDone]) -> Self {
        let mut s = TraceSummary::default();
        for d in done {
            s.problems += 1;
            s.generated += d.generated;
            s.correct += d.correct;
            s.kept += d.kept;
            s.solved += usize::from(d.correct > 0);
        }
        s
    }

    /// Fraction of samples that graded correct (0 when none).
    pub fn sample_accuracy(&self) -> f64 {
        ratio(self.correct, self.generated)
    }

    /// Fraction of problems with a correct sample: pass@K (0 when none).
    pub fn pass_at_k(&self) -> f64 {
        ratio(self.solved, self.problems)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// File name of the kept traces inside a run folder.
pub const TRACES_FILE: &str = "traces.jsonl";
/// File name of the per-problem progress lines inside a run folder.
pub const PROGRESS_FILE: &str = "progress.jsonl";

/// The append-only trace and progress files of one run folder.
#[derive(Debug)]
pub struct TraceLog {
    traces_path: PathBuf,
    progress_path: PathBuf,
    traces: File,
    progress: File,
}

/// What a reopened [`TraceLog`] already holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resumed {
    /// Kept traces of finished problems, in file order.
    pub traces: Vec<Trace>,
    /// Finished problems, in file order.
    pub done: Vec<ProblemDone>,
}

impl TraceLog {
    /// Opens (or creates) `dir/traces.jsonl` and `dir/progress.jsonl` and returns what they
    /// hold. Traces of problems without a progress line (a crash between the two writes) are
    /// removed from the file, and so is a last line without its newline.
    ///
    /// # Errors
    /// A file cannot be read or written, or a complete line is malformed (the message names
    /// the file and line).
    pub fn open(dir: &Path) -> Result<(Self, Resumed), DistillError> {
        std::fs::create_dir_all(dir).map_err(|e| DistillError::io("create folder", dir, e))?;
        let progress_path = dir.join(PROGRESS_FILE);
        let traces_path = dir.join(TRACES_FILE);
        let (progress, done): (File, Vec<ProblemDone>) = open_jsonl(&progress_path)?;
        let (mut traces, mut kept): (File, Vec<Trace>) = open_jsonl(&traces_path)?;
        let finished: BTreeSet<usize> = done.iter().map(|d| d.index).collect();
        let before = kept.len();
        kept.retain(|t| finished.contains(&t.index));
        if kept.len() != before {
            // Rewrite the traces of finished problems only, atomically, then append to it.
            let mut text = String::new();
            for t in &kept {
                text.push_str(&to_line(t, &traces_path)?);
            }
            drop(traces);
            reasoning_train::fs::write_atomic(&traces_path, text.as_bytes())?;
            traces = append_handle(&traces_path)?;
        }
        let log = Self {
            traces_path,
            progress_path,
            traces,
            progress,
        };
        Ok((log, Resumed { traces: kept, done }))
    }

    /// Appends one problem's kept traces, then its progress line; both flushed to disk.
    pub fn append(&mut self, traces: &[Trace], done: &ProblemDone) -> Result<(), DistillError> {
        let mut text = String::new();
        for t in traces {
            text.push_str(&to_line(t, &self.traces_path)?);
        }
        write_synced(&mut self.traces, &self.traces_path, &text)?;
        let line = to_line(done, &self.progress_path)?;
        write_synced(&mut self.progress, &self.progress_path, &line)
    }

    /// The traces file.
    pub fn traces_path(&self) -> &Path {
        &self.traces_path
    }
}

fn to_line(value: &impl Serialize, path: &Path) -> Result<String, DistillError> {
    let mut line = serde_json::to_string(value).map_err(|e| {
        DistillError::Data(format!(
            "cannot serialise a line of {}: {e}",
            path.display()
        ))
    })?;
    line.push('\n');
    Ok(line)
}

fn write_synced(file: &mut File, path: &Path, text: &str) -> Result<(), DistillError> {
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_data())
        .map_err(|e| DistillError::io("append to", path, e))
}

fn append_handle(path: &Path) -> Result<File, DistillError> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| DistillError::io("open", path, e))
}

/// Opens a JSON Lines file for appending (creating it), cuts a last line without a newline,
/// and parses the complete lines.
fn open_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<(File, Vec<T>), DistillError> {
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| DistillError::io("open", path, e))?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| DistillError::io("read", path, e))?;
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    if complete < text.len() {
        file.set_len(complete as u64)
            .and_then(|()| file.seek(SeekFrom::End(0)).map(|_| ()))
            .map_err(|e| DistillError::io("truncate", path, e))?;
    }
    let mut items = Vec::new();
    for (i, line) in text[..complete].lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let item = serde_json::from_str(line)
            .map_err(|e| DistillError::Data(format!("{}:{}: {e}", path.display(), i + 1)))?;
        items.push(item);
    }
    Ok((file, items))
}

/// Grades one sampled answer: the last `\boxed{}` (no fallback) against the reference, and
/// only when the answer finished.
pub fn grade_sample(answer: &SampledAnswer, reference: &str) -> (String, bool) {
    let extracted = extract_final_candidate(&answer.text, Fallback::None);
    let correct =
        answer.finished && !extracted.is_empty() && grade_answer_evaluated(&extracted, reference);
    (extracted, correct)
}

/// Where a trace-generation run stands, reported after every problem.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TeacherProgress {
    /// Problems done, resumed ones included.
    pub done: usize,
    /// Problems in the run.
    pub total: usize,
    /// Problems done by this call (not resumed).
    pub new: usize,
    /// Counts so far.
    pub summary: TraceSummary,
}

/// Generates traces for every problem not yet in `resumed`, `config.batch_size` problems per
/// call of `sample`, grades them, appends the kept ones to `log`, and reports progress.
/// Returns the summary over all problems, resumed ones included.
///
/// `sample` receives `(index, problem)` pairs (1-based indices) and returns, for each, its
/// `num_samples` answers in sample order; [`model_sampler`] is the model-backed one.
///
/// # Errors
/// The settings are invalid, `sample` fails or returns the wrong number of answers, or a
/// file cannot be written.
pub fn generate_traces(
    problems: &[Record],
    config: &TeacherConfig,
    log: &mut TraceLog,
    resumed: &Resumed,
    mut sample: impl FnMut(&[(usize, &Record)]) -> SampledBatch,
    mut on_progress: impl FnMut(&TeacherProgress),
) -> Result<TraceSummary, DistillError> {
    config.validate()?;
    let total = problems.len();
    let mut done: Vec<ProblemDone> = resumed
        .done
        .iter()
        .filter(|d| (1..=total).contains(&d.index))
        .copied()
        .collect();
    let finished: BTreeSet<usize> = done.iter().map(|d| d.index).collect();
    let pending: Vec<(usize, &Record)> = problems
        .iter()
        .enumerate()
        .map(|(i, p)| (i + 1, p))
        .filter(|(i, _)| !finished.contains(i))
        .collect();
    let mut new = 0;
    let report = |done: &[ProblemDone], new| TeacherProgress {
        done: done.len(),
        total,
        new,
        summary: TraceSummary::of(done),
    };
    on_progress(&report(&done, new));
    for group in pending.chunks(config.batch_size) {
        let answers = sample(group)?;
        if answers.len() != group.len() {
            return Err(DistillError::Data(format!(
                "the teacher returned answers for {} problems, expected {}",
                answers.len(),
                group.len()
            )));
        }
        for (&(index, problem), samples) in group.iter().zip(answers) {
            if samples.len() != config.num_samples {
                return Err(DistillError::Data(format!(
                    "the teacher returned {} samples for problem {index}, expected {}",
                    samples.len(),
                    config.num_samples
                )));
            }
            let (traces, line) = grade_problem(index, problem, &samples, config);
            log.append(&traces, &line)?;
            done.push(line);
            new += 1;
            on_progress(&report(&done, new));
        }
    }
    Ok(TraceSummary::of(&done))
}

/// Grades a problem's samples and returns the traces to keep with the progress line.
fn grade_problem(
    index: usize,
    problem: &Record,
    samples: &[SampledAnswer],
    config: &TeacherConfig,
) -> (Vec<Trace>, ProblemDone) {
    let mut traces = Vec::new();
    let mut correct_count = 0;
    for (j, s) in samples.iter().enumerate() {
        let (extracted, correct) = grade_sample(s, &problem.answer);
        correct_count += usize::from(correct);
        let (thinking, content) = split_thinking(&s.text);
        // A trace needs a final message and an end; rejection sampling also needs it correct.
        let duplicate = config.unique
            && traces.iter().any(|t: &Trace| {
                t.record.message_thinking == thinking && t.record.message_content == content
            });
        let steps_hold = !config.check_arithmetic_steps || arithmetic_steps_hold(&thinking);
        let keep = s.finished
            && !content.is_empty()
            && (correct || !config.only_correct)
            && steps_hold
            && !duplicate;
        if keep {
            traces.push(Trace {
                record: DistillRecord {
                    problem: problem.problem.clone(),
                    gtruth_answer: problem.answer.clone(),
                    message_thinking: thinking,
                    message_content: content,
                },
                index,
                sample: j,
                extracted,
                correct,
                tokens: s.tokens,
            });
        }
    }
    let line = ProblemDone {
        index,
        generated: samples.len(),
        correct: correct_count,
        kept: traces.len(),
    };
    (traces, line)
}

/// Returns whether `thinking` is one or more lines, each a true integer equation
/// `a op b = c` with `op` one of `+ - * /` (division exact), as the arithmetic task's worked
/// solutions are written. Blank lines are ignored; any other line fails.
///
/// ```
/// use reasoning_distill::teacher::arithmetic_steps_hold;
/// assert!(arithmetic_steps_hold("10 / 2 = 5\n9 - 5 = 4"));
/// assert!(!arithmetic_steps_hold("9 / 2 = 5\n5 - 1 = 4"));
/// ```
pub fn arithmetic_steps_hold(thinking: &str) -> bool {
    reasoning_verifier::steps::all_steps_hold(thinking)
}

/// Returns a sampler for [`generate_traces`] backed by a model: each call prefills every
/// prompt once and samples `num_samples` answers from it in one batch, sample `j` of problem
/// `i` on [`sample_stream`]`(seed, i, j)`.
pub fn model_sampler<'a>(
    lm: &'a LoadedModel,
    config: &'a TeacherConfig,
) -> impl FnMut(&[(usize, &Record)]) -> SampledBatch + 'a {
    move |group| {
        let generation = lm.generation_config(config.max_new_tokens, config.decoding()?);
        let prompts = group
            .iter()
            .map(|(_, p)| config.prompt.problem_ids(&lm.tokenizer, &p.problem))
            .collect::<Result<Vec<_>, _>>()?;
        let k = config.num_samples;
        let mut rngs: Vec<_> = group
            .iter()
            .flat_map(|&(i, _)| (0..k).map(move |j| sample_stream(config.seed, i as u64, j as u64)))
            .collect();
        let responses = sample_responses(lm, &prompts, k, &generation, &mut rngs)?;
        let mut out: Vec<Vec<SampledAnswer>> = Vec::with_capacity(group.len());
        for chunk in responses.chunks(k) {
            out.push(
                chunk
                    .iter()
                    .map(|r| SampledAnswer {
                        text: r.text.clone(),
                        tokens: r.tokens(),
                        finished: r.generation.finish == FinishReason::Eos,
                    })
                    .collect(),
            );
        }
        Ok(out)
    }
}
