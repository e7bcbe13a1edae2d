//! A verifiable task family: multi-step integer arithmetic with step-by-step solutions.
//!
//! Real reasoning datasets (MATH, GSM8K) are far beyond a model small enough to train on a
//! 2-core CPU in minutes. This module generates a task family with the same shape, a problem,
//! a worked solution and a single checkable answer, but sized for a tiny model: integer
//! expressions with at most four operations whose every intermediate result stays in
//! `1..=99`, each solved one operation per line.
//!
//! ```text
//! problem:  What is (13 + 20) * 3?
//! steps:    13 + 20 = 33
//!           33 * 3 = 99
//! answer:   99                   written \boxed{99} by the model
//! ```
//!
//! # Difficulty levels
//!
//! | level | operations | form |
//! |---|---|---|
//! | 1 | 1 | `a + b`, `a - b`, `a * k`, `a / k` |
//! | 2 | 2 | no parentheses: `a + b * k` |
//! | 3 | 2 | with parentheses: `(a - b) * k`, `a - (b + c)` |
//! | 4 | 3 | any shape, parentheses where the tree needs them |
//! | 5 | 2-3 | word problems: a story about one quantity changing step by step |
//!
//! Numbers: leaves are `1..=12` (word problems start from `10..=40`); one factor of every product and every divisor is a single
//! digit `2..=9`; divisions are exact; subtractions stay positive; every intermediate value is
//! at most [`MAX_VALUE`]. The solution lists the operations in evaluation order (left subtree
//! first), each as `left op right = value`.
//!
//! # Splits
//!
//! [`make_splits`] draws test, validation and train problems from one seeded stream and
//! deduplicates them on the *normalised expression* ([`Expr::canonical`]: fully
//! parenthesised, with the operands of `+` and `*` sorted), so no two splits share a problem,
//! not even as `b + a` versus `a + b` or as a word problem versus a bare expression. Records
//! use the MATH-500 field layout ([`ArithRecord`]).

use std::collections::HashSet;
use std::fmt;

use rand::RngExt;
use rand::seq::IndexedRandom;
use serde::{Deserialize, Serialize};

use crate::ArithError;

/// The largest value any leaf, intermediate result or answer may take.
pub const MAX_VALUE: i64 = 99;

/// The number of difficulty levels (numbered `1..=NUM_LEVELS`).
pub const NUM_LEVELS: usize = 5;

/// One of the four integer operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Addition.
    Add,
    /// Subtraction (the result stays positive).
    Sub,
    /// Multiplication (one factor is a single digit).
    Mul,
    /// Exact division by a single digit.
    Div,
}

impl Op {
    /// Returns the ASCII symbol used in problems and solution steps.
    pub fn symbol(self) -> char {
        match self {
            Op::Add => '+',
            Op::Sub => '-',
            Op::Mul => '*',
            Op::Div => '/',
        }
    }

    /// Returns the binding strength: 1 for `+ -`, 2 for `* /`.
    fn precedence(self) -> u8 {
        match self {
            Op::Add | Op::Sub => 1,
            Op::Mul | Op::Div => 2,
        }
    }

    /// Applies the operation, or `None` when the result leaves the task's bounds (negative or
    /// zero difference, inexact division, value above [`MAX_VALUE`]).
    fn apply(self, a: i64, b: i64) -> Option<i64> {
        let v = match self {
            Op::Add => a + b,
            Op::Sub if a > b => a - b,
            Op::Mul => a * b,
            Op::Div if b > 1 && a % b == 0 => a / b,
            _ => return None,
        };
        (1..=MAX_VALUE).contains(&v).then_some(v)
    }
}

/// An integer expression tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A literal number.
    Num(i64),
    /// `left op right`, with its value cached.
    Bin {
        /// The operation.
        op: Op,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
        /// The value of the whole node.
        value: i64,
    },
}

impl Expr {
    /// Builds `left op right`, or `None` when the result leaves the task's bounds.
    pub fn bin(op: Op, left: Expr, right: Expr) -> Option<Expr> {
        let value = op.apply(left.value(), right.value())?;
        Some(Expr::Bin {
            op,
            left: Box::new(left),
            right: Box::new(right),
            value,
        })
    }

    /// Returns the value of the expression.
    pub fn value(&self) -> i64 {
        match self {
            Expr::Num(n) => *n,
            Expr::Bin { value, .. } => *value,
        }
    }

    /// Returns the number of operations in the tree.
    pub fn num_ops(&self) -> usize {
        match self {
            Expr::Num(_) => 0,
            Expr::Bin { left, right, .. } => 1 + left.num_ops() + right.num_ops(),
        }
    }

    /// Returns the solution steps in evaluation order (left subtree first), one per operation.
    pub fn steps(&self) -> Vec<Step> {
        let mut steps = Vec::with_capacity(self.num_ops());
        self.push_steps(&mut steps);
        steps
    }

    fn push_steps(&self, steps: &mut Vec<Step>) {
        if let Expr::Bin {
            op,
            left,
            right,
            value,
        } = self
        {
            left.push_steps(steps);
            right.push_steps(steps);
            steps.push(Step {
                left: left.value(),
                op: *op,
                right: right.value(),
                value: *value,
            });
        }
    }

    /// Returns the normalised form used to deduplicate problems: fully parenthesised, no
    /// spaces, with the operands of the commutative `+` and `*` in sorted order.
    pub fn canonical(&self) -> String {
        match self {
            Expr::Num(n) => n.to_string(),
            Expr::Bin {
                op, left, right, ..
            } => {
                let (mut a, mut b) = (left.canonical(), right.canonical());
                if matches!(op, Op::Add | Op::Mul) && b < a {
                    std::mem::swap(&mut a, &mut b);
                }
                format!("({a}{}{b})", op.symbol())
            }
        }
    }

    /// Returns true when [`Display`](fmt::Display) writes at least one pair of parentheses.
    pub fn has_parentheses(&self) -> bool {
        self.to_string().contains('(')
    }

    fn fmt_child(&self, f: &mut fmt::Formatter<'_>, parent: Op, is_right: bool) -> fmt::Result {
        let needs = match self {
            Expr::Num(_) => false,
            // A left child needs parentheses only when it binds more loosely; a right child
            // also when it binds equally, so the text always reads left to right the way the
            // tree evaluates (`a - (b - c)`, and `a + (b + c)` too).
            Expr::Bin { op, .. } => {
                op.precedence() < parent.precedence()
                    || (is_right && op.precedence() == parent.precedence())
            }
        };
        if needs {
            write!(f, "({self})")
        } else {
            write!(f, "{self}")
        }
    }
}

impl fmt::Display for Expr {
    /// Writes the expression with spaces around operators and the fewest parentheses that
    /// keep the left-to-right, precedence-respecting reading equal to the tree.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Num(n) => write!(f, "{n}"),
            Expr::Bin {
                op, left, right, ..
            } => {
                left.fmt_child(f, *op, false)?;
                write!(f, " {} ", op.symbol())?;
                right.fmt_child(f, *op, true)
            }
        }
    }
}

/// One line of a worked solution: `left op right = value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Left operand.
    pub left: i64,
    /// The operation.
    pub op: Op,
    /// Right operand.
    pub right: i64,
    /// The result.
    pub value: i64,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} = {}",
            self.left,
            self.op.symbol(),
            self.right,
            self.value
        )
    }
}

/// A generated problem: its text, its expression tree and its level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArithProblem {
    /// The problem statement shown to the model.
    pub problem: String,
    /// The expression the statement describes.
    pub expr: Expr,
    /// Difficulty level, `1..=NUM_LEVELS`.
    pub level: u8,
    /// True for word problems (level 5).
    pub word_problem: bool,
}

impl ArithProblem {
    /// Returns the final answer.
    pub fn answer(&self) -> i64 {
        self.expr.value()
    }

    /// Returns the worked solution steps, one operation per line.
    pub fn steps(&self) -> Vec<Step> {
        self.expr.steps()
    }

    /// Returns the record in MATH-500 layout; `unique_id` is `arith/<split>/<index>`.
    pub fn to_record(&self, split: &str, index: usize) -> ArithRecord {
        let steps: Vec<String> = self.steps().iter().map(Step::to_string).collect();
        ArithRecord {
            problem: self.problem.clone(),
            solution: format!("{}\n\\boxed{{{}}}", steps.join("\n"), self.answer()),
            answer: self.answer().to_string(),
            subject: if self.word_problem {
                "Word Problems"
            } else {
                "Arithmetic"
            }
            .to_string(),
            level: self.level,
            unique_id: format!("arith/{split}/{index:05}"),
        }
    }
}

/// One dataset row in the MATH-500 field layout (`problem`, `solution`, `answer`, `subject`,
/// `level`, `unique_id`).
///
/// `solution` holds the steps, one per line, and a last line `\boxed{answer}`, so
/// [`ArithRecord::steps`] recovers the reasoning without the answer line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArithRecord {
    /// The problem statement.
    pub problem: String,
    /// The worked solution: steps, then `\boxed{answer}`.
    pub solution: String,
    /// The final answer as a string, as in MATH-500.
    pub answer: String,
    /// `Arithmetic` or `Word Problems`.
    pub subject: String,
    /// Difficulty level, `1..=NUM_LEVELS`.
    pub level: u8,
    /// `arith/<split>/<index>`.
    pub unique_id: String,
}

impl ArithRecord {
    /// Returns the solution's step lines, without the final `\boxed{}` line.
    pub fn steps(&self) -> Vec<&str> {
        self.solution
            .lines()
            .filter(|l| !l.trim_start().starts_with("\\boxed"))
            .collect()
    }
}

/// How many problems of each split to make, and the level mix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitConfig {
    /// Seed of the one random stream all splits are drawn from.
    pub seed: u64,
    /// Number of training problems.
    pub n_train: usize,
    /// Number of validation problems (held out; for validation loss).
    pub n_val: usize,
    /// Number of test problems (held out; the default evaluation set).
    pub n_test: usize,
    /// Relative weight of levels `1..=NUM_LEVELS`.
    pub level_weights: [f64; NUM_LEVELS],
}

impl Default for SplitConfig {
    /// The configuration that made the committed `datasets/arith/` files.
    fn default() -> Self {
        Self {
            seed: 1234,
            n_train: 20_000,
            n_val: 200,
            n_test: 500,
            level_weights: [0.15, 0.2, 0.2, 0.2, 0.25],
        }
    }
}

/// The three disjoint splits.
#[derive(Debug, Clone)]
pub struct Splits {
    /// Training problems.
    pub train: Vec<ArithProblem>,
    /// Validation problems.
    pub val: Vec<ArithProblem>,
    /// Test problems.
    pub test: Vec<ArithProblem>,
}

/// Generates one problem of `level`.
///
/// Deterministic given the state of `rng`.
pub fn generate_problem(level: u8, rng: &mut impl rand::Rng) -> Result<ArithProblem, ArithError> {
    let (expr, problem, word_problem) = match level {
        1 => bare(rng, 1, None),
        2 => bare(rng, 2, Some(false)),
        3 => bare(rng, 2, Some(true)),
        4 => bare(rng, 3, None),
        5 => word(rng),
        _ => return Err(ArithError::BadLevel(level)),
    };
    Ok(ArithProblem {
        problem,
        expr,
        level,
        word_problem,
    })
}

/// Draws the test, validation and train splits (in that order) from one stream seeded with
/// `config.seed`, deduplicated on [`Expr::canonical`] across and within splits.
pub fn make_splits(config: &SplitConfig) -> Result<Splits, ArithError> {
    let w = config.level_weights;
    if w.iter().any(|x| !x.is_finite() || *x < 0.0) || w.iter().sum::<f64>() <= 0.0 {
        return Err(ArithError::BadWeights(w));
    }
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(config.seed);
    let mut seen = HashSet::new();
    let test = fill(&mut rng, &mut seen, &w, config.n_test, "test")?;
    let val = fill(&mut rng, &mut seen, &w, config.n_val, "val")?;
    let train = fill(&mut rng, &mut seen, &w, config.n_train, "train")?;
    Ok(Splits { train, val, test })
}

/// Writes records as JSON Lines (one object per line, `\n` endings).
pub fn to_jsonl(records: &[ArithRecord]) -> String {
    let mut out = String::new();
    for r in records {
        // Serialising a struct of strings and integers cannot fail.
        out.push_str(&serde_json::to_string(r).expect("ArithRecord serialises"));
        out.push('\n');
    }
    out
}

/// Reads records written by [`to_jsonl`]; errors name the file and the line.
pub fn read_jsonl(path: &std::path::Path) -> Result<Vec<ArithRecord>, ArithError> {
    let text = std::fs::read_to_string(path).map_err(|e| ArithError::io("read", path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map_err(|e| ArithError::Data(format!("{} line {}: {e}", path.display(), i + 1)))
        })
        .collect()
}

/// Returns the records of a split, numbered from 0.
pub fn records(problems: &[ArithProblem], split: &str) -> Vec<ArithRecord> {
    problems
        .iter()
        .enumerate()
        .map(|(i, p)| p.to_record(split, i))
        .collect()
}

fn fill(
    rng: &mut impl rand::Rng,
    seen: &mut HashSet<String>,
    weights: &[f64; NUM_LEVELS],
    wanted: usize,
    split: &'static str,
) -> Result<Vec<ArithProblem>, ArithError> {
    let mut out = Vec::with_capacity(wanted);
    let total: f64 = weights.iter().sum();
    // Duplicates become common only when the request nears the size of the task space; give
    // up after many consecutive misses instead of looping forever.
    let mut misses = 0usize;
    while out.len() < wanted {
        let level = pick_level(rng, weights, total);
        let p = generate_problem(level, rng)?;
        if seen.insert(p.expr.canonical()) {
            out.push(p);
            misses = 0;
        } else {
            misses += 1;
            if misses > 10_000 {
                return Err(ArithError::TooFewProblems {
                    split,
                    made: out.len(),
                    wanted,
                });
            }
        }
    }
    Ok(out)
}

fn pick_level(rng: &mut impl rand::Rng, weights: &[f64; NUM_LEVELS], total: f64) -> u8 {
    let mut x = rng.random_range(0.0..total);
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i as u8 + 1;
        }
        x -= w;
    }
    // Rounding can leave `x` a hair above the last bucket: take the last non-zero level.
    weights
        .iter()
        .rposition(|w| *w > 0.0)
        .map_or(1, |i| i as u8 + 1)
}

/// Phrasings of a bare-expression problem; `{}` is the expression.
const BARE_TEMPLATES: [&str; 5] = [
    "What is {}?",
    "Compute {}.",
    "Calculate {}.",
    "Evaluate {}.",
    "Find the value of {}.",
];

/// A bare expression with `n_ops` operations; `parens` forces its text to have (or lack)
/// parentheses.
fn bare(rng: &mut impl rand::Rng, n_ops: usize, parens: Option<bool>) -> (Expr, String, bool) {
    loop {
        let Some(e) = tree(rng, n_ops) else { continue };
        if parens.is_some_and(|p| p != e.has_parentheses()) {
            continue;
        }
        let template = BARE_TEMPLATES.choose(rng).expect("templates are not empty");
        let text = template.replace("{}", &e.to_string());
        return (e, text, false);
    }
}

fn leaf(rng: &mut impl rand::Rng) -> Expr {
    Expr::Num(rng.random_range(1..=12))
}

fn digit(rng: &mut impl rand::Rng) -> i64 {
    rng.random_range(2..=9)
}

/// A random tree with `n` operations whose values stay in bounds, or `None` to retry.
fn tree(rng: &mut impl rand::Rng, n: usize) -> Option<Expr> {
    if n == 0 {
        return Some(leaf(rng));
    }
    // Step 1: pick the operation (addition and subtraction are the most common).
    let op = match rng.random_range(0..20) {
        0..=6 => Op::Add,
        7..=12 => Op::Sub,
        13..=16 => Op::Mul,
        _ => Op::Div,
    };
    // Step 2: build the children under the operation's constraints.
    match op {
        Op::Add | Op::Sub => {
            let n_left = rng.random_range(0..n);
            let left = tree(rng, n_left)?;
            let right = tree(rng, n - 1 - n_left)?;
            Expr::bin(op, left, right)
        }
        Op::Mul => {
            let k = Expr::Num(digit(rng));
            let other = tree(rng, n - 1)?;
            if rng.random_bool(0.5) {
                Expr::bin(op, other, k)
            } else {
                Expr::bin(op, k, other)
            }
        }
        Op::Div => {
            let left = tree(rng, n - 1)?;
            let v = left.value();
            let divisors: Vec<i64> = (2..=9).filter(|k| v % k == 0 && v / k >= 2).collect();
            let k = *divisors.choose(rng)?;
            Expr::bin(op, left, Expr::Num(k))
        }
    }
}

const NAMES: [&str; 16] = [
    "Ana", "Ben", "Carla", "Dev", "Emma", "Felix", "Gina", "Hugo", "Iris", "Jon", "Kim", "Liam",
    "Mia", "Noah", "Omar", "Priya",
];
const ITEMS: [&str; 10] = [
    "apples", "marbles", "stickers", "coins", "books", "pencils", "cards", "shells", "stamps",
    "cookies",
];

/// A word problem: one quantity that starts at a number (or a product) and changes 1-3 times.
fn word(rng: &mut impl rand::Rng) -> (Expr, String, bool) {
    'retry: loop {
        let name = *NAMES.choose(rng).expect("names are not empty");
        let items = *ITEMS.choose(rng).expect("items are not empty");
        let n_ops = rng.random_range(2..=3);
        // Step 1: the starting amount, either a count or bags times items per bag.
        let (mut e, mut text, mut ops) = if rng.random_bool(0.3) {
            let (bags, each) = (digit(rng), rng.random_range(2..=12));
            let Some(e) = Expr::bin(Op::Mul, Expr::Num(bags), Expr::Num(each)) else {
                continue 'retry;
            };
            (
                e,
                format!("{name} has {bags} bags with {each} {items} in each."),
                1,
            )
        } else {
            let start = rng.random_range(10..=40);
            (Expr::Num(start), format!("{name} has {start} {items}."), 0)
        };
        // Step 2: each event changes the running amount by one operation.
        while ops < n_ops {
            let x = e.value();
            let (op, k, sentence) = match rng.random_range(0..10) {
                0..=3 => {
                    let b = rng.random_range(1..=12);
                    let s = match rng.random_range(0..3) {
                        0 => format!(" {name} buys {b} more."),
                        1 => format!(" {name} finds {b} more."),
                        _ => format!(" A friend gives {name} {b} more."),
                    };
                    (Op::Add, b, s)
                }
                4..=6 => {
                    if x < 2 {
                        continue 'retry;
                    }
                    let b = rng.random_range(1..x.min(12 + 1));
                    let s = match rng.random_range(0..3) {
                        0 => format!(" {name} gives away {b}."),
                        1 => format!(" {name} loses {b} of them."),
                        _ => format!(" {name} uses {b} of them."),
                    };
                    (Op::Sub, b, s)
                }
                7..=8 => {
                    let k = digit(rng);
                    (
                        Op::Mul,
                        k,
                        format!(" Then the pile grows to {k} times its size."),
                    )
                }
                _ => {
                    let ks: Vec<i64> = (2..=9).filter(|k| x % k == 0 && x / k >= 2).collect();
                    let Some(&k) = ks.choose(rng) else { continue };
                    let s =
                        format!(" {name} splits them equally into {k} groups and keeps one group.");
                    (Op::Div, k, s)
                }
            };
            let Some(next) = Expr::bin(op, e, Expr::Num(k)) else {
                continue 'retry;
            };
            e = next;
            text.push_str(&sentence);
            ops += 1;
        }
        text.push_str(&format!(" How many {items} does {name} have now?"));
        return (e, text, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn num(n: i64) -> Expr {
        Expr::Num(n)
    }

    #[test]
    fn steps_follow_evaluation_order_with_one_operation_per_line() {
        let sum = Expr::bin(Op::Add, num(13), num(20)).unwrap();
        let e = Expr::bin(Op::Mul, sum, num(3)).unwrap();
        let lines: Vec<String> = e.steps().iter().map(Step::to_string).collect();
        assert_eq!(lines, ["13 + 20 = 33", "33 * 3 = 99"]);
        assert_eq!(e.to_string(), "(13 + 20) * 3");
        assert_eq!(e.value(), 99);
    }

    #[test]
    fn display_adds_parentheses_only_where_the_tree_needs_them() {
        let prod = Expr::bin(Op::Mul, num(7), num(3)).unwrap();
        assert_eq!(
            Expr::bin(Op::Add, num(12), prod.clone())
                .unwrap()
                .to_string(),
            "12 + 7 * 3"
        );
        let diff = Expr::bin(Op::Sub, num(9), num(4)).unwrap();
        assert_eq!(
            Expr::bin(Op::Sub, num(50), diff.clone())
                .unwrap()
                .to_string(),
            "50 - (9 - 4)"
        );
        assert_eq!(
            Expr::bin(Op::Sub, diff, num(2)).unwrap().to_string(),
            "9 - 4 - 2"
        );
    }

    #[test]
    fn operations_outside_the_bounds_are_refused() {
        assert!(
            Expr::bin(Op::Sub, num(3), num(3)).is_none(),
            "zero difference"
        );
        assert!(
            Expr::bin(Op::Sub, num(3), num(5)).is_none(),
            "negative difference"
        );
        assert!(
            Expr::bin(Op::Div, num(7), num(2)).is_none(),
            "inexact division"
        );
        assert!(
            Expr::bin(Op::Mul, num(500), num(2)).is_none(),
            "value above MAX_VALUE"
        );
    }

    #[test]
    fn canonical_form_ignores_operand_order_of_commutative_operations() {
        let a = Expr::bin(Op::Add, num(2), num(10)).unwrap();
        let b = Expr::bin(Op::Add, num(10), num(2)).unwrap();
        assert_eq!(a.canonical(), b.canonical());
        let c = Expr::bin(Op::Sub, num(10), num(2)).unwrap();
        assert_ne!(a.canonical(), c.canonical());
    }

    #[test]
    fn every_level_keeps_values_in_bounds_and_steps_consistent() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for level in 1..=NUM_LEVELS as u8 {
            for _ in 0..300 {
                let p = generate_problem(level, &mut rng).unwrap();
                let steps = p.steps();
                assert_eq!(steps.len(), p.expr.num_ops());
                for s in &steps {
                    assert!((1..=MAX_VALUE).contains(&s.value), "{s} in {}", p.problem);
                    assert_eq!(s.op.apply(s.left, s.right), Some(s.value));
                    if matches!(s.op, Op::Mul) {
                        assert!(s.left <= 9 || s.right <= 9, "{s}: one factor is a digit");
                    }
                }
                assert_eq!(steps.last().unwrap().value, p.answer());
                match level {
                    1 => assert_eq!(steps.len(), 1),
                    2 => assert!(steps.len() == 2 && !p.expr.has_parentheses()),
                    3 => assert!(steps.len() == 2 && p.expr.has_parentheses()),
                    4 => assert_eq!(steps.len(), 3),
                    _ => assert!(p.word_problem && (2..=3).contains(&steps.len())),
                }
            }
        }
    }

    #[test]
    fn bare_problem_text_contains_its_expression() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for level in 1..=4 {
            let p = generate_problem(level, &mut rng).unwrap();
            assert!(p.problem.contains(&p.expr.to_string()), "{}", p.problem);
        }
    }

    #[test]
    fn unknown_level_is_an_error_naming_it() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let err = generate_problem(9, &mut rng).unwrap_err();
        assert!(err.to_string().contains("level 9"), "{err}");
    }

    #[test]
    fn splits_are_deterministic_and_disjoint() {
        let config = SplitConfig {
            n_train: 2000,
            n_val: 100,
            n_test: 300,
            ..Default::default()
        };
        let a = make_splits(&config).unwrap();
        let b = make_splits(&config).unwrap();
        assert_eq!(a.train, b.train);
        assert_eq!(a.test, b.test);
        let key = |p: &ArithProblem| p.expr.canonical();
        let test: HashSet<String> = a.test.iter().map(key).collect();
        let val: HashSet<String> = a.val.iter().map(key).collect();
        let train: HashSet<String> = a.train.iter().map(key).collect();
        assert_eq!(
            (test.len(), val.len(), train.len()),
            (300, 100, 2000),
            "no duplicates"
        );
        assert!(test.is_disjoint(&train) && test.is_disjoint(&val) && val.is_disjoint(&train));
        let other = make_splits(&SplitConfig { seed: 99, ..config }).unwrap();
        assert_ne!(other.test, a.test, "the seed changes the problems");
    }

    #[test]
    fn bad_level_weights_are_refused() {
        let config = SplitConfig {
            level_weights: [0.0; NUM_LEVELS],
            ..Default::default()
        };
        assert!(matches!(
            make_splits(&config),
            Err(ArithError::BadWeights(_))
        ));
    }

    #[test]
    fn an_impossible_split_size_is_an_error_not_a_hang() {
        // Only level 1 with weight: about 220 distinct one-operation problems exist, so the
        // test split (drawn first) already runs out.
        let config = SplitConfig {
            n_train: 1_000_000,
            level_weights: [1.0, 0.0, 0.0, 0.0, 0.0],
            ..Default::default()
        };
        let err = make_splits(&config).unwrap_err();
        assert!(err.to_string().contains("\"test\""), "{err}");
        assert!(err.to_string().contains("too small"), "{err}");
    }

    #[test]
    fn records_use_the_math500_layout_and_recover_steps() {
        let sum = Expr::bin(Op::Add, num(13), num(20)).unwrap();
        let expr = Expr::bin(Op::Mul, sum, num(3)).unwrap();
        let p = ArithProblem {
            problem: "What is (13 + 20) * 3?".into(),
            expr,
            level: 3,
            word_problem: false,
        };
        let r = p.to_record("test", 7);
        assert_eq!(r.solution, "13 + 20 = 33\n33 * 3 = 99\n\\boxed{99}");
        assert_eq!(r.answer, "99");
        assert_eq!(r.unique_id, "arith/test/00007");
        assert_eq!(r.steps(), ["13 + 20 = 33", "33 * 3 = 99"]);
        let line = to_jsonl(std::slice::from_ref(&r));
        assert!(line.starts_with("{\"problem\":\"What is (13 + 20) * 3?\",\"solution\":"));
        let back: ArithRecord = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(back, r);
    }
}
