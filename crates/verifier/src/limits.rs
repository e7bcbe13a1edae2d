//! Safety limits: every answer is graded in bounded time and memory, whatever the input.
//!
//! A model being trained with reinforcement learning will, sooner or later, emit
//! `\boxed{9^{9^{9^{9}}}}`, a 100 KB run of digits or a thousand nested parentheses. Each limit
//! below turns such an input into "cannot be evaluated" (which grades as *not equal*, unless the
//! two texts are identical) instead of a hang, a huge allocation or a stack overflow.

/// Longest answer (in bytes, after extraction) that is parsed as mathematics; longer answers are
/// only compared as text. MATH-500's longest reference answer has 87 bytes.
pub const MAX_MATH_BYTES: usize = 2_000;

/// Deepest nesting of parentheses, braces, fractions and powers the parser follows.
pub const MAX_DEPTH: usize = 48;

/// Largest integer (numerator or denominator), in bits, that arithmetic may produce
/// (about 1 230 decimal digits; `300!` has 2 041 bits).
pub const MAX_BITS: u64 = 4_096;

/// Most terms one exact number may have, e.g. after expanding `(1 + sqrt(2) + pi)^k`.
pub const MAX_TERMS: usize = 64;

/// Most elements a tuple, set, matrix or `\pm` expansion may have.
pub const MAX_ITEMS: usize = 256;

/// Largest `n` for which `n!` and binomial coefficients are computed.
pub const MAX_FACTORIAL: u64 = 300;

/// Largest numerator or denominator of a rational exponent (`x^{p/q}`) or root index.
pub const MAX_EXPONENT: i64 = 100_000;

/// Work units one comparison may spend: one per tree node evaluated, about ten per product of
/// two terms of an exact number (more for large integers). When they run out the comparison
/// stops and reports "too large", which grades as not equal. Calibrated with
/// `examples/grade_bench.rs` so that exhausting it takes a few milliseconds.
pub const FUEL: u64 = 10_000;

/// Named hostile model responses that exercise every limit above: 100 KB runs of digits,
/// braces and commands, power towers, huge factorials, wide expansions, long lists. The
/// benchmark (`examples/grade_bench.rs`) times grading them and the tests check that each is
/// graded without panicking. Each is a whole response (boxed where that matters).
pub fn adversarial_responses() -> Vec<(&'static str, String)> {
    const KB100: usize = 100 * 1024;
    let fill = |unit: &str| unit.repeat(KB100 / unit.len().max(1));
    let boxed = |inner: String| format!("\\boxed{{{inner}}}");
    let sum_of_roots = "\\sqrt{2}+\\sqrt{3}+\\sqrt{5}+\\sqrt{7}+\\sqrt{11}+\\sqrt{13}+\\sqrt{17}";
    vec![
        ("100 KB of digits in a box", boxed(fill("9"))),
        ("100 KB of digits, no box", fill("7")),
        (
            "nested braces 50k deep",
            format!(
                "\\boxed{{{}{}}}",
                "{".repeat(KB100 / 2),
                "}".repeat(KB100 / 2)
            ),
        ),
        (
            "nested parentheses",
            boxed(format!("{}1{}", "(".repeat(900), ")".repeat(900))),
        ),
        ("unterminated boxes", fill("\\boxed{")),
        ("chat-token openers", fill("<|")),
        ("unterminated text commands", boxed(fill("\\text{"))),
        ("sqrt openers", boxed(fill("\\sqrt{"))),
        (
            "power tower",
            boxed("9^{".repeat(400) + "9" + &"}".repeat(400)),
        ),
        ("power of a power", boxed("(10^{10})^{10^{10}}".to_string())),
        ("huge factorial", boxed("1000000!".to_string())),
        ("factorial tower", boxed("3!!!!!!".to_string())),
        (
            "wide radical expansion",
            boxed(format!("({sum_of_roots})^{{64}}")),
        ),
        (
            "radical expansion with variables",
            boxed(format!("({sum_of_roots}+x)^{{40}}")),
        ),
        ("polynomial power", boxed("(x+y+z+w+1)^{1000}".to_string())),
        ("variable tower", boxed("x^{x^{x^{x}}}".to_string())),
        (
            "nested radicals",
            boxed(format!("{}2{}", "\\sqrt{1+".repeat(40), "}".repeat(40))),
        ),
        ("long sum", boxed(format!("{}1", "x+".repeat(900)))),
        (
            "long list",
            boxed(
                (1..=300)
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ),
        (
            "long set of radicals",
            boxed(format!(
                "\\{{{}\\}}",
                (2..=250)
                    .map(|k| format!("\\sqrt{{{k}}}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )),
        ),
        (
            "many intervals",
            boxed(
                (0..150)
                    .map(|k| format!("({k},{})", k + 1))
                    .collect::<Vec<_>>()
                    .join("\\cup"),
            ),
        ),
        (
            "big matrix",
            boxed(format!(
                "\\begin{{pmatrix}}{}\\end{{pmatrix}}",
                vec!["1&2&3&4"; 60].join("\\\\")
            )),
        ),
        (
            "huge radicand",
            boxed(format!("\\sqrt{{{}}}", "9".repeat(500))),
        ),
        (
            "radicand with two large primes",
            boxed("\\sqrt{18446744030759878681}".to_string()),
        ),
        (
            "deep trig nesting",
            boxed(format!("{}1{}", "\\sin(".repeat(45), ")".repeat(45))),
        ),
        (
            "log tower",
            boxed(format!("{}2{}", "\\log_2(".repeat(40), ")".repeat(40))),
        ),
        ("unicode soup", boxed(fill("π²√∞≤−×÷"))),
        ("backslash soup", boxed(fill("\\\\"))),
        ("comma soup", boxed(fill("1,"))),
        ("degree and percent soup", boxed(fill("^\\circ\\%"))),
        (
            "mixed garbage",
            fill("\\frac{1}{\\sqrt[3]{x^2+\\pi}}\\cdot\\left(\\}"),
        ),
    ]
}
