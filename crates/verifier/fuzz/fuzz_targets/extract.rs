//! Extraction and normalisation never panic, and the extracted box lies inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reasoning_verifier::{extract_boxed, extract_final_candidate, get_last_boxed, last_number, normalize_text, Fallback};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(boxed) = get_last_boxed(text) {
        assert!(text.contains(boxed));
    }
    for fallback in [Fallback::NumberThenFullText, Fallback::NumberOnly, Fallback::None] {
        let _ = extract_final_candidate(text, fallback);
    }
    if let Some(b) = extract_boxed(text) {
        assert!(!b.is_empty());
    }
    let _ = last_number(text);
    let _ = normalize_text(text);
});
