//! Grading never panics, never takes long, and every non-empty answer equals itself.
//!
//! "Long" is 2 s for three gradings and a key: the fuzz build (coverage instrumentation, debug
//! assertions) on a shared 2-core machine runs about 100 times slower than release, so this
//! flags anything above roughly 20 ms in release. The benchmark measures the real latency.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reasoning_verifier::{Reason, answer_key, grade};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Split the input into a prediction and a reference at the first NUL (or use it twice).
    let (pred, gt) = text.split_once('\0').unwrap_or((text, text));
    let start = std::time::Instant::now();
    let verdict = grade(pred, gt);
    let _ = answer_key(pred);
    let own = grade(pred, pred);
    assert!(own.correct || own.reason == Reason::Empty, "an answer must equal itself: {pred:?}");
    let _ = verdict.to_string();
    let elapsed = start.elapsed();
    assert!(elapsed.as_millis() < 2000, "slow input ({elapsed:?}): {pred:?} vs {gt:?}");
});
