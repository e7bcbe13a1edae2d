//! Steps 3-5 of the chapter-3 pipeline (book sections 3.6-3.7): read both answers and decide
//! whether they agree.
//!
//! ```text
//! prepare   strip chat tokens, a leading choice label ("B: "), a final period
//! text      identical after removing layout (\left, \,, $, spaces, \text{} wrappers)?  -> correct
//! prose     either side prose (a word, \text{..}, unreadable) and equal ignoring case? -> correct
//! math      parse both (crate::parse), evaluate exactly (crate::eval) at one point, or at
//!           three seeded random points when variables occur, compare (crate::compare)
//! ```
//!
//! The random points make polynomial identities exact-but-probabilistic: `(x+1)^2` and
//! `x^2+2x+1` agree at every point, while two different rational functions of degree `d` agree
//! at a random rational point with probability at most `d / (number of candidate points)`
//! (Schwartz-Zippel); three independent points push that far below anything observable. Each
//! variable's values depend only on the grader's seed and the variable's name, so verdicts are
//! deterministic and independent of what else was graded.

use std::fmt;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use serde::Serialize;

use crate::compare::Comparer;
use crate::eval::{Evaluator, Value};
use crate::extract::{Fallback, extract_final_candidate};
use crate::lex::{Tok, Token, lex};
use crate::limits::MAX_MATH_BYTES;
use crate::normalize::{normalize_text, strip_choice_label, strip_special_tokens, text_key};
use crate::number::{Budget, EvalError, Q};
use crate::parse::{Node, RelOp, parse};

/// How a [`Verdict`] was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// One of the answers is empty (no box, an empty box, or an empty reference).
    Empty,
    /// The answers are the same text once layout is removed.
    SameText,
    /// At least one answer is prose, and they are equal ignoring case.
    SameProse,
    /// Both are mathematics and are equivalent.
    Equivalent,
    /// Both are mathematics and are not equivalent.
    Different,
    /// At least one answer could not be evaluated as mathematics, and the texts differ.
    Unreadable,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::Empty => "an answer is empty",
            Reason::SameText => "same text",
            Reason::SameProse => "same prose, ignoring case",
            Reason::Equivalent => "mathematically equivalent",
            Reason::Different => "mathematically different",
            Reason::Unreadable => "not readable as mathematics, and the texts differ",
        })
    }
}

/// How the grader read one answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reading {
    /// The answer as given.
    pub raw: String,
    /// The book's `normalize_text` of the answer (what the book's SymPy grader would parse).
    pub normalized: String,
    /// The parsed answer, printed back (e.g. `(x + 1)^2`); `None` when it did not parse.
    pub parsed: Option<String>,
    /// The exact value in canonical form (e.g. `2*sqrt(2)`, `{-2, 1}`, `[-2, 7)`), when the
    /// answer has no free variables and could be evaluated.
    pub value: Option<String>,
    /// Why there is no parse or no value, when there is none.
    pub note: Option<String>,
}

/// The outcome of grading one answer against a reference, with both readings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Whether the prediction is graded correct.
    pub correct: bool,
    /// Which rule decided.
    pub reason: Reason,
    /// The predicted answer.
    pub pred: Reading,
    /// The reference answer.
    pub gt: Reading,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} ({})",
            if self.correct { "correct" } else { "wrong" },
            self.reason
        )?;
        for (name, r) in [("pred", &self.pred), ("gt", &self.gt)] {
            writeln!(f, "{name}: {}", r.raw)?;
            writeln!(f, "  normalized: {}", r.normalized)?;
            if let Some(p) = &r.parsed {
                writeln!(f, "  parsed:     {p}")?;
            }
            if let Some(v) = &r.value {
                writeln!(f, "  value:      {v}")?;
            }
            if let Some(n) = &r.note {
                writeln!(f, "  note:       {n}")?;
            }
        }
        Ok(())
    }
}

/// One answer, prepared for comparison.
struct Side {
    raw: String,
    /// After [`prepare`].
    text: String,
    /// [`text_key`] of `text`.
    key: String,
    node: Result<Node, String>,
    /// Prose rather than mathematics: compared ignoring case.
    prose: bool,
    /// A single word of letters (`even`, `No`): keyed as text for voting.
    word: bool,
}

/// Strips what is not part of the answer: chat tokens, a leading choice label, a final period.
fn prepare(s: &str) -> String {
    let s = strip_special_tokens(s);
    let s = strip_choice_label(s.trim()).trim();
    s.strip_suffix('.').unwrap_or(s).trim().to_string()
}

impl Side {
    fn new(raw: &str) -> Self {
        let text = prepare(raw);
        let key = text_key(&text);
        let node = if text.len() > MAX_MATH_BYTES {
            Err(format!(
                "longer than {MAX_MATH_BYTES} bytes: compared as text only"
            ))
        } else {
            parse(&text).map_err(|e| e.0)
        };
        let word = key.chars().count() >= 2 && key.chars().all(char::is_alphabetic);
        // A whole-answer \text{...} is prose even when its content parses (`\text{(C)}`).
        let wrapped = text.len() <= MAX_MATH_BYTES
            && matches!(
                lex(&text).as_deref(),
                Ok([Token {
                    tok: Tok::Text(_),
                    ..
                }])
            );
        let readable = matches!(node, Ok(ref n) if !matches!(n, Node::Text(_)));
        let prose = word || wrapped || !readable;
        Side {
            raw: raw.to_string(),
            text,
            key,
            node,
            prose,
            word,
        }
    }

    fn vars(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Ok(n) = &self.node {
            n.collect_vars(&mut v);
        }
        v
    }
}

/// Grades answers: the book's `grade_answer` with exact equivalence (see the module docs).
///
/// A grader is a seed; grading is a pure function of the two answers and the seed.
///
/// ```
/// use reasoning_verifier::Grader;
/// let g = Grader::default();
/// assert!(g.is_correct("(x+1)^2", "x^2+2x+1"));
/// assert!(!g.is_correct("(x+1)^2", "x^2+1"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grader {
    seed: u64,
}

impl Default for Grader {
    fn default() -> Self {
        Grader {
            seed: Grader::DEFAULT_SEED,
        }
    }
}

/// An assignment of exact rational values to variables.
type Point = Vec<(String, Q)>;

/// Number of random points at which answers with variables are compared.
const POINTS: u64 = 3;

impl Grader {
    /// The seed of [`Grader::default`], used by [`grade_answer`] and [`answer_key`].
    pub const DEFAULT_SEED: u64 = 0x5EED_C403;

    /// A grader whose random evaluation points derive from `seed`.
    pub fn new(seed: u64) -> Self {
        Grader { seed }
    }

    /// The value of variable `name` at point `k`: a rational `n/d` with `1 <= n <= 1000` and
    /// `1 <= d <= 50`, drawn from a ChaCha8 stream keyed by the seed, the name and `k`.
    fn point_value(&self, name: &str, k: u64) -> Q {
        // FNV-1a of the name keeps each variable's values independent of the others.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        let mut rng =
            ChaCha8Rng::seed_from_u64(self.seed ^ h ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let n = 1 + rng.next_u64() % 1000;
        let d = 1 + rng.next_u64() % 50;
        Q::new((n as i64).into(), (d as i64).into())
    }

    /// The evaluation points and, separately, the reference point at which relations are
    /// normalised (it must not be an evaluation point: there every relation normalises to 1).
    fn points(&self, vars: &[String]) -> (Vec<Point>, Point) {
        let at = |k: u64| {
            vars.iter()
                .map(|v| (v.clone(), self.point_value(v, k)))
                .collect::<Vec<_>>()
        };
        if vars.is_empty() {
            return (vec![Vec::new()], Vec::new());
        }
        ((0..POINTS).map(at).collect(), at(POINTS))
    }

    /// Returns whether `pred` is a correct answer for the reference `gt` (book section 3.7,
    /// `grade_answer`). Both are extracted answers, not whole responses.
    pub fn is_correct(&self, pred: &str, gt: &str) -> bool {
        let (p, g) = (Side::new(pred), Side::new(gt));
        self.decide(&p, &g).0
    }

    /// Grades `pred` against `gt` and explains the decision (see [`Verdict`]).
    pub fn grade(&self, pred: &str, gt: &str) -> Verdict {
        let (p, g) = (Side::new(pred), Side::new(gt));
        let (correct, reason, note) = self.decide(&p, &g);
        let mut pr = self.reading(&p);
        let mut gr = self.reading(&g);
        if let Some(n) = note {
            for r in [&mut pr, &mut gr] {
                if r.note.is_none() && r.value.is_none() && r.parsed.is_some() {
                    r.note = Some(n.clone());
                }
            }
        }
        Verdict {
            correct,
            reason,
            pred: pr,
            gt: gr,
        }
    }

    fn reading(&self, s: &Side) -> Reading {
        let normalized = if s.raw.len() <= 4 * MAX_MATH_BYTES {
            normalize_text(&s.raw)
        } else {
            format!("({} bytes, not shown)", s.raw.len())
        };
        let (parsed, value, note) = match &s.node {
            Err(e) => (None, None, Some(e.clone())),
            Ok(n) => {
                let parsed = Some(n.to_string());
                if s.vars().is_empty() {
                    let mut budget = Budget::new();
                    match (Evaluator {
                        vars: &[],
                        reference: &[],
                        budget: &mut budget,
                    })
                    .eval(n)
                    {
                        Ok(v) => (parsed, Some(v.to_string()), None),
                        Err(e) => (parsed, None, Some(e.to_string())),
                    }
                } else {
                    (
                        parsed,
                        None,
                        Some("has variables: compared at random points".to_string()),
                    )
                }
            }
        };
        Reading {
            raw: s.raw.clone(),
            normalized,
            parsed,
            value,
            note,
        }
    }

    /// The decision procedure of the module docs.
    fn decide(&self, p: &Side, g: &Side) -> (bool, Reason, Option<String>) {
        if p.text.is_empty() || g.text.is_empty() {
            return (false, Reason::Empty, None);
        }
        if p.key == g.key {
            return (true, Reason::SameText, None);
        }
        if (p.prose || g.prose) && p.key.to_lowercase() == g.key.to_lowercase() {
            return (true, Reason::SameProse, None);
        }
        let (Ok(pn), Ok(gn)) = (&p.node, &g.node) else {
            return (false, Reason::Unreadable, None);
        };
        let mut vars = p.vars();
        for v in g.vars() {
            if !vars.contains(&v) {
                vars.push(v);
            }
        }
        vars.sort();
        match self.equivalent(pn, gn, &vars) {
            Ok(true) => (true, Reason::Equivalent, None),
            Ok(false) => (false, Reason::Different, None),
            Err(e) => (false, Reason::Unreadable, Some(e.to_string())),
        }
    }

    fn equivalent(&self, a: &Node, b: &Node, vars: &[String]) -> Result<bool, EvalError> {
        let mut budget = Budget::new();
        let (points, reference) = self.points(vars);
        for point in &points {
            let va = Evaluator {
                vars: point,
                reference: &reference,
                budget: &mut budget,
            }
            .eval(a)?;
            let vb = Evaluator {
                vars: point,
                reference: &reference,
                budget: &mut budget,
            }
            .eval(b)?;
            if !(Comparer {
                budget: &mut budget,
            })
            .eq(&va, &vb)?
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Returns a key such that equivalent answers usually share it: the canonical exact value
    /// (sets sorted, `x = 3` read as `3`), or for answers with variables their values at the
    /// grader's points, or for prose the lower-cased text. Self-consistency voting (book
    /// section 4.6) counts votes per key, so `1/2`, `0.5` and `\frac{1}{2}` vote together.
    ///
    /// Keys never merge answers the grader tells apart; a few equivalent forms (a tuple and the
    /// same interval, a numeral and its digits) keep separate keys.
    pub fn answer_key(&self, answer: &str) -> String {
        let s = Side::new(answer);
        let text_fallback = || format!("text:{}", s.key.to_lowercase());
        let node = match &s.node {
            Ok(n) if !s.word && !matches!(n, Node::Text(_)) => n,
            _ => return text_fallback(),
        };
        let mut vars = s.vars();
        vars.sort();
        let mut budget = Budget::new();
        let mut parts = Vec::new();
        let (points, reference) = self.points(&vars);
        for point in &points {
            match (Evaluator {
                vars: point,
                reference: &reference,
                budget: &mut budget,
            })
            .eval(node)
            {
                Ok(v) => parts.push(value_key(&v)),
                Err(_) => return text_fallback(),
            }
        }
        // A value that does not depend on the variables (x = 3, x - x) keys as that value.
        if parts.iter().all(|p| *p == parts[0]) {
            return parts.swap_remove(0);
        }
        format!("fn({}):{}", vars.join(","), parts.join(" | "))
    }
}

/// The voting key of a value: its display with sets sorted and singletons unwrapped.
fn value_key(v: &Value) -> String {
    match v {
        Value::Set { items, .. } => {
            let mut keys: Vec<String> = items.iter().map(value_key).collect();
            keys.sort();
            keys.dedup();
            if keys.len() == 1 {
                keys.pop().unwrap_or_default()
            } else {
                format!("{{{}}}", keys.join(", "))
            }
        }
        Value::Relation {
            sides,
            ops,
            var_side: Some(k),
            ..
        } if ops.as_slice() == [RelOp::Eq] => value_key(&sides[1 - k]),
        Value::Tuple { open, close, items } => {
            let inner: Vec<String> = items.iter().map(value_key).collect();
            let shown = Value::Tuple {
                open: *open,
                close: *close,
                items: Vec::new(),
            }
            .to_string();
            let (o, c) = shown.split_at(1);
            format!("{o}{}{c}", inner.join(", "))
        }
        Value::Text(t) => format!("text:{}", text_key(t).to_lowercase()),
        Value::Scalar(_)
        | Value::Infinity { .. }
        | Value::Based { .. }
        | Value::Matrix(_)
        | Value::Intervals(_)
        | Value::Relation { .. } => v.to_string(),
    }
}

/// Returns whether `pred` is a correct answer for `gt`, with the default [`Grader`] (the book's
/// `grade_answer`).
///
/// ```
/// use reasoning_verifier::grade_answer;
/// assert!(grade_answer("0.5", r"\frac{1}{2}"));
/// assert!(grade_answer(r"2\sqrt{2}", r"\sqrt{8}"));
/// assert!(grade_answer("-2, 1", "1,-2"));
/// assert!(!grade_answer("0.333", "1/3"));
/// assert!(!grade_answer("(2, 1)", "(1, 2)"));
/// ```
pub fn grade_answer(pred: &str, gt: &str) -> bool {
    Grader::default().is_correct(pred, gt)
}

/// Grades `pred` against `gt` with the default [`Grader`] and explains the decision.
pub fn grade(pred: &str, gt: &str) -> Verdict {
    Grader::default().grade(pred, gt)
}

/// Returns the voting key of an extracted answer with the default [`Grader`]
/// (see [`Grader::answer_key`]).
///
/// ```
/// use reasoning_verifier::answer_key;
/// assert_eq!(answer_key("0.5"), answer_key(r"\dfrac12"));
/// assert_eq!(answer_key("1, -2"), answer_key(r"\{-2, 1\}"));
/// assert_ne!(answer_key("1/3"), answer_key("0.333"));
/// ```
pub fn answer_key(answer: &str) -> String {
    Grader::default().answer_key(answer)
}

/// Returns whether `s` is written as one number: optional sign, digits (thousands separators
/// allowed), optional decimal part, after [`normalize_text`].
///
/// ```
/// use reasoning_verifier::grade::is_single_number;
/// assert!(is_single_number("-1,250.5"));
/// assert!(!is_single_number(r"4 \cdot 10"));
/// assert!(!is_single_number(r"\frac{80}{2}"));
/// ```
pub fn is_single_number(s: &str) -> bool {
    let n = normalize_text(s);
    let body = n.strip_prefix(['-', '+']).unwrap_or(&n);
    let body: String = body.chars().filter(|c| !matches!(c, ',' | ' ')).collect();
    let mut parts = body.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next();
    let digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
    !int.is_empty() && digits(int) && frac.is_none_or(|f| !f.is_empty() && digits(f))
}

/// [`grade_answer`] for final answers: when the reference is a single number (see
/// [`is_single_number`]), the prediction must be written as a single number too.
///
/// `grade_answer` evaluates expressions exactly, so it accepts `4 * 10` for `40`, as the book's
/// SymPy grader does. As a reward that is a loophole: a policy trained with it learns to box
/// the problem's own expression (measured: SmolLM2-135M under GRPO went from 28% to "98%" in 30
/// steps by answering `\boxed{4 * 10}`; docs/grpo.md). This grader closes it; answers
/// whose reference is not a plain number (fractions, radicals, sets, ...) are graded as by
/// `grade_answer`.
///
/// ```
/// use reasoning_verifier::{grade_answer, grade_answer_evaluated};
/// assert!(grade_answer("4 * 10", "40"));
/// assert!(!grade_answer_evaluated("4 * 10", "40"));
/// assert!(grade_answer_evaluated("40.0", "40"));
/// assert!(grade_answer_evaluated("0.5", r"\frac{1}{2}"));
/// ```
pub fn grade_answer_evaluated(pred: &str, gt: &str) -> bool {
    if is_single_number(gt) && !is_single_number(pred) {
        return false;
    }
    grade_answer(pred, gt)
}

/// The book's RLVR reward (section 6.6, `reward_rlvr`): 1.0 when the response contains a
/// non-empty `\boxed{...}` whose content grades correct against `ground_truth`, else 0.0.
/// No fallback extraction: an answer without a box earns nothing.
///
/// ```
/// use reasoning_verifier::reward_rlvr;
/// assert_eq!(reward_rlvr(r"... so \boxed{\frac{2}{3}}", "2/3"), 1.0);
/// assert_eq!(reward_rlvr("... so the answer is 2/3", "2/3"), 0.0);
/// ```
pub fn reward_rlvr(answer_text: &str, ground_truth: &str) -> f64 {
    let extracted = extract_final_candidate(answer_text, Fallback::None);
    if extracted.is_empty() {
        return 0.0;
    }
    if grade_answer(&extracted, ground_truth) {
        1.0
    } else {
        0.0
    }
}
