//! Tests on the real data in `$REASONING_ASSETS` (MATH-500, the 1000 saved Qwen3 and GPT
//! answers, the book's exercise and distillation files). Without the variable they print one
//! line and pass.

use std::path::PathBuf;

use reasoning_verifier::datasets::{FieldMap, load_math500, load_records, read_json_records};
use reasoning_verifier::{Fallback, extract_final_candidate, grade_answer};

fn assets() -> Option<PathBuf> {
    match std::env::var_os("REASONING_ASSETS") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            println!("skipped: REASONING_ASSETS is not set");
            None
        }
    }
}

/// The book's `test_math500_parser_*` tests: every reference answer equals itself, boxed and
/// extracted; a constant `\boxed{123}` matches none.
#[test]
fn math500_answers_grade_against_themselves_and_not_a_constant() {
    let Some(dir) = assets() else { return };
    let data = load_math500(&dir.join("datasets/math500_test.json")).unwrap();
    assert_eq!(data.len(), 500);
    let selves = data
        .iter()
        .filter(|r| grade_answer(&r.answer, &r.answer))
        .count();
    assert_eq!(selves, 500);
    let boxed = data
        .iter()
        .filter(|r| {
            let extracted =
                extract_final_candidate(&format!("\\boxed{{{}}}", r.answer), Fallback::default());
            grade_answer(&extracted, &r.answer)
        })
        .count();
    assert_eq!(boxed, 500);
    let constant = data
        .iter()
        .filter(|r| grade_answer("123", &r.answer))
        .count();
    assert_eq!(constant, 0);
    let first = &data[0];
    assert_eq!(
        first.unique_id.as_deref(),
        Some("test/precalculus/807.json")
    );
    assert_eq!(
        (first.level, first.subject.as_deref()),
        (Some(2), Some("Precalculus"))
    );
}

#[test]
fn other_book_datasets_load_with_their_field_names() {
    let Some(dir) = assets() else { return };
    let d = dir.join("datasets");
    assert_eq!(
        load_math500(&d.join("math_new50_exercise.json"))
            .unwrap()
            .len(),
        50
    );
    let train = load_math500(&d.join("math_train_sample.json")).unwrap();
    assert_eq!(train.len(), 5);
    assert_eq!(
        (train[0].level, train[0].subject.as_deref()),
        (Some(5), Some("Algebra"))
    );
    let distill = load_records(
        &d.join("distill_sample_openrouter.json"),
        &FieldMap::default().answer("gtruth_answer"),
    )
    .unwrap();
    assert_eq!(distill.len(), 5);
}

/// Labels checked by hand, one per kind of case in the 1000 saved answers.
const HAND_LABELS: &[(&str, bool)] = &[
    ("real-qwen3-023", true),  // x=5 vs 5
    ("real-qwen3-030", true),  // 52_8 vs 52 (digits in the asked base)
    ("real-qwen3-036", true),  // 3, 5, 7 vs 3, 7, 5
    ("real-qwen3-099", true),  // pmatrix of -1/3 vs pmatrix of -\frac{1}{3}
    ("real-qwen3-176", true),  // .0000672 vs 0.0000672
    ("real-qwen3-198", true),  // 10,\!080 vs 10080
    ("real-qwen3-206", false), // (3/2, -13) vs m = 3/2, b = -1
    ("real-qwen3-217", false), // 11,111,111,100 vs a 2 KB run of ones
    ("real-qwen3-227", true),  // \text{(C)} vs C
    ("real-qwen3-257", true),  // 864 \mbox{ inches}^2 vs 864
    ("real-qwen3-293", false), // (3/5, 8/3] vs (-\infty, 3/5)
    ("real-qwen3-307", false), // (-\infty, 0] vs (-\infty, 0)
    ("real-qwen3-312", false), // (5, \infty) vs (-\infty, 5) \cup (5, \infty)
    ("real-qwen3-356", false), // (-\sqrt3, \sqrt3) vs [-\sqrt3, \sqrt3)
    ("real-qwen3-379", true),  // 12 vs 12^{\mathrm{th}} grade
    ("real-qwen3-380", true),  // (0,9) \cup (9,36) vs (0, 36) \setminus \{9\}
    ("real-qwen3-383", true),  // x \in [-2,7] vs [-2, 7]
    ("real-qwen3-435", false), // open vs closed ends of a union
    ("real-qwen3-451", true),  // \frac{639}{40} vs 15\frac{39}{40}
    ("real-qwen3-454", false), // y = 2x + 3 vs y = x/2 + 3/2
    ("real-qwen3-472", true),  // 137 \frac{1}{2} vs 137\frac{1}{2}
    ("real-qwen3-488", true),  // \$36 vs 36
    ("real-qwen3-004", false), // \text{Evelyn} vs Angela
    ("real-qwen3-097", true),  // \text{east} vs east
    ("real-qwen3-126", false), // 1+274i vs 2 + i
    ("real-qwen3-326", false), // 9/100 vs -9/100
    ("real-gpt-000", true),    // (3, \frac{\pi}{2}) vs (3,pi/2)
    ("real-gpt-073", false),   // \frac3*sqrt(3)4: unreadable
    ("real-gpt-074", true),    // \cot x vs \cotx (spaces lost)
    ("real-gpt-096", false),   // 1\pm*sqrt(19): unreadable
    ("real-gpt-099", true),    // \beginpmatrix...\endpmatrix (braces lost)
    ("real-gpt-166", false),   // \frac2707degrees reads as (2/7)*07
    ("real-gpt-198", true),    // 10,080
    ("real-gpt-217", true),    // 11,111,111,100
    ("real-gpt-228", true),    // 288pi
    ("real-gpt-242", true),    // \$32,348 vs \$32,\!348
    ("real-gpt-264", false),   // 14/5 vs 1\frac{4}{5} = 9/5
    ("real-gpt-284", true),    // 3\pm2*sqrt(2)
    ("real-gpt-293", true),    // (3/5,8/3]
    ("real-gpt-305", false),   // \frac919 is (9/1)*9 in LaTeX
    ("real-gpt-318", false),   // 11+9a/20 vs \frac{11+9a}{20}
    ("real-gpt-380", true),    // (0,9)\cup(9,36)
    ("real-gpt-382", true),    // 20000/pi
    ("real-gpt-422", false),   // \boxed{...\} is unterminated
    ("real-gpt-431", true),    // [pi^2/8,5pi^2/4]
    ("real-gpt-472", false),   // 1371/2 vs 137 \frac{1}{2}
];

#[test]
fn saved_model_answers_never_panic_and_match_hand_labels() {
    let Some(dir) = assets() else { return };
    let path = dir.join("datasets/math500_model_outputs.jsonl");
    let records = read_json_records(&path).unwrap();
    assert_eq!(records.len(), 1000);
    let mut labels_seen = 0;
    for r in &records {
        let field = |k: &str| r.value[k].as_str().unwrap().to_string();
        let (id, gt, generated) = (field("id"), field("gtruth_answer"), field("generated_text"));
        let outcome = std::panic::catch_unwind(|| {
            let extracted = extract_final_candidate(&generated, Fallback::default());
            grade_answer(&extracted, &gt)
        });
        let correct = outcome.unwrap_or_else(|_| panic!("grading {id} panicked"));
        if let Some((_, expected)) = HAND_LABELS.iter().find(|(k, _)| *k == id) {
            assert_eq!(
                correct, *expected,
                "{id}: gt {gt:?}, response {generated:.80}"
            );
            labels_seen += 1;
        }
    }
    assert_eq!(labels_seen, HAND_LABELS.len());
}
