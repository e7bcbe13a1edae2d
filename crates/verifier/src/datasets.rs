//! Problem sets and saved model outputs (book section 3.8): MATH-500 and any JSON / JSONL file
//! of records.
//!
//! Three layouts are read, as the book's `evaluate_json.py` reads them: a JSON array of
//! objects (`math500_test.json`), an object with a `"records"` array, or JSON Lines (one
//! object per line, blank lines skipped). Every record carries the line it starts on, so a
//! malformed record is reported as `file:line: field "answer" ...`.
//!
//! Field names are mappable ([`FieldMap`]): the book's saved outputs call the reference answer
//! `gtruth_answer`, the MATH training files call the subject `type` and write the level as
//! `"Level 5"`. Hub names such as `HuggingFaceH4/MATH-500` are resolved to files by the caller;
//! this crate never touches the network.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};
use thiserror::Error;

use crate::extract::{Fallback, extract_final_candidate};
use crate::grade::Grader;

/// Why a dataset file could not be loaded.
#[derive(Debug, Error)]
pub enum DatasetError {
    /// The file could not be read.
    #[error("cannot read {path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error (in the message, not chained as a source).
        cause: std::io::Error,
    },
    /// The text is not valid JSON (or a line of a JSON Lines file is not).
    #[error("{path}:{line}: invalid JSON: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// serde_json's description.
        message: String,
    },
    /// The JSON root is neither an array, an object, nor JSON Lines of objects.
    #[error(
        "{path}: expected a JSON array of records, an object with a \"records\" array, or JSON Lines"
    )]
    BadRoot {
        /// The file.
        path: PathBuf,
    },
    /// A record is not a JSON object.
    #[error("{path}:{line}: record is {found}, expected a JSON object")]
    NotAnObject {
        /// The file.
        path: PathBuf,
        /// 1-based line where the record starts.
        line: usize,
        /// The JSON type found.
        found: &'static str,
    },
    /// A required field is absent.
    #[error("{path}:{line}: record has no field \"{field}\"")]
    MissingField {
        /// The file.
        path: PathBuf,
        /// 1-based line where the record starts.
        line: usize,
        /// The field name.
        field: String,
    },
    /// A field has the wrong type or an unusable value.
    #[error("{path}:{line}: field \"{field}\" {problem}")]
    BadField {
        /// The file.
        path: PathBuf,
        /// 1-based line where the record starts.
        line: usize,
        /// The field name.
        field: String,
        /// What is wrong, e.g. "is a number, expected a string".
        problem: String,
    },
}

/// One problem with its reference answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Record {
    /// The problem statement.
    pub problem: String,
    /// The reference answer (LaTeX, as in MATH).
    pub answer: String,
    /// The worked solution, when the dataset has one.
    pub solution: Option<String>,
    /// Difficulty 1-5 (MATH writes `2` or `"Level 2"`; `"Level ?"` reads as unknown).
    pub level: Option<u8>,
    /// Subject, e.g. `Precalculus` (MATH training files call it `type`).
    pub subject: Option<String>,
    /// Identifier, e.g. `test/precalculus/807.json` (integers are kept as their text).
    pub unique_id: Option<String>,
}

impl Record {
    /// Returns a record of a problem and its reference answer only: no solution, level,
    /// subject or identifier.
    ///
    /// ```
    /// use reasoning_verifier::datasets::Record;
    /// let r = Record::new("What is 2 + 3?", "5");
    /// assert_eq!((r.answer.as_str(), r.level), ("5", None));
    /// ```
    pub fn new(problem: impl Into<String>, answer: impl Into<String>) -> Self {
        Record {
            problem: problem.into(),
            answer: answer.into(),
            solution: None,
            level: None,
            subject: None,
            unique_id: None,
        }
    }
}

/// The JSON keys of each [`Record`] field. The default is MATH's layout.
///
/// ```
/// use reasoning_verifier::datasets::FieldMap;
/// let map = FieldMap::default().answer("gtruth_answer");
/// assert_eq!(map.answer, "gtruth_answer");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldMap {
    /// Key of the problem statement (`problem`).
    pub problem: String,
    /// Key of the reference answer (`answer`).
    pub answer: String,
    /// Key of the solution (`solution`).
    pub solution: String,
    /// Key of the level (`level`).
    pub level: String,
    /// Keys of the subject, first present wins (`subject`, then `type`).
    pub subject: Vec<String>,
    /// Key of the identifier (`unique_id`).
    pub unique_id: String,
}

impl Default for FieldMap {
    fn default() -> Self {
        FieldMap {
            problem: "problem".into(),
            answer: "answer".into(),
            solution: "solution".into(),
            level: "level".into(),
            subject: vec!["subject".into(), "type".into()],
            unique_id: "unique_id".into(),
        }
    }
}

impl FieldMap {
    /// Reads the problem statement from `key`.
    pub fn problem(mut self, key: &str) -> Self {
        self.problem = key.to_string();
        self
    }

    /// Reads the reference answer from `key` (e.g. `gtruth_answer`).
    pub fn answer(mut self, key: &str) -> Self {
        self.answer = key.to_string();
        self
    }
}

/// A JSON record as read from a file, with the line it starts on.
#[derive(Clone, Debug, PartialEq)]
pub struct RawRecord {
    /// 1-based line where the record starts.
    pub line: usize,
    /// The record.
    pub value: Value,
}

/// Reads a JSON array, a `{"records": [...]}` object, or JSON Lines from `path`.
pub fn read_json_records(path: &Path) -> Result<Vec<RawRecord>, DatasetError> {
    let text = std::fs::read_to_string(path).map_err(|cause| DatasetError::Io {
        path: path.to_path_buf(),
        cause,
    })?;
    parse_json_records(&text, path)
}

/// Loads problems with the given field names from a JSON / JSONL file.
pub fn load_records(path: &Path, fields: &FieldMap) -> Result<Vec<Record>, DatasetError> {
    read_json_records(path)?
        .iter()
        .map(|r| to_record(r, fields, path))
        .collect()
}

/// Loads MATH-500 (`math500_test.json`, a JSON array in MATH's layout) from `path`.
///
/// ```no_run
/// use std::path::Path;
/// let problems = reasoning_verifier::datasets::load_math500(Path::new("math500_test.json"))?;
/// assert_eq!(problems.len(), 500);
/// # Ok::<(), reasoning_verifier::datasets::DatasetError>(())
/// ```
pub fn load_math500(path: &Path) -> Result<Vec<Record>, DatasetError> {
    load_records(path, &FieldMap::default())
}

/// Splits the text of a JSON / JSONL file into records; `path` only names the file in errors.
pub fn parse_json_records(text: &str, path: &Path) -> Result<Vec<RawRecord>, DatasetError> {
    let lines = LineIndex::new(text);
    let start = text.len() - text.trim_start().len();
    match text.as_bytes().get(start) {
        Some(b'[') => array_elements(text, start, &lines, path),
        Some(b'{') => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => match map.get("records") {
                Some(Value::Array(_)) => {
                    let at = top_level_value(text, "records")
                        .ok_or_else(|| DatasetError::BadRoot { path: path.into() })?;
                    array_elements(text, at, &lines, path)
                }
                _ => Ok(vec![RawRecord {
                    line: lines.line(start),
                    value: Value::Object(map),
                }]),
            },
            // Several objects: JSON Lines.
            _ => json_lines(text, path),
        },
        None => Ok(Vec::new()),
        Some(_) => Err(DatasetError::BadRoot { path: path.into() }),
    }
}

/// Byte offset -> 1-based line number.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(k, _)| k + 1));
        LineIndex { starts }
    }

    fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
    }
}

fn json_error(path: &Path, line: usize, e: &serde_json::Error) -> DatasetError {
    DatasetError::Json {
        path: path.into(),
        line,
        message: e.to_string(),
    }
}

fn json_lines(text: &str, path: &Path) -> Result<Vec<RawRecord>, DatasetError> {
    let mut out = Vec::new();
    for (k, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|e| json_error(path, k + 1, &e))?;
        out.push(RawRecord { line: k + 1, value });
    }
    Ok(out)
}

/// The elements of the JSON array whose `[` is at byte `open`.
fn array_elements(
    text: &str,
    open: usize,
    lines: &LineIndex,
    path: &Path,
) -> Result<Vec<RawRecord>, DatasetError> {
    let b = text.as_bytes();
    let skip = |mut k: usize| {
        while k < b.len() && b[k].is_ascii_whitespace() {
            k += 1;
        }
        k
    };
    let mut out = Vec::new();
    let mut i = skip(open + 1);
    if b.get(i) == Some(&b']') {
        return Ok(out);
    }
    loop {
        let mut stream = serde_json::Deserializer::from_str(&text[i..]).into_iter::<Value>();
        let value = match stream.next() {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                return Err(json_error(
                    path,
                    lines.line(i) + e.line().saturating_sub(1),
                    &e,
                ));
            }
            None => {
                return Err(DatasetError::Json {
                    path: path.into(),
                    line: lines.line(i),
                    message: "unterminated array".into(),
                });
            }
        };
        out.push(RawRecord {
            line: lines.line(i),
            value,
        });
        i = skip(i + stream.byte_offset());
        match b.get(i) {
            Some(b',') => i = skip(i + 1),
            Some(b']') => return Ok(out),
            _ => {
                return Err(DatasetError::Json {
                    path: path.into(),
                    line: lines.line(i.min(b.len().saturating_sub(1))),
                    message: "expected ',' or ']' after an array element".into(),
                });
            }
        }
    }
}

/// Byte offset of the value of `key` in the top-level JSON object of `text`.
fn top_level_value(text: &str, key: &str) -> Option<usize> {
    let b = text.as_bytes();
    let (mut depth, mut in_string, mut escape, mut string_start) = (0usize, false, false, 0usize);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if in_string {
            if escape {
                escape = false;
            } else if c == b'\\' {
                escape = true;
            } else if c == b'"' {
                in_string = false;
                if depth == 1 && &text[string_start + 1..i] == key {
                    let mut k = i + 1;
                    while k < b.len() && b[k].is_ascii_whitespace() {
                        k += 1;
                    }
                    if b.get(k) == Some(&b':') {
                        k += 1;
                        while k < b.len() && b[k].is_ascii_whitespace() {
                            k += 1;
                        }
                        return Some(k);
                    }
                }
            }
        } else {
            match c {
                b'"' => {
                    in_string = true;
                    string_start = i;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// The kind of a JSON value as an error message says it: `null`, `a boolean`, `a number`,
/// `a string`, `an array` or `an object`.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The record as a JSON object, or an error naming its line.
pub fn as_object<'a>(
    r: &'a RawRecord,
    path: &Path,
) -> Result<&'a Map<String, Value>, DatasetError> {
    r.value.as_object().ok_or(DatasetError::NotAnObject {
        path: path.into(),
        line: r.line,
        found: json_type(&r.value),
    })
}

/// Reads a required text field; numbers are accepted as their decimal text (`"answer": 42`).
pub fn required_text(r: &RawRecord, field: &str, path: &Path) -> Result<String, DatasetError> {
    let obj = as_object(r, path)?;
    let bad = |problem: String| DatasetError::BadField {
        path: path.into(),
        line: r.line,
        field: field.into(),
        problem,
    };
    match obj.get(field) {
        None => Err(DatasetError::MissingField {
            path: path.into(),
            line: r.line,
            field: field.into(),
        }),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(other) => Err(bad(format!("is {}, expected a string", json_type(other)))),
    }
}

fn optional_text(
    obj: &Map<String, Value>,
    field: &str,
    r: &RawRecord,
    path: &Path,
) -> Result<Option<String>, DatasetError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(DatasetError::BadField {
            path: path.into(),
            line: r.line,
            field: field.into(),
            problem: format!("is {}, expected a string", json_type(other)),
        }),
    }
}

/// Converts a raw record to a [`Record`] with the given field names.
pub fn to_record(r: &RawRecord, fields: &FieldMap, path: &Path) -> Result<Record, DatasetError> {
    let obj = as_object(r, path)?;
    let problem = required_text(r, &fields.problem, path)?;
    let answer = required_text(r, &fields.answer, path)?;
    if answer.trim().is_empty() {
        return Err(DatasetError::BadField {
            path: path.into(),
            line: r.line,
            field: fields.answer.clone(),
            problem: "is empty".into(),
        });
    }
    let level = match obj.get(&fields.level) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => {
            Some(
                n.as_u64()
                    .filter(|l| *l <= 255)
                    .ok_or_else(|| DatasetError::BadField {
                        path: path.into(),
                        line: r.line,
                        field: fields.level.clone(),
                        problem: format!("is {n}, expected a level between 0 and 255"),
                    })? as u8,
            )
        }
        Some(Value::String(s)) => {
            let digits = s.trim().trim_start_matches("Level").trim();
            if digits == "?" {
                None
            } else {
                Some(digits.parse::<u8>().map_err(|_| DatasetError::BadField {
                    path: path.into(),
                    line: r.line,
                    field: fields.level.clone(),
                    problem: format!("is {s:?}, expected a number or \"Level N\""),
                })?)
            }
        }
        Some(other) => {
            return Err(DatasetError::BadField {
                path: path.into(),
                line: r.line,
                field: fields.level.clone(),
                problem: format!("is {}, expected a number or \"Level N\"", json_type(other)),
            });
        }
    };
    let mut subject = None;
    for key in &fields.subject {
        if let Some(s) = optional_text(obj, key, r, path)? {
            subject = Some(s);
            break;
        }
    }
    Ok(Record {
        problem,
        answer,
        solution: optional_text(obj, &fields.solution, r, path)?,
        level,
        subject,
        unique_id: optional_text(obj, &fields.unique_id, r, path)?,
    })
}

/// The outcome of grading one saved response (the book's `evaluate_json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Graded {
    /// The extracted final answer (empty when there is none).
    pub extracted: String,
    /// Whether it grades correct against the reference.
    pub correct: bool,
}

/// Grades saved model outputs: for every record, extracts the final answer from the
/// `generated_key` field (the book's default fallbacks) and grades it against `gtruth_key`.
pub fn grade_records(
    records: &[RawRecord],
    gtruth_key: &str,
    generated_key: &str,
    grader: &Grader,
    path: &Path,
) -> Result<Vec<Graded>, DatasetError> {
    records
        .iter()
        .map(|r| {
            let gt = required_text(r, gtruth_key, path)?;
            let generated = required_text(r, generated_key, path)?;
            let extracted = extract_final_candidate(&generated, Fallback::NumberThenFullText);
            let correct = grader.is_correct(&extracted, &gt);
            Ok(Graded { extracted, correct })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("data.json")
    }

    #[test]
    fn array_records_know_their_lines() {
        let text = "[\n  {\"problem\": \"a\", \"answer\": \"1\"},\n\n  {\"problem\": \"b\",\n   \"answer\": 2}\n]";
        let rs = parse_json_records(text, p()).unwrap();
        assert_eq!(rs.iter().map(|r| r.line).collect::<Vec<_>>(), vec![2, 4]);
        let recs: Vec<Record> = rs
            .iter()
            .map(|r| to_record(r, &FieldMap::default(), p()).unwrap())
            .collect();
        assert_eq!(recs[1].answer, "2");
    }

    #[test]
    fn records_object_and_json_lines_are_read() {
        let obj = "{\"meta\": {\"records\": 1},\n \"records\": [\n {\"x\": 1},\n {\"x\": 2}]}";
        let rs = parse_json_records(obj, p()).unwrap();
        assert_eq!(rs.iter().map(|r| r.line).collect::<Vec<_>>(), vec![3, 4]);
        let jsonl = "{\"x\": 1}\n\n{\"x\": 2}\n";
        let rs = parse_json_records(jsonl, p()).unwrap();
        assert_eq!(rs.iter().map(|r| r.line).collect::<Vec<_>>(), vec![1, 3]);
    }

    #[test]
    fn malformed_records_name_file_line_and_field() {
        let text =
            "{\"problem\": \"a\", \"answer\": \"1\"}\n{\"problem\": \"b\", \"answer\": [1]}\n";
        let rs = parse_json_records(text, p()).unwrap();
        let err = to_record(&rs[1], &FieldMap::default(), p())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "data.json:2: field \"answer\" is an array, expected a string"
        );
        let err = to_record(&rs[0], &FieldMap::default().answer("gtruth_answer"), p())
            .unwrap_err()
            .to_string();
        assert_eq!(err, "data.json:1: record has no field \"gtruth_answer\"");
        let err = parse_json_records("{\"a\": 1}\n{\"a\": }\n", p())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("data.json:2: invalid JSON"), "{err}");
        let err = parse_json_records("[1, 2", p()).unwrap_err().to_string();
        assert!(err.starts_with("data.json:1:"), "{err}");
        let rs = parse_json_records("[7]", p()).unwrap();
        let err = to_record(&rs[0], &FieldMap::default(), p())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "data.json:1: record is a number, expected a JSON object"
        );
    }

    #[test]
    fn math_training_layout_reads_level_and_type() {
        let text = r#"[{"problem": "p", "level": "Level 5", "type": "Algebra", "answer": "0", "unique_id": 0},
                      {"problem": "q", "level": "Level ?", "answer": "1"}]"#;
        let rs = parse_json_records(text, p()).unwrap();
        let a = to_record(&rs[0], &FieldMap::default(), p()).unwrap();
        assert_eq!(
            (a.level, a.subject.as_deref(), a.unique_id.as_deref()),
            (Some(5), Some("Algebra"), Some("0"))
        );
        assert_eq!(
            to_record(&rs[1], &FieldMap::default(), p()).unwrap().level,
            None
        );
    }
}
