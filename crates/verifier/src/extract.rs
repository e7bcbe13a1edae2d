//! Step 1 of the chapter-3 pipeline (book section 3.4): find the final answer in a response.
//!
//! The book asks the model to end with `\boxed{ANSWER}` and takes the **last** box: reasoning
//! models often box intermediate results before the final one. Without any box, the book falls
//! back to the last number in the text, and then to the whole text.
//!
//! Departures from the book's `get_last_boxed` / `extract_final_candidate`, each deliberate:
//! - `\fbox{...}` counts as a box, and so does `\boxed 5` / `\boxed\pi` (LaTeX boxes the next
//!   token); the book returns nothing for a box without braces.
//! - Escaped braces `\{` `\}` inside a box do not count towards brace matching.
//! - If the text contains a box but the last one is empty or unterminated (`\boxed{}`, a
//!   response cut off at `\boxed{12`), the candidate is empty and grades as wrong. The book
//!   falls back to the last number in the text, which can reward a truncated answer.

/// What [`extract_final_candidate`] returns when the text contains no `\boxed{...}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fallback {
    /// The last number in the text, else the whole text (the book's default,
    /// `fallback="number_then_full"`).
    #[default]
    NumberThenFullText,
    /// The last number in the text, else nothing (`fallback="number_only"`).
    NumberOnly,
    /// Nothing: a box is required (`fallback=None`, used by the book's RLVR reward).
    None,
}

/// Box commands, longest first.
const BOX_COMMANDS: [&str; 2] = ["\\boxed", "\\fbox"];

/// Returns the byte offset just after the last box command in `text`, if any.
fn last_box_command(text: &str) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for cmd in BOX_COMMANDS {
        for (at, _) in text.rmatch_indices(cmd) {
            let end = at + cmd.len();
            // `\boxedx` is another command, not a box.
            if text
                .as_bytes()
                .get(end)
                .is_some_and(|b| b.is_ascii_alphabetic())
            {
                continue;
            }
            if best.is_none_or(|(b, _)| at > b) {
                best = Some((at, end));
            }
            break;
        }
    }
    best.map(|(_, end)| end)
}

/// Returns the content of the last `\boxed{...}` (or `\fbox{...}`, or `\boxed x`) in `text`.
///
/// Nested braces are matched (`\boxed{\frac{1}{2}}` gives `\frac{1}{2}`). Returns `None` when
/// there is no box, or when the last box has no argument or is unterminated. The content is
/// returned as written, untrimmed (the book's `get_last_boxed`).
///
/// ```
/// use reasoning_verifier::get_last_boxed;
/// assert_eq!(get_last_boxed(r"\boxed{a} then \boxed{b+c}"), Some("b+c"));
/// assert_eq!(get_last_boxed(r"\boxed{unbalanced"), None);
/// ```
pub fn get_last_boxed(text: &str) -> Option<&str> {
    let mut i = last_box_command(text)?;
    let bytes = text.as_bytes();
    let after_cmd = i;
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    if i >= bytes.len() {
        return None;
    }
    if bytes[i] != b'{' {
        // `\boxed 5`, `\boxed\pi`: LaTeX boxes the next token; we take the next word.
        if i == after_cmd && bytes[i] != b'\\' && !bytes[i].is_ascii_digit() {
            return None;
        }
        let start = i;
        if bytes[i] == b'\\' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
        } else {
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'$' {
                i += 1;
            }
        }
        let word = text[start..i].trim_end_matches(['.', ',', ';', ':']);
        return (!word.is_empty()).then_some(word);
    }
    let start = i + 1;
    let mut depth = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&text[start..i]);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Returns the trimmed content of the last box, or `None` when there is no non-empty box.
///
/// This is the "a `\boxed{}` is required" extraction of the book's RLVR reward
/// (`extract_final_candidate(text, fallback=None)`).
///
/// ```
/// use reasoning_verifier::extract_boxed;
/// assert_eq!(extract_boxed(r"so the answer is $\boxed{ 42 }$."), Some("42".to_string()));
/// assert_eq!(extract_boxed("the answer is 42"), None);
/// assert_eq!(extract_boxed(r"\boxed{}"), None);
/// ```
pub fn extract_boxed(text: &str) -> Option<String> {
    let boxed = get_last_boxed(text.trim())?;
    let trimmed = boxed.trim().trim_matches(['$', ' ']);
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// Returns the final answer candidate of a model response (book section 3.4,
/// `extract_final_candidate`).
///
/// The last box wins; without any box, `fallback` decides (see [`Fallback`]). An empty string
/// means "no answer" and always grades as wrong.
///
/// ```
/// use reasoning_verifier::{extract_final_candidate, Fallback};
/// let text = "Earlier box \\boxed{1/3}, later \\boxed{2/3}";
/// assert_eq!(extract_final_candidate(text, Fallback::default()), "2/3");
/// assert_eq!(extract_final_candidate("Final answer: 14/3", Fallback::default()), "14/3");
/// assert_eq!(extract_final_candidate("no digits here", Fallback::NumberOnly), "");
/// ```
pub fn extract_final_candidate(text: &str, fallback: Fallback) -> String {
    if text.is_empty() {
        return String::new();
    }
    if last_box_command(text).is_some() {
        return extract_boxed(text).unwrap_or_default();
    }
    match fallback {
        Fallback::None => String::new(),
        Fallback::NumberOnly => last_number(text).unwrap_or_default().to_string(),
        Fallback::NumberThenFullText => last_number(text).unwrap_or(text).to_string(),
    }
}

/// Returns the last number in `text`, as the book's `RE_NUMBER` finds it: an optional minus,
/// then `digits/digits`, or digits with an optional decimal part and exponent.
pub fn last_number(text: &str) -> Option<&str> {
    let b = text.as_bytes();
    let digits = |mut k: usize| {
        while k < b.len() && b[k].is_ascii_digit() {
            k += 1;
        }
        k
    };
    let mut last = None;
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let first = if b[i] == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i + 1
        } else if b[i].is_ascii_digit() {
            i
        } else {
            i += 1;
            continue;
        };
        let mut end = digits(first);
        if b.get(end) == Some(&b'/') && b.get(end + 1).is_some_and(u8::is_ascii_digit) {
            end = digits(end + 1);
        } else {
            if b.get(end) == Some(&b'.') && b.get(end + 1).is_some_and(u8::is_ascii_digit) {
                end = digits(end + 1);
            }
            if matches!(b.get(end), Some(b'e' | b'E')) {
                let mut k = end + 1;
                if matches!(b.get(k), Some(b'+' | b'-')) {
                    k += 1;
                }
                if b.get(k).is_some_and(u8::is_ascii_digit) {
                    end = digits(k);
                }
            }
        }
        last = Some(&text[start..end]);
        i = end;
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The book's `test_get_last_boxed` table (tests/test_ch03.py).
    #[test]
    fn last_box_matches_the_book_table() {
        let cases: [(&str, Option<&str>); 6] = [
            (r"foo \boxed{42}", Some("42")),
            (r"\boxed{a} bla \boxed{b+c}", Some("b+c")),
            (r"noise \boxed   {  x^2 } end", Some("  x^2 ")),
            (r"\boxed{outer {inner} ok}", Some("outer {inner} ok")),
            (r"nothing here", None),
            (r"\boxed{unbalanced", None),
        ];
        for (text, expected) in cases {
            assert_eq!(get_last_boxed(text), expected, "{text:?}");
        }
    }

    /// The book returns None for `\boxed  not_brace`; LaTeX boxes the next token, and so do we.
    #[test]
    fn box_without_braces_takes_the_next_token() {
        assert_eq!(get_last_boxed(r"\boxed  not_brace"), Some("not_brace"));
        assert_eq!(get_last_boxed(r"so $\boxed 5$."), Some("5"));
        assert_eq!(get_last_boxed(r"\boxed\pi"), Some("\\pi"));
        assert_eq!(get_last_boxed(r"the answer is \boxed 12."), Some("12"));
        assert_eq!(get_last_boxed(r"\fbox{7}"), Some("7"));
        assert_eq!(get_last_boxed(r"\boxedx"), None);
    }

    /// The book's `test_extract_final_candidate` table.
    #[test]
    fn final_candidate_matches_the_book_table() {
        let cases = [
            ("Steps...\n\\boxed{3/4}\nDone.", "3/4"),
            ("Reasoning...\n\\boxed{\\frac{3}{4}}", r"\frac{3}{4}"),
            ("Compute...\n\\boxed{\\sqrt{2}}", r"\sqrt{2}"),
            ("Tuple case...\n\\boxed{(1,2)}", "(1,2)"),
            (r"Earlier box \boxed{1/3}, later \boxed{2/3}", "2/3"),
            (r"Noisy \boxed   {  x^2 } trailing text", "x^2"),
            (
                r"Nested braces \boxed{outer {inner} ok}",
                "outer {inner} ok",
            ),
            (
                r"In math mode: $ \boxed{ \dfrac{14}{3} } $",
                r"\dfrac{14}{3}",
            ),
            ("Some steps...\nFinal Answer: 14/3", "14/3"),
            ("All done. 1 \nFinal 2 answer: ", "2"),
        ];
        for (text, expected) in cases {
            assert_eq!(
                extract_final_candidate(text, Fallback::default()),
                expected,
                "{text:?}"
            );
        }
    }

    #[test]
    fn empty_or_unterminated_last_box_gives_no_candidate() {
        assert_eq!(
            extract_final_candidate(r"The answer is 5. \boxed{}", Fallback::default()),
            ""
        );
        assert_eq!(
            extract_final_candidate(r"\boxed{5} but then \boxed{12", Fallback::default()),
            ""
        );
        assert_eq!(extract_boxed(r"\boxed{ $ $ }"), None);
    }

    #[test]
    fn fallbacks_follow_the_requested_mode() {
        assert_eq!(
            extract_final_candidate("no number", Fallback::NumberThenFullText),
            "no number"
        );
        assert_eq!(
            extract_final_candidate("no number", Fallback::NumberOnly),
            ""
        );
        assert_eq!(
            extract_final_candidate("x = -2.5e3 or 7", Fallback::None),
            ""
        );
        assert_eq!(last_number("x = -2.5e3"), Some("-2.5e3"));
        assert_eq!(last_number("a-b 3/4."), Some("3/4"));
    }

    #[test]
    fn escaped_braces_do_not_close_a_box() {
        assert_eq!(get_last_boxed(r"\boxed{\{1, 2\}}"), Some(r"\{1, 2\}"));
        assert_eq!(get_last_boxed(r"\boxed{x \} y}"), Some(r"x \} y"));
    }
}
