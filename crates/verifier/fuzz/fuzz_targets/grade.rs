//! Grading never panics, and every non-empty answer equals itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reasoning_verifier::{Reason, answer_key, grade};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Split the input into a prediction and a reference at the first NUL (or use it twice).
    let (pred, gt) = text.split_once('\0').unwrap_or((text, text));
    let verdict = grade(pred, gt);
    let _ = answer_key(pred);
    let own = grade(pred, pred);
    assert!(own.correct || own.reason == Reason::Empty, "an answer must equal itself: {pred:?}");
    let _ = verdict.to_string();
});
