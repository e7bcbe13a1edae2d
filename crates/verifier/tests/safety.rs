//! Hostile inputs: grading never panics and always returns. (Speed is measured by
//! `examples/grade_bench.rs`, not asserted here.)

use reasoning_verifier::limits::adversarial_responses;
use reasoning_verifier::{
    Fallback, Reason, answer_key, extract_final_candidate, grade, grade_answer, normalize_text,
};

#[test]
fn adversarial_responses_are_graded_without_panicking() {
    for (name, response) in adversarial_responses() {
        let extracted = extract_final_candidate(&response, Fallback::default());
        let verdict = std::panic::catch_unwind(|| {
            let against_half = grade(&extracted, r"\frac{1}{2}");
            let against_self = grade_answer(&extracted, &extracted);
            let _ = answer_key(&extracted);
            let _ = normalize_text(&response);
            (against_half, against_self)
        });
        let (half, _) = verdict.unwrap_or_else(|_| panic!("{name} panicked"));
        assert!(
            !half.correct || extracted.trim() == "1/2",
            "{name} graded equal to 1/2"
        );
    }
}

#[test]
fn limits_turn_into_wrong_answers_not_errors() {
    // A power tower far beyond the integer limit is not equal to anything but its own text.
    let tower = "9^{9^{9^{9}}}";
    assert!(!grade_answer(tower, "1"));
    assert!(grade_answer(tower, tower));
    assert_eq!(grade("1000000!", "5").reason, Reason::Unreadable);
    // Answers beyond the parse limit are compared as text only.
    let long = "1".repeat(5000);
    assert!(grade_answer(&long, &long));
    assert!(!grade_answer(&long, &format!("{long}0")));
}

#[test]
fn malformed_latex_is_unreadable_not_a_crash() {
    for bad in [
        r"\frac{1}{",
        r"\sqrt[",
        "((1)",
        r"\begin{pmatrix}1&2",
        "1 +",
        r"\left(",
        "^^^",
        r"\text{",
        "$",
        r"\\",
    ] {
        let v = grade(bad, "1");
        assert!(!v.correct, "{bad:?}");
    }
}
