//! Step 0 of the chapter-3 pipeline (book section 3.9): the prompt that asks for a boxed answer.

/// Returns the book's chapter-3 prompt for `problem` (`render_prompt`, section 3.9): an instruction to end
/// with `\boxed{ANSWER}`, the question, and an open `Answer:` for the model to continue.
///
/// ```
/// use reasoning_verifier::render_prompt;
/// let p = render_prompt("Compute 1/2 + 1/6.");
/// assert!(p.starts_with("You are a helpful math assistant."));
/// assert!(p.ends_with("Question:\nCompute 1/2 + 1/6.\n\nAnswer:"));
/// ```
pub fn render_prompt(problem: &str) -> String {
    format!(
        "You are a helpful math assistant.\n\
         Answer the question and write the final result on a new line as:\n\
         \\boxed{{ANSWER}}\n\n\
         Question:\n{problem}\n\nAnswer:"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The book's `test_render_prompt`.
    #[test]
    fn prompt_matches_the_book_template_exactly() {
        for p in [
            "Compute 1/2 + 1/6.",
            "Find x.\nGiven y.",
            r"Simplify $\frac{1}{2}$.",
        ] {
            let expected = format!(
                "You are a helpful math assistant.\nAnswer the question and write the final result on a new line as:\n\\boxed{{ANSWER}}\n\nQuestion:\n{p}\n\nAnswer:"
            );
            let got = render_prompt(p);
            assert_eq!(got, expected);
            assert_eq!(got.matches("\\boxed{ANSWER}").count(), 1);
            assert!(got.ends_with("Answer:"));
        }
    }
}
