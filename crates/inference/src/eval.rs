//! Evaluating a model on a problem set, one record per problem, resumable (book chapter 3,
//! `evaluate_math500_stream`; the chapters 4-5 scripts reuse it).
//!
//! Each problem's record is appended to a JSON Lines file as soon as it is made and flushed to
//! disk, so a crash loses at most the problem in flight. Opening the same file again
//! ([`RecordLog::open`]) reads the records already there; [`evaluate`] skips their problems,
//! so a rerun resumes where the last one stopped. A line cut off by a crash (no final newline)
//! is dropped on open; any other malformed line is an error naming the file and line.
//!
//! ```text
//! accuracy = (1/n) Σ_i [grade_answer_evaluated(extracted_i, answer_i)]
//! ```
//!
//! `grade_answer_evaluated` is the book's `grade_answer` except that an unevaluated expression
//! (`4 * 10`) is not accepted for a plain-number reference (`40`); see
//! [`reasoning_verifier::grade_answer_evaluated`].
//!
//! Records carry the book's fields (`index` counts from 1 as in the book, `problem`,
//! `gtruth_answer`, `generated_text`, `extracted`, `correct`) plus `gen_tokens`, the ids the
//! method generated for the problem (all samples, critiques and revisions included), and any
//! method-specific fields.
//!
//! [`evaluate_greedy`] is the held-out accuracy every trainer reports (GRPO's periodic
//! evaluation, the distilled student before and after): one greedy answer per problem, in
//! left-padded batches, graded as above, the records returned rather than logged.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use reasoning_model::Model;
use reasoning_tokenizer::Tokenizer;
use reasoning_verifier::datasets::Record;
use reasoning_verifier::grade_answer_evaluated;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{InferenceError, Result};
use crate::generate::{Control, GenerationConfig, generate_batch};
use crate::sampling::Decoding;
use crate::scaling::Response;

/// One evaluated problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// 1-based position of the problem in the dataset (the book's `index`).
    pub index: usize,
    /// The problem statement.
    pub problem: String,
    /// The reference answer.
    pub gtruth_answer: String,
    /// The response the method settled on.
    pub generated_text: String,
    /// The final answer taken from it.
    pub extracted: String,
    /// Whether `extracted` grades equal to `gtruth_answer`.
    pub correct: bool,
    /// Ids generated for this problem, over every sample and step.
    pub gen_tokens: usize,
    /// Method-specific fields (votes, scores, refinement steps).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl EvalRecord {
    /// Grades `extracted` against the problem's answer and builds the record.
    pub fn graded(
        index: usize,
        problem: &Record,
        generated_text: String,
        extracted: String,
        gen_tokens: usize,
    ) -> Self {
        let correct = grade_answer_evaluated(&extracted, &problem.answer);
        Self {
            index,
            problem: problem.problem.clone(),
            gtruth_answer: problem.answer.clone(),
            generated_text,
            extracted,
            correct,
            gen_tokens,
            extra: Map::new(),
        }
    }

    /// Returns this record with one more method-specific field.
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.extra.insert(key.to_string(), value);
        self
    }
}

/// An append-only JSON Lines file of records: [`EvalRecord`]s by default, or any other
/// record type that serialises (appendix F's MMLU records use it too).
#[derive(Debug)]
pub struct RecordLog<R = EvalRecord> {
    path: PathBuf,
    file: File,
    _records: PhantomData<fn(R)>,
}

impl<R: Serialize + DeserializeOwned> RecordLog<R> {
    /// Opens (or creates) `path` for appending and returns the records it already holds.
    ///
    /// A last line without its newline (a write cut off by a crash) is removed from the file.
    ///
    /// # Errors
    /// The file cannot be read or written, or a complete line is not a record.
    pub fn open(path: &Path) -> Result<(Self, Vec<R>)> {
        let io = |action| {
            move |source| InferenceError::Io {
                action,
                path: path.to_path_buf(),
                source,
            }
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io("open"))?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(io("read"))?;
        let complete = text.rfind('\n').map_or(0, |i| i + 1);
        if complete < text.len() {
            file.set_len(complete as u64).map_err(io("truncate"))?;
            file.seek(SeekFrom::End(0)).map_err(io("seek in"))?;
        }
        let mut records = Vec::new();
        for (i, line) in text[..complete].lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let record = serde_json::from_str(line).map_err(|e| InferenceError::BadRecord {
                path: path.to_path_buf(),
                line: i + 1,
                message: e.to_string(),
            })?;
            records.push(record);
        }
        let log = Self {
            path: path.to_path_buf(),
            file,
            _records: PhantomData,
        };
        Ok((log, records))
    }

    /// Appends one record as a line and flushes it to disk.
    pub fn append(&mut self, record: &R) -> Result<()> {
        let mut line = serde_json::to_string(record).map_err(|e| InferenceError::BadRecord {
            path: self.path.clone(),
            line: 0,
            message: format!("cannot serialise a record: {e}"),
        })?;
        line.push('\n');
        let io = |source| InferenceError::Io {
            action: "append to",
            path: self.path.clone(),
            source,
        };
        self.file.write_all(line.as_bytes()).map_err(io)?;
        self.file.sync_data().map_err(io)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Accuracy and length over a set of records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalSummary {
    /// Records counted.
    pub n: usize,
    /// Correct ones.
    pub correct: usize,
    /// `correct / n` (0 when empty).
    pub accuracy: f64,
    /// Mean `gen_tokens` per problem.
    pub avg_generated_tokens: f64,
}

impl EvalSummary {
    /// Summarises `records`.
    pub fn of(records: &[EvalRecord]) -> Self {
        let n = records.len();
        let correct = records.iter().filter(|r| r.correct).count();
        let tokens: usize = records.iter().map(|r| r.gen_tokens).sum();
        let per = |x: usize| if n == 0 { 0.0 } else { x as f64 / n as f64 };
        Self {
            n,
            correct,
            accuracy: per(correct),
            avg_generated_tokens: per(tokens),
        }
    }
}

/// Where an evaluation stands, reported after every record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalProgress {
    /// Problems with a record, resumed ones included.
    pub done: usize,
    /// Problems in the run.
    pub total: usize,
    /// Records made by this call (not resumed).
    pub new: usize,
    /// Running summary over every record so far.
    pub summary: EvalSummary,
}

/// Evaluates `problems` (their 1-based `index` is their position) in groups of `batch_size`,
/// skipping those `log` already holds, appending each new record as soon as `solve` returns
/// it, and reporting progress. Returns every record, resumed and new, in index order.
///
/// `solve` receives `(index, problem)` pairs and must return one record per pair, in order.
pub fn evaluate(
    problems: &[Record],
    log: &mut RecordLog,
    resumed: Vec<EvalRecord>,
    batch_size: usize,
    mut solve: impl FnMut(&[(usize, &Record)]) -> Result<Vec<EvalRecord>>,
    mut on_progress: impl FnMut(&EvalProgress),
) -> Result<Vec<EvalRecord>> {
    let total = problems.len();
    let mut records: Vec<EvalRecord> = resumed
        .into_iter()
        .filter(|r| (1..=total).contains(&r.index))
        .collect();
    records.sort_by_key(|r| r.index);
    records.dedup_by_key(|r| r.index);
    let done: std::collections::BTreeSet<usize> = records.iter().map(|r| r.index).collect();
    let pending: Vec<(usize, &Record)> = problems
        .iter()
        .enumerate()
        .map(|(i, p)| (i + 1, p))
        .filter(|(i, _)| !done.contains(i))
        .collect();
    let mut new = 0;
    on_progress(&EvalProgress {
        done: records.len(),
        total,
        new,
        summary: EvalSummary::of(&records),
    });
    for group in pending.chunks(batch_size.max(1)) {
        let made = solve(group)?;
        for record in made {
            log.append(&record)?;
            records.push(record);
            new += 1;
            on_progress(&EvalProgress {
                done: records.len(),
                total,
                new,
                summary: EvalSummary::of(&records),
            });
        }
    }
    records.sort_by_key(|r| r.index);
    Ok(records)
}

/// Greedy answers to a problem set, graded: what [`evaluate_greedy`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct GreedyEval {
    /// Fraction of problems answered correctly (0 when there are none).
    pub accuracy: f64,
    /// One record per problem, in order (`index` counts from 1).
    pub records: Vec<EvalRecord>,
}

impl GreedyEval {
    /// Count, accuracy and mean answer length of the records.
    pub fn summary(&self) -> EvalSummary {
        EvalSummary::of(&self.records)
    }
}

/// Answers every problem greedily, `batch_size` prompts per left-padded batch, and grades each
/// answer as `cargo xtask evaluate` does (the book's `extract_final_candidate` with its default
/// fallback, then [`grade_answer_evaluated`]).
///
/// `prompts[i]` are the prompt ids of `problems[i]`; `generation` gives the length, stop ids
/// and vocabulary limit (its decoding is replaced by greedy). `model` should be an inference
/// copy (`model.valid()`), so no autodiff graph is built. Records carry no finish reason.
///
/// # Errors
/// `prompts` and `problems` differ in length, or generation or decoding fails.
pub fn evaluate_greedy(
    model: &Model,
    tok: &Tokenizer,
    problems: &[Record],
    prompts: &[Vec<u32>],
    generation: &GenerationConfig,
    batch_size: usize,
) -> Result<GreedyEval> {
    if prompts.len() != problems.len() {
        return Err(InferenceError::InvalidParameter {
            name: "prompts",
            value: prompts.len().to_string(),
            reason: "must hold one prompt per problem",
        });
    }
    let greedy = GenerationConfig {
        decoding: Decoding::Greedy,
        ..generation.clone()
    };
    let batch_size = batch_size.max(1);
    let mut records = Vec::with_capacity(problems.len());
    for (c, chunk) in prompts.chunks(batch_size).enumerate() {
        let out = generate_batch(model, chunk, 1, &greedy, &mut [], |_| Control::Continue)?;
        for (j, generation) in out.generations.into_iter().enumerate() {
            let i = c * batch_size + j;
            let r = Response::decode(tok, generation)?;
            let tokens = r.tokens();
            records.push(EvalRecord::graded(
                i + 1,
                &problems[i],
                r.text,
                r.extracted,
                tokens,
            ));
        }
    }
    let correct = records.iter().filter(|r| r.correct).count();
    let accuracy = if records.is_empty() {
        0.0
    } else {
        correct as f64 / records.len() as f64
    };
    Ok(GreedyEval { accuracy, records })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo(items: &[(usize, &Record)]) -> Result<Vec<EvalRecord>> {
        Ok(items
            .iter()
            .map(|(i, p)| EvalRecord::graded(*i, p, format!("\\boxed{{{}}}", i), i.to_string(), 3))
            .collect())
    }

    #[test]
    fn records_are_graded_against_the_reference() {
        let p = Record::new("1+1", "2");
        assert!(EvalRecord::graded(1, &p, String::new(), "2".into(), 0).correct);
        assert!(!EvalRecord::graded(1, &p, String::new(), "3".into(), 0).correct);
    }

    #[test]
    fn a_rerun_skips_problems_already_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.jsonl");
        let problems: Vec<Record> = (1..=5).map(|i| Record::new("q", i.to_string())).collect();

        // First run: stopped after 2 problems (the solver fails on the third).
        let (mut log, resumed) = RecordLog::open(&path).unwrap();
        assert!(resumed.is_empty());
        let mut calls = 0;
        let err = evaluate(
            &problems,
            &mut log,
            resumed,
            1,
            |items| {
                calls += 1;
                if calls == 3 {
                    return Err(InferenceError::EmptyPrompt { index: 0 });
                }
                echo(items)
            },
            |_| {},
        );
        assert!(err.is_err());
        drop(log);

        // Second run: only problems 3..=5 are solved.
        let (mut log, resumed) = RecordLog::open(&path).unwrap();
        assert_eq!(resumed.len(), 2);
        let mut seen = Vec::new();
        let records = evaluate(
            &problems,
            &mut log,
            resumed,
            2,
            |items| {
                seen.extend(items.iter().map(|(i, _)| *i));
                echo(items)
            },
            |_| {},
        )
        .unwrap();
        assert_eq!(seen, vec![3, 4, 5]);
        assert_eq!(
            records.iter().map(|r| r.index).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        assert!(records.iter().all(|r| r.correct));
        let summary = EvalSummary::of(&records);
        assert_eq!((summary.n, summary.correct), (5, 5));
        assert_eq!(summary.avg_generated_tokens, 3.0);

        // The file holds exactly five lines, one per problem.
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 5);
    }

    #[test]
    fn a_line_cut_off_by_a_crash_is_dropped_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.jsonl");
        let p = Record::new("q", "1");
        let full =
            serde_json::to_string(&EvalRecord::graded(1, &p, "t".into(), "1".into(), 1)).unwrap();
        std::fs::write(&path, format!("{full}\n{{\"index\": 2, \"prob")).unwrap();
        let (mut log, resumed) = RecordLog::open(&path).unwrap();
        assert_eq!(resumed.len(), 1);
        log.append(&EvalRecord::graded(2, &p, "t".into(), "1".into(), 1))
            .unwrap();
        drop(log);
        let (_, again) = RecordLog::<EvalRecord>::open(&path).unwrap();
        assert_eq!(again.iter().map(|r| r.index).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn a_malformed_complete_line_is_an_error_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.jsonl");
        std::fs::write(&path, "{\"index\": 1}\n").unwrap();
        let err = RecordLog::<EvalRecord>::open(&path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("records.jsonl:1"), "{err}");
    }

    #[test]
    fn extra_fields_round_trip_through_the_log() {
        let p = Record::new("q", "1");
        let r = EvalRecord::graded(1, &p, "t".into(), "1".into(), 1).with("votes", [3, 2]);
        let json = serde_json::to_string(&r).unwrap();
        let back: EvalRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert!(json.contains("\"votes\":[3,2]"));
    }
}
