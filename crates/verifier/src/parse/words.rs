//! Runs of letters in plain-text answers: known names (`sqrt`, `pi`), units dropped after a
//! quantity, Greek letters, and the split of a run into names and single-letter variables.

/// Known multi-letter names in plain-text answers (`sqrt(2)`, `2pi`, `sinx`).
pub(super) const NAMES: &[&str] = &[
    "arcsin", "arccos", "arctan", "sqrt", "infinity", "infty", "floor", "ceil", "sin", "cos",
    "tan", "cot", "sec", "csc", "log", "exp", "abs", "gcd", "lcm", "max", "min", "inf", "ln", "pi",
];

/// Unit and ordinal words dropped after a quantity even though they are short.
const UNITS: &[&str] = &[
    "cm", "mm", "km", "ft", "yd", "mi", "kg", "mg", "lb", "lbs", "oz", "mph", "kph", "sec", "secs",
    "min", "mins", "hr", "hrs", "ml", "cc", "sq", "cu", "th", "st", "nd", "rd", "deg", "pts", "in",
];

/// Greek letters (and friends) that name variables.
pub(super) const GREEK: &[&str] = &[
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "varepsilon",
    "zeta",
    "eta",
    "theta",
    "vartheta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "varphi",
    "chi",
    "psi",
    "omega",
    "Gamma",
    "Delta",
    "Theta",
    "Lambda",
    "Xi",
    "Sigma",
    "Phi",
    "Psi",
    "Omega",
    "ell",
];

/// One piece of a letter run: a known name or a single letter.
#[derive(Debug, PartialEq)]
pub(super) enum Piece<'a> {
    Name(&'a str),
    Letter(&'a str),
}

/// Splits a run of letters into known names and single-letter variables; `None` when the run
/// reads as an English word (`east`, `cents`, `ellipse`) rather than a product of variables.
pub(super) fn split_run(run: &str) -> Option<Vec<Piece<'_>>> {
    let mut pieces = Vec::new();
    let mut k = 0;
    let mut letters = 0;
    while k < run.len() {
        let rest = &run[k..];
        if let Some(name) = NAMES.iter().find(|n| rest.starts_with(**n)) {
            pieces.push(Piece::Name(&run[k..k + name.len()]));
            k += name.len();
        } else {
            let len = rest.chars().next().map_or(1, char::len_utf8);
            pieces.push(Piece::Letter(&run[k..k + len]));
            k += len;
            letters += 1;
        }
    }
    let word = letters >= 4 || (run.len() >= 5 && letters >= 3);
    (!word).then_some(pieces)
}

/// Whether a run of letters reads as a word or unit (and so ends a quantity).
pub(super) fn is_unit_word(run: &str) -> bool {
    UNITS.contains(&run) || split_run(run).is_none()
}
