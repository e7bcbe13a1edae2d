//! Step 2 of the chapter-3 pipeline (book section 3.5): light text normalisation.
//!
//! [`normalize_text`] is the book's function, rule for rule: it strips chat tokens,
//! multiple-choice labels, degree signs, `\text{}`, math delimiters and spacing, turns
//! `\frac{a}{b}` into `(a)/(b)`, `\sqrt{x}` into `sqrt(x)`, `^` into `**`, joins thousands
//! separators, removes braces and lower-cases. The book feeds its output to SymPy; this crate
//! parses LaTeX directly (see [`mod@crate::grade`]), so here `normalize_text` serves to display what
//! the book would have compared, and the crate-internal `text_key` is the stricter form used to
//! compare prose.

/// Returns the text after the book's `normalize_text` rules (see the module docs).
///
/// ```
/// use reasoning_verifier::normalize_text;
/// assert_eq!(normalize_text(r"\dfrac{14}{3}"), "(14)/(3)");
/// assert_eq!(normalize_text(r"\left(1,\,2\right)"), "(1,2)");
/// assert_eq!(normalize_text("c. 3"), "3");
/// ```
pub fn normalize_text(text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    let mut s = strip_special_tokens(text).trim().to_string();
    s = strip_choice_label(&s).to_string();
    // Angle-degree markers.
    s = remove_degree_markers(&s);
    s = s.replace('°', "");
    // Unwrap \text{...} when it wraps the whole string.
    if s.len() > 7 && s.starts_with("\\text{") && s.ends_with('}') && !s.contains('\n') {
        s = s[6..s.len() - 1].to_string();
    }
    for delim in ["\\(", "\\)", "\\[", "\\]"] {
        s = s.replace(delim, "");
    }
    s = strip_command_and_spaces(&s, "\\left");
    s = strip_command_and_spaces(&s, "\\right");
    for space in ["\\,", "\\!", "\\;", "\\:"] {
        s = s.replace(space, "");
    }
    s = s.replace("\\cdot", "*").replace(['\u{b7}', '\u{d7}'], "*");
    s = s.replace("\\^\\circ", "");
    s = s
        .replace("\\dfrac", "\\frac")
        .replace("\\tfrac", "\\frac")
        .replace('°', "");
    s = convert_superscripts(&s);
    s = s.replace("\\%", "%").replace(['$', '%'], "");
    s = replace_sqrt(&s);
    s = replace_frac(&s);
    s = s.replace('^', "**");
    s = mixed_numbers(&s);
    s = thousands(&s);
    s.replace(['{', '}'], "").trim().to_lowercase()
}

/// Removes chat special tokens such as `<|im_end|>` (the book's `<\|[^>]+?\|>`), in linear
/// time.
pub(crate) fn strip_special_tokens(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    // The first `>` at or after a position; every `<|` before it shares it.
    let mut next_gt: Option<usize> = None;
    while i + 1 < b.len() {
        if b[i] == b'<' && b[i + 1] == b'|' {
            if next_gt.is_none_or(|g| g < i + 2) {
                next_gt = text[i + 2..].find('>').map(|k| k + i + 2);
            }
            let Some(g) = next_gt else { break };
            // At least one character between `<|` and `|>`.
            if g >= i + 4 && b[g - 1] == b'|' {
                out.push_str(&text[copied..i]);
                copied = g + 1;
                i = g + 1;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    out
}

/// Strips a leading multiple-choice label: `c. 3` -> `3`, `b: 2` -> `2`.
pub(crate) fn strip_choice_label(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() < 2 || !b[0].is_ascii_alphabetic() {
        return s;
    }
    let mut k = 1;
    while k < b.len() && b[k].is_ascii_whitespace() {
        k += 1;
    }
    if k >= b.len() || !(b[k] == b'.' || b[k] == b':') {
        return s;
    }
    k += 1;
    while k < b.len() && b[k].is_ascii_whitespace() {
        k += 1;
    }
    let rest = &s[k..];
    if rest.is_empty() || rest.contains('\n') {
        s
    } else {
        rest
    }
}

fn skip_ws(b: &[u8], mut k: usize) -> usize {
    while k < b.len() && b[k].is_ascii_whitespace() {
        k += 1;
    }
    k
}

/// Removes `^{\circ}` and `^\circ` (with optional spaces).
fn remove_degree_markers(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        if b[i] == b'^' {
            let mut k = skip_ws(b, i + 1);
            let braced = b.get(k) == Some(&b'{');
            if braced {
                k = skip_ws(b, k + 1);
            }
            if s[k..].starts_with("\\circ") {
                k += 5;
                let ok = if braced {
                    k = skip_ws(b, k);
                    b.get(k) == Some(&b'}')
                } else {
                    true
                };
                if ok {
                    let end = if braced { k + 1 } else { k };
                    out.push_str(&s[copied..i]);
                    copied = end;
                    i = end;
                    continue;
                }
            }
        }
        i += 1;
    }
    out.push_str(&s[copied..]);
    out
}

fn strip_command_and_spaces(s: &str, cmd: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find(cmd) {
        out.push_str(&rest[..at]);
        rest = rest[at + cmd.len()..].trim_start();
    }
    out.push_str(rest);
    out
}

const SUPERSCRIPTS: [(char, char); 14] = [
    ('⁰', '0'),
    ('¹', '1'),
    ('²', '2'),
    ('³', '3'),
    ('⁴', '4'),
    ('⁵', '5'),
    ('⁶', '6'),
    ('⁷', '7'),
    ('⁸', '8'),
    ('⁹', '9'),
    ('⁺', '+'),
    ('⁻', '-'),
    ('⁽', '('),
    ('⁾', ')'),
];

fn superscript(c: char) -> Option<char> {
    SUPERSCRIPTS.iter().find(|(s, _)| *s == c).map(|(_, d)| *d)
}

/// `2²` -> `2**2`, then any remaining superscript characters to plain ones.
fn convert_superscripts(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let base_ok = c.is_ascii_alphanumeric() || matches!(c, ')' | ']' | '}');
        let is_exp = |c: char| superscript(c).is_some() && !matches!(c, '⁽' | '⁾');
        if base_ok && i + 1 < chars.len() && is_exp(chars[i + 1]) {
            out.push(c);
            out.push_str("**");
            i += 1;
            while i < chars.len() && is_exp(chars[i]) {
                out.push(superscript(chars[i]).unwrap_or(chars[i]));
                i += 1;
            }
            continue;
        }
        out.push(superscript(c).unwrap_or(c));
        i += 1;
    }
    out
}

/// For every byte offset `i`, the offset of the first byte at or after `i` matching `pred`
/// (or the length of `s`): lets the brace rules below run in linear time.
fn next_index(s: &str, pred: impl Fn(u8) -> bool) -> Vec<usize> {
    let b = s.as_bytes();
    let mut next = vec![b.len(); b.len() + 1];
    for i in (0..b.len()).rev() {
        next[i] = if pred(b[i]) { i } else { next[i + 1] };
    }
    next
}

/// `\sqrt{x}` -> `sqrt(x)` (up to the first `}`) and `\sqrt x` -> `sqrt(x)`.
fn replace_sqrt(s: &str) -> String {
    let next_close = next_index(s, |c| c == b'}');
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut i = 0;
    while let Some(rel) = s[i..].find("\\sqrt") {
        let at = i + rel;
        let after = at + 5;
        let k = skip_ws(b, after);
        if b.get(k) == Some(&b'{') {
            let close = next_close[k + 1];
            if close < b.len() {
                out.push_str(&s[copied..at]);
                out.push_str(&format!("sqrt({})", &s[k + 1..close]));
                copied = close + 1;
                i = close + 1;
                continue;
            }
        } else if k > after {
            let end = s[k..]
                .find(|c: char| c == '\\' || c.is_whitespace() || c == '{' || c == '}')
                .map_or(s.len(), |e| e + k);
            if end > k {
                out.push_str(&s[copied..at]);
                out.push_str(&format!("sqrt({})", &s[k..end]));
                copied = end;
                i = end;
                continue;
            }
        }
        i = after;
    }
    out.push_str(&s[copied..]);
    out
}

/// `\frac{a}{b}` -> `(a)/(b)` when neither argument has braces, and `\frac a b` -> `(a)/(b)`.
fn replace_frac(s: &str) -> String {
    let next_brace = next_index(s, |c| c == b'{' || c == b'}');
    let b = s.as_bytes();
    let braced_arg = |k: usize| -> Option<(usize, usize)> {
        let k = skip_ws(b, k);
        if b.get(k) != Some(&b'{') {
            return None;
        }
        let close = next_brace[k + 1];
        (close < b.len() && b[close] == b'}' && close > k + 1).then_some((k + 1, close))
    };
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut i = 0;
    while let Some(rel) = s[i..].find("\\frac") {
        let at = i + rel;
        let after = at + 5;
        let braced = braced_arg(after)
            .and_then(|(a0, a1)| braced_arg(a1 + 1).map(|(b0, b1)| (a0, a1, b0, b1)));
        if let Some((a0, a1, b0, b1)) = braced {
            out.push_str(&s[copied..at]);
            out.push_str(&format!("({})/({})", &s[a0..a1], &s[b0..b1]));
            copied = b1 + 1;
            i = b1 + 1;
            continue;
        }
        if let Some((num, den, tail)) = frac_spaced(&s[after..]) {
            out.push_str(&s[copied..at]);
            out.push_str(&format!("({num})/({den})"));
            copied = s.len() - tail.len();
            i = copied;
            continue;
        }
        i = after;
    }
    out.push_str(&s[copied..]);
    out
}

fn frac_spaced(s: &str) -> Option<(&str, &str, &str)> {
    let t = s.trim_start();
    if t.len() == s.len() {
        return None;
    }
    let stop = |c: char| c.is_whitespace() || c == '{' || c == '}';
    let end_a = t.find(stop).unwrap_or(t.len());
    if end_a == 0 {
        return None;
    }
    let after_a = &t[end_a..];
    let u = after_a.trim_start();
    if u.len() == after_a.len() {
        return None;
    }
    let end_b = u.find(stop).unwrap_or(u.len());
    if end_b == 0 {
        return None;
    }
    Some((&t[..end_a], &u[..end_b], &u[end_b..]))
}

/// `3 1/2` -> `3+1/2` (a digit, spaces, then `digits/digits`).
fn mixed_numbers(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut i = 1;
    while i < b.len() {
        if b[i].is_ascii_whitespace() && b[i - 1].is_ascii_digit() {
            let k = skip_ws(b, i);
            let mut j = k;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j > k && b.get(j) == Some(&b'/') && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
                out.push_str(&s[copied..i]);
                out.push('+');
                copied = k;
                i = k;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&s[copied..]);
    out
}

/// `1,234` -> `1234` (a comma between a digit and exactly three digits).
fn thousands(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    for (i, ch) in s.char_indices() {
        if ch == ',' && i > 0 && b[i - 1].is_ascii_digit() {
            let three = (1..=3).all(|d| b.get(i + d).is_some_and(u8::is_ascii_digit));
            let fourth = b.get(i + 4).is_some_and(u8::is_ascii_digit);
            if three && !fourth {
                continue;
            }
        }
        out.push(ch);
    }
    out
}

/// Returns the form in which two answers are compared as prose: `\text{}`-like wrappers
/// unwrapped, math delimiters, `\left`/`\right`, spacing and whitespace removed (one space kept
/// between two digits), `\dfrac` read as `\frac`, a final period dropped, and a lone choice
/// letter unparenthesised (`(C)` -> `C`). Case is kept. Runs in linear time.
pub(crate) fn text_key(s: &str) -> String {
    let mut t = s.to_string();
    for wrapper in [
        "\\textbf",
        "\\textit",
        "\\textrm",
        "\\text",
        "\\mbox",
        "\\mathrm",
        "\\operatorname",
    ] {
        if t.contains(wrapper) {
            t = unwrap_command(&t, wrapper);
        }
    }
    let mut out = String::with_capacity(t.len());
    let b = t.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            let next = b.get(i + 1).copied().unwrap_or(0);
            if matches!(
                next,
                b',' | b'!' | b';' | b':' | b' ' | b'(' | b')' | b'[' | b']'
            ) {
                i += 2;
                continue;
            }
            let name_end = (i + 1..b.len())
                .find(|&k| !b[k].is_ascii_alphabetic())
                .unwrap_or(b.len());
            let name = &t[i + 1..name_end];
            match name {
                "left" | "right" | "displaystyle" => {
                    i = name_end;
                    continue;
                }
                "dfrac" | "tfrac" => {
                    out.push_str("\\frac");
                    i = name_end;
                    continue;
                }
                _ => {
                    out.push_str(&t[i..name_end.max(i + 1)]);
                    i = name_end.max(i + 1);
                    continue;
                }
            }
        }
        if c == b'$' || c == b'~' || c.is_ascii_whitespace() {
            // `1 2` is not `12`: keep one space between digits.
            let next =
                (i..b.len()).find(|&k| !b[k].is_ascii_whitespace() && b[k] != b'~' && b[k] != b'$');
            let digit_after = next.is_some_and(|k| b[k].is_ascii_digit());
            if digit_after && out.as_bytes().last().is_some_and(u8::is_ascii_digit) {
                out.push(' ');
            }
            i = next.unwrap_or(b.len());
            continue;
        }
        // Copy one character (which may be several bytes).
        let len = t[i..].chars().next().map_or(1, char::len_utf8);
        let ch = &t[i..i + len];
        if !ch.chars().all(char::is_whitespace) {
            out.push_str(ch);
        }
        i += len;
    }
    while out.ends_with('.') {
        out.pop();
    }
    let ob = out.as_bytes();
    if ob.len() == 3 && ob[0] == b'(' && ob[2] == b')' && ob[1].is_ascii_alphabetic() {
        out = out[1..2].to_string();
    }
    out
}

/// Replaces `\cmd{X}` by `X` everywhere (balanced braces), in linear time.
fn unwrap_command(s: &str, cmd: &str) -> String {
    if !s.contains(cmd) {
        return s.to_string();
    }
    // The matching closing brace of every opening brace.
    let b = s.as_bytes();
    let mut close_of = vec![usize::MAX; b.len()];
    let mut stack = Vec::new();
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'{' => stack.push(i),
            b'}' => {
                if let Some(o) = stack.pop() {
                    close_of[o] = i;
                }
            }
            _ => {}
        }
    }
    let mut out = String::with_capacity(s.len());
    // Closing braces of unwrapped groups are dropped when reached.
    let mut drop_at = vec![false; b.len()];
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        if drop_at[i] {
            out.push_str(&s[copied..i]);
            copied = i + 1;
            i += 1;
            continue;
        }
        if b[i] == b'\\' && s[i..].starts_with(cmd) {
            let after = i + cmd.len();
            if !b.get(after).is_some_and(u8::is_ascii_alphabetic) {
                let k = skip_ws(b, after);
                if b.get(k) == Some(&b'{') && close_of[k] != usize::MAX {
                    out.push_str(&s[copied..i]);
                    drop_at[close_of[k]] = true;
                    copied = k + 1;
                    i = k + 1;
                    continue;
                }
            }
        }
        i += 1;
    }
    out.push_str(&s[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The book's `test_normalize` table (tests/test_ch03.py).
    #[test]
    fn normalize_matches_the_book_table() {
        let cases = [
            ("  3/4  ", "3/4"),
            ("\n\t  (1, 2)  \t", "(1, 2)"),
            ("$2/3$", "2/3"),
            (r"\( 2/3 \)", "2/3"),
            (r"\left(1,\,2\right)", "(1,2)"),
            (r"\frac{3}{4}", "(3)/(4)"),
            (r"\dfrac{14}{3}", "(14)/(3)"),
            (r"(3)/(4)", "(3)/(4)"),
            ("c. 3", "3"),
            ("b: 2", "2"),
            (r"\sqrt{2}", "sqrt(2)"),
            (r"{x}", "x"),
            (r"{ (1, 2) }", "(1, 2)"),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalize_text(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn normalize_handles_degrees_superscripts_and_thousands() {
        assert_eq!(normalize_text(r"90^\circ"), "90");
        assert_eq!(normalize_text(r"90^{\circ}"), "90");
        assert_eq!(normalize_text("x²"), "x**2");
        assert_eq!(normalize_text("1,234/2"), "1234/2");
        assert_eq!(normalize_text("3 1/2"), "3+1/2");
        assert_eq!(normalize_text(r"\text{Evelyn}"), "evelyn");
        assert_eq!(normalize_text("<|im_end|>7"), "7");
    }

    #[test]
    fn text_key_unwraps_prose_and_drops_layout() {
        assert_eq!(text_key(r"\text{(C)}"), "C");
        assert_eq!(text_key(r"\text{ Evelyn }."), "Evelyn");
        assert_eq!(text_key(r"\left( 1,\, 2 \right)"), "(1,2)");
        assert_eq!(text_key(r"\textbf{x}"), "x");
        assert_eq!(text_key("1 2"), "1 2");
        assert_eq!(text_key("x y $ 3"), "xy3");
    }
}
