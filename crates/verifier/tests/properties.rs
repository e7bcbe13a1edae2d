//! Property tests: exact decimals, permuted sets, rewritten polynomials, arbitrary input.

use proptest::prelude::*;
use reasoning_verifier::{answer_key, grade_answer};

/// `p / (2^a 5^b)` written as an exact decimal string.
fn exact_decimal(p: i64, a: u32, b: u32) -> String {
    // Scale to a power of ten: p / (2^a 5^b) = p 2^(k-a) 5^(k-b) / 10^k with k = max(a, b).
    let k = a.max(b);
    let scaled = p as i128 * 2i128.pow(k - a) * 5i128.pow(k - b);
    let sign = if scaled < 0 { "-" } else { "" };
    let digits = format!("{:0>width$}", scaled.unsigned_abs(), width = k as usize + 1);
    let (int, frac) = digits.split_at(digits.len() - k as usize);
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn a_fraction_equals_its_exact_decimal(p in -100_000i64..100_000, a in 0u32..8, b in 0u32..8) {
        let q = 2i64.pow(a) * 5i64.pow(b);
        let decimal = exact_decimal(p, a, b);
        let frac = format!("\\frac{{{p}}}{{{q}}}");
        prop_assert!(grade_answer(&decimal, &frac), "{} vs {}", decimal, frac);
        prop_assert_eq!(answer_key(&decimal), answer_key(&frac));
        // One more digit off in the last place is a different number.
        let off = format!("{decimal}{}", if decimal.contains('.') { "1" } else { ".1" });
        prop_assert!(!grade_answer(&off, &frac), "{} vs {}", off, frac);
    }

    #[test]
    fn a_truncated_repeating_decimal_is_not_the_fraction(n in 1i64..50, d in prop::sample::select(vec![3i64, 7, 9, 11, 13])) {
        let n = if n % d == 0 { n + 1 } else { n };
        let approx = format!("{:.10}", n as f64 / d as f64);
        let frac = format!("{n}/{d}");
        prop_assert!(!grade_answer(&approx, &frac), "{} vs {}", approx, frac);
    }

    #[test]
    fn permuting_a_set_keeps_it_equal(
        items in prop::collection::hash_set(-50i64..50, 1..8),
        seed in any::<u64>(),
    ) {
        let items: Vec<String> = items.into_iter().map(|k| if k % 3 == 0 { format!("\\frac{{{k}}}{{7}}") } else { k.to_string() }).collect();
        let mut shuffled = items.clone();
        // A seeded Fisher-Yates shuffle.
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        let a = items.join(", ");
        let b = shuffled.join(", ");
        prop_assert!(grade_answer(&a, &b), "{} vs {}", a, b);
        let (set_a, set_b) = (format!("\\{{{a}\\}}"), format!("\\{{{b}\\}}"));
        prop_assert!(grade_answer(&set_a, &set_b), "{} vs {}", set_a, set_b);
        prop_assert_eq!(answer_key(&a), answer_key(&b));
        if items.len() > 1 {
            let fewer = shuffled[1..].join(", ");
            prop_assert!(!grade_answer(&a, &fewer), "{} vs {}", a, fewer);
        }
    }

    #[test]
    fn equal_polynomials_written_differently_are_equal(r1 in -9i64..10, r2 in -9i64..10, c in 1i64..6) {
        // c (x - r1)(x - r2) expanded, with terms in another order and another notation.
        let factored = format!("{c}(x - ({r1}))(x - ({r2}))");
        let (a2, a1, a0) = (c, -c * (r1 + r2), c * r1 * r2);
        let expanded = format!("{a0} + ({a1})*x + {a2}x^2");
        prop_assert!(grade_answer(&factored, &expanded), "{} vs {}", factored, expanded);
        let wrong = format!("{a0} + ({}) x + {a2} x^{{2}}", a1 + 1);
        prop_assert!(!grade_answer(&factored, &wrong), "{} vs {}", factored, wrong);
    }

    #[test]
    fn grading_arbitrary_text_never_panics(a in "\\PC{0,80}", b in "\\PC{0,20}") {
        let _ = grade_answer(&a, &b);
        let _ = answer_key(&a);
    }

    #[test]
    fn grading_latex_token_soup_never_panics(tokens in prop::collection::vec(prop::sample::select(vec![
        "\\frac", "{", "}", "(", ")", "[", "]", "\\sqrt", "^", "_", "x", "2", "10", ",", "\\pm", "=", "<",
        "\\cup", "\\infty", "-", "+", "*", "/", "\\pi", "e", "i", "!", "\\left", "\\right", "\\{", "\\}",
        "\\begin{pmatrix}", "\\end{pmatrix}", "&", "\\\\", "\\text{ cm}", "^\\circ", "\\%", "|", "\\log_2",
        "\\sin", ".", "0.5", "\\overline{3}", "1,000", "52_8", "\\setminus", "\\in", "\\le",
    ]), 0..40)) {
        let s: String = tokens.concat();
        let _ = grade_answer(&s, "1/2");
        let _ = grade_answer(&s, &s);
        let _ = answer_key(&s);
    }
}
