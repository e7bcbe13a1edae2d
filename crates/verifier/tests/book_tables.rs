//! The book's chapter-3 grader tables (rasbt/reasoning-from-scratch, tests/test_ch03.py and the
//! `run_demos_table` checks), reproduced with our grader.

use reasoning_verifier::grade_answer;

/// `check_1` ... `check_15` of the book's demo table.
#[test]
fn book_demo_table_grades_as_the_book_expects() {
    let table = [
        ("check_1", "3/4", r"\frac{3}{4}", true),
        ("check_2", "(3)/(4)", r"3/4", true),
        ("check_3", r"\frac{\sqrt{8}}{2}", "sqrt(2)", true),
        ("check_4", r"\( \frac{1}{2} + \frac{1}{6} \)", "2/3", true),
        ("check_5", "(1, 2)", r"(1,2)", true),
        ("check_6", "(2, 1)", "(1, 2)", false),
        ("check_7", "(1, 2, 3)", "(1, 2)", false),
        ("check_8", "0.5", "1/2", true),
        ("check_9", "0.3333333333", "1/3", false),
        ("check_10", "1,234/2", "617", true),
        ("check_11", r"\text{2/3}", "2/3", true),
        ("check_12", "50%", "1/2", false),
        ("check_13", r"2\cdot 3/4", "3/2", true),
        ("check_14", r"90^\circ", "90", true),
        ("check_15", r"\left(\frac{3}{4}\right)", "3/4", true),
    ];
    for (name, pred, gt, expected) in table {
        assert_eq!(
            grade_answer(pred, gt),
            expected,
            "{name}: {pred:?} vs {gt:?}"
        );
    }
}

/// The extra rows of the book's `test_grade_answer` (the `None` rows are empty strings here:
/// Rust's `&str` cannot be missing).
#[test]
fn book_grade_answer_extra_rows_grade_as_the_book_expects() {
    let rows = [
        ("(1,2,3)", "(1,2,3)", true),
        ("(1,2,3)", "(1,2)", false),
        ("", "1/2", false),
        ("1/2", "", false),
    ];
    for (pred, gt, expected) in rows {
        assert_eq!(grade_answer(pred, gt), expected, "{pred:?} vs {gt:?}");
    }
}

/// The book's `test_equality_check` rows, graded end to end. The last row differs on purpose:
/// the book's internal `equality_check` cannot subtract two SymPy tuples and says `False`;
/// `(14/3, 2/3)` and `(14/3, 4/6)` are the same pair, and `grade_answer` (in the book too)
/// compares tuples element by element.
#[test]
fn book_equality_rows_grade_by_value() {
    assert!(grade_answer("13/4.", r"(13)/(4)"));
    assert!(grade_answer("0.5", r"(1)/(2)"));
    assert!(!grade_answer("14/3", "15/3"));
    assert!(grade_answer("(14/3, 2/3)", "(14/3, 4/6)"));
}
