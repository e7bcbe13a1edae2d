//! Checking the steps of a worked arithmetic solution, not only its final answer.
//!
//! The embedded task family writes one operation per line (`12 + 14 = 26`). Every such line is
//! verifiable on its own, so a solution can be graded step by step: a process signal that is
//! as exact as the final-answer check. Chapter 8 uses it to filter teacher traces
//! (`reasoning_distill::teacher`), and chapters 6-7 as a reward (`reasoning_grpo::reward`).

/// Checks one line of the form `a op b = c` (integers, `op` one of `+ - * /`, division exact).
/// Returns `None` when the line has another shape.
///
/// ```
/// use reasoning_verifier::steps::equation_holds;
/// assert_eq!(equation_holds("12 + 14 = 26"), Some(true));
/// assert_eq!(equation_holds("9 / 2 = 4"), Some(false));
/// assert_eq!(equation_holds("-3 * 2 = -6"), Some(true));
/// assert_eq!(equation_holds("so the answer is 26"), None);
/// ```
pub fn equation_holds(line: &str) -> Option<bool> {
    let (lhs, rhs) = line.split_once('=')?;
    let value: i64 = rhs.trim().parse().ok()?;
    let lhs = lhs.trim();
    // The operator is the first symbol after the first character (a leading '-' is a sign).
    let at = lhs
        .char_indices()
        .skip(1)
        .find(|(_, c)| matches!(c, '+' | '-' | '*' | '/'))?
        .0;
    let (a, rest) = lhs.split_at(at);
    let op = rest.chars().next()?;
    let a: i64 = a.trim().parse().ok()?;
    let b: i64 = rest[1..].trim().parse().ok()?;
    let result = match op {
        '+' => a.checked_add(b),
        '-' => a.checked_sub(b),
        '*' => a.checked_mul(b),
        _ => (b != 0 && a % b == 0).then(|| a / b),
    };
    Some(result == Some(value))
}

/// Counts the non-empty lines of `reasoning` and how many of them are true equations
/// (`(true, total)`); a line of another shape counts as not true.
///
/// ```
/// use reasoning_verifier::steps::count_true_steps;
/// assert_eq!(count_true_steps("10 / 2 = 5\n\n9 - 5 = 3\n"), (1, 2));
/// ```
pub fn count_true_steps(reasoning: &str) -> (usize, usize) {
    reasoning
        .lines()
        .filter(|l| !l.trim().is_empty())
        .fold((0, 0), |(ok, n), line| {
            (ok + usize::from(equation_holds(line) == Some(true)), n + 1)
        })
}

/// Whether `reasoning` has at least one line and every line is a true `a op b = c` equation.
///
/// ```
/// use reasoning_verifier::steps::all_steps_hold;
/// assert!(all_steps_hold("10 / 2 = 5\n9 - 5 = 4"));
/// assert!(!all_steps_hold("9 / 2 = 5\n5 - 1 = 4"));
/// assert!(!all_steps_hold(""));
/// ```
pub fn all_steps_hold(reasoning: &str) -> bool {
    let (ok, n) = count_true_steps(reasoning);
    n > 0 && ok == n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_operator_is_checked() {
        assert_eq!(equation_holds("7 * 8 = 56"), Some(true));
        assert_eq!(equation_holds("7 * 8 = 54"), Some(false));
        assert_eq!(equation_holds("50 - 8 = 42"), Some(true));
        assert_eq!(equation_holds("45 / 9 = 5"), Some(true));
        assert_eq!(equation_holds("45 / 0 = 5"), Some(false));
        assert_eq!(equation_holds("46 / 9 = 5"), Some(false));
    }

    #[test]
    fn other_shapes_and_overflow_are_not_true() {
        assert_eq!(equation_holds("x + 1 = 2"), None);
        assert_eq!(equation_holds("1 + 1 = two"), None);
        assert_eq!(equation_holds("1 + 1"), None);
        let big = format!("{} * 2 = 0", i64::MAX);
        assert_eq!(equation_holds(&big), Some(false));
        assert_eq!(count_true_steps("1 + 1 = 2\nthen 2\n2 * 3 = 6"), (2, 3));
    }
}
