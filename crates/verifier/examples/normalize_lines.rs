//! Reads JSON strings, one per line, from stdin and prints `normalize_text` of each as a JSON
//! string: the Rust side of `scripts/compare_with_book.py`.
//!
//! ```text
//! echo '"\\dfrac{14}{3}"' | cargo run -q -p reasoning-verifier --example normalize_lines
//! ```

use std::io::{BufRead, Write};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in std::io::stdin().lock().lines() {
        let text: String = serde_json::from_str(&line?)?;
        writeln!(
            out,
            "{}",
            serde_json::to_string(&reasoning_verifier::normalize_text(&text))?
        )?;
    }
    Ok(())
}
