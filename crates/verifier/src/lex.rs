//! Tokens of LaTeX and plain-text mathematics.
//!
//! One lexer reads both `\frac{\sqrt{3}}{2}` and `sqrt(3)/2`: LaTeX commands become tokens
//! (`\cdot` and `\times` become `*`, `\le` and `≤` become `<=`, `\dfrac` becomes `\frac`), layout
//! commands vanish (`\left`, `\,`, `\displaystyle`, `$`), unicode math is mapped to the same
//! tokens (`−`, `×`, `²`, `π`, `√`), and `\text{...}` is kept whole as one token. Numbers are
//! read exactly as written (`1,000`, `10\,000` and `11,\!111` are one number; `.5` is `0.5`);
//! base-subscripted numerals (`1011_2`, `4210_{5}`) are one token.

/// One token; `space` records whether whitespace preceded it (mixed numbers need it).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) space: bool,
}

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// A decimal literal: digits, optionally `.` and digits, optionally `e`-exponent.
    Num(String),
    /// A numeral with a base subscript: digits and base.
    Based(String, u32),
    /// A run of letters (split into variables and function names by the parser).
    Ident(String),
    /// A LaTeX command without its backslash, after aliasing (`dfrac` -> `frac`).
    Cmd(String),
    /// The content of `\text{...}`, `\mbox{...}` and friends.
    Text(String),
    /// `\begin{name}` and `\end{name}`.
    Begin(String),
    End(String),
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBrack,
    RBrack,
    LSet,
    RSet,
    LAngle,
    RAngle,
    Pipe,
    LFloor,
    RFloor,
    LCeil,
    RCeil,
    Plus,
    Minus,
    Star,
    Slash,
    Caret,
    Underscore,
    Bang,
    Comma,
    Semicolon,
    Colon,
    Amp,
    RowSep,
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
    Ne,
    Pm,
    Mp,
    Cup,
    Cap,
    Setminus,
    In,
    Percent,
    Degree,
    Prime,
    Dot,
}

/// Why a text is not lexable as mathematics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LexError(pub(crate) String);

/// Spacing and sizing commands that carry no mathematical meaning.
const LAYOUT: &[&str] = &[
    "left",
    "right",
    "big",
    "Big",
    "bigg",
    "Bigg",
    "bigl",
    "bigr",
    "Bigl",
    "Bigr",
    "biggl",
    "biggr",
    "Biggl",
    "Biggr",
    "middle",
    "displaystyle",
    "textstyle",
    "scriptstyle",
    "limits",
    "nolimits",
    "quad",
    "qquad",
    "enspace",
    "thinspace",
    "negthinspace",
    "medspace",
    "thickspace",
    "hfill",
    "mathrm",
    "mathbf",
    "mathit",
    "mathsf",
    "mathtt",
    "mathnormal",
    "boldsymbol",
    "bm",
    "operatorname",
    "boxed",
    "fbox",
    "noindent",
    "it",
    "bf",
    "rm",
];

/// Commands whose braced argument is prose.
const TEXT: &[&str] = &[
    "text",
    "textbf",
    "textit",
    "textrm",
    "textsf",
    "texttt",
    "textnormal",
    "mbox",
    "hbox",
];

/// Environments recognised after a mangled `\beginpmatrix` (braces lost).
const ENVS: &[&str] = &[
    "pmatrix",
    "bmatrix",
    "Bmatrix",
    "vmatrix",
    "Vmatrix",
    "matrix",
    "smallmatrix",
    "array",
];

/// Splits `src` into tokens.
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, LexError> {
    Lexer {
        s: src.as_bytes(),
        src,
        i: 0,
        depth: 0,
        out: Vec::new(),
        space: false,
    }
    .run()
}

struct Lexer<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
    /// Bracket depth: a plain `,` groups thousands only outside brackets.
    depth: usize,
    out: Vec<Token>,
    space: bool,
}

impl Lexer<'_> {
    fn push(&mut self, tok: Tok) {
        match tok {
            Tok::LParen | Tok::LBrack | Tok::LSet | Tok::LBrace | Tok::LAngle => self.depth += 1,
            Tok::RParen | Tok::RBrack | Tok::RSet | Tok::RBrace | Tok::RAngle => {
                self.depth = self.depth.saturating_sub(1)
            }
            _ => {}
        }
        self.out.push(Token {
            tok,
            space: self.space,
        });
        self.space = false;
    }

    fn peek(&self, k: usize) -> u8 {
        self.s.get(self.i + k).copied().unwrap_or(0)
    }

    fn run(mut self) -> Result<Vec<Token>, LexError> {
        while self.i < self.s.len() {
            let c = self.s[self.i];
            match c {
                b' ' | b'\t' | b'\n' | b'\r' | b'~' => {
                    self.space = true;
                    self.i += 1;
                }
                b'$' => self.i += 1,
                b'\\' => self.command()?,
                b'0'..=b'9' => {
                    if !self.based() {
                        self.number();
                    }
                }
                b'.' if self.peek(1).is_ascii_digit() => self.number(),
                b'A'..=b'Z' if self.based() => {}
                b'a'..=b'z' | b'A'..=b'Z' => {
                    let start = self.i;
                    while self.peek(0).is_ascii_alphabetic() {
                        self.i += 1;
                    }
                    let run = self.src[start..self.i].to_string();
                    self.push(Tok::Ident(run));
                }
                b'*' if self.peek(1) == b'*' => {
                    self.i += 2;
                    self.push(Tok::Caret);
                }
                b'<' if self.peek(1) == b'=' => {
                    self.i += 2;
                    self.push(Tok::Le);
                }
                b'>' if self.peek(1) == b'=' => {
                    self.i += 2;
                    self.push(Tok::Ge);
                }
                b'!' if self.peek(1) == b'=' => {
                    self.i += 2;
                    self.push(Tok::Ne);
                }
                b'+' if self.peek(1) == b'-' => {
                    self.i += 2;
                    self.push(Tok::Pm);
                }
                _ if c < 0x80 => {
                    let tok = match c {
                        b'{' => Tok::LBrace,
                        b'}' => Tok::RBrace,
                        b'(' => Tok::LParen,
                        b')' => Tok::RParen,
                        b'[' => Tok::LBrack,
                        b']' => Tok::RBrack,
                        b'|' => Tok::Pipe,
                        b'+' => Tok::Plus,
                        b'-' => Tok::Minus,
                        b'*' => Tok::Star,
                        b'/' => Tok::Slash,
                        b'^' => Tok::Caret,
                        b'_' => Tok::Underscore,
                        b'!' => Tok::Bang,
                        b',' => Tok::Comma,
                        b';' => Tok::Semicolon,
                        b':' => Tok::Colon,
                        b'&' => Tok::Amp,
                        b'=' => Tok::Eq,
                        b'<' => Tok::Lt,
                        b'>' => Tok::Gt,
                        b'%' => Tok::Percent,
                        b'\'' => Tok::Prime,
                        b'.' => Tok::Dot,
                        _ => return Err(LexError(format!("unexpected character {:?}", c as char))),
                    };
                    self.i += 1;
                    self.push(tok);
                }
                _ => self.unicode()?,
            }
        }
        Ok(self.out)
    }

    /// Reads a base-subscripted numeral such as `1011_2` or `A3_{16}`, if one starts here.
    fn based(&mut self) -> bool {
        let start = self.i;
        let mut j = start;
        while j < self.s.len() && (self.s[j].is_ascii_digit() || self.s[j].is_ascii_uppercase()) {
            j += 1;
        }
        let digits = &self.src[start..j];
        if j >= self.s.len() || self.s[j] != b'_' || !digits.bytes().any(|b| b.is_ascii_digit()) {
            return false;
        }
        let mut k = j + 1;
        let braced = self.s.get(k) == Some(&b'{');
        if braced {
            k += 1;
        }
        let base_start = k;
        while k < self.s.len() && self.s[k].is_ascii_digit() && k - base_start < 3 {
            k += 1;
        }
        let base: u32 = match self.src[base_start..k].parse() {
            Ok(b) if (2..=36).contains(&b) => b,
            _ => return false,
        };
        if braced {
            if self.s.get(k) != Some(&b'}') {
                return false;
            }
            k += 1;
        } else if self.s.get(k).is_some_and(|b| b.is_ascii_digit()) {
            return false;
        }
        if !digits
            .chars()
            .all(|ch| ch.to_digit(36).is_some_and(|d| d < base))
        {
            return false;
        }
        self.i = k;
        self.push(Tok::Based(digits.to_string(), base));
        true
    }

    /// Reads a decimal literal with optional thousands separators, fraction and exponent.
    fn number(&mut self) {
        let mut text = String::new();
        let start = self.i;
        while self.peek(0).is_ascii_digit() {
            self.i += 1;
        }
        text.push_str(&self.src[start..self.i]);
        let preceded_by_dot = start > 0 && self.s[start - 1] == b'.';
        if !text.is_empty() && text.len() <= 3 && !preceded_by_dot {
            while let Some(after) = self.thousands_group() {
                text.push_str(&self.src[after..after + 3]);
                self.i = after + 3;
            }
        }
        if self.peek(0) == b'.' && self.peek(1).is_ascii_digit() {
            let s = self.i;
            self.i += 1;
            while self.peek(0).is_ascii_digit() {
                self.i += 1;
            }
            text.push_str(&self.src[s..self.i]);
        } else if self.peek(0) == b'.' && self.src[self.i + 1..].starts_with("\\overline") {
            self.i += 1;
            text.push('.');
        }
        // Scientific notation: 1.5e-3, 2E6 (but not 2e, which is 2 times Euler's number).
        let (e, sign, digit) = (self.peek(0), self.peek(1), self.peek(2));
        if (e == b'e' || e == b'E') && !text.is_empty() {
            let skip = if (sign == b'+' || sign == b'-') && digit.is_ascii_digit() {
                Some(2)
            } else if sign.is_ascii_digit() {
                Some(1)
            } else {
                None
            };
            if let Some(skip) = skip {
                let s = self.i;
                self.i += skip;
                while self.peek(0).is_ascii_digit() {
                    self.i += 1;
                }
                text.push_str(&self.src[s..self.i]);
            }
        }
        if text.starts_with('.') {
            text.insert(0, '0');
        }
        self.push(Tok::Num(text));
    }

    /// If a thousands separator followed by exactly three digits starts at the cursor, returns
    /// the offset of those digits.
    fn thousands_group(&self) -> Option<usize> {
        let rest = &self.src[self.i..];
        let mut k = if rest.starts_with("{,}") || rest.starts_with(",\\!") {
            3
        } else if rest.starts_with("\\,") || rest.starts_with("\\!") {
            2
        } else if (rest.starts_with(',') || rest.starts_with(' ')) && self.depth == 0 {
            1
        } else {
            return None;
        };
        // Spaces are allowed only after an explicit `\!` or `\,` (`11,\! 111`).
        if k > 1 {
            while rest.as_bytes().get(k) == Some(&b' ') {
                k += 1;
            }
        }
        let b = rest.as_bytes();
        let three = (0..3).all(|d| b.get(k + d).is_some_and(|c| c.is_ascii_digit()));
        // With a plain space, `2 345/1000` is a mixed number, not 2345/1000.
        let space = rest.starts_with(' ');
        let fourth = b
            .get(k + 3)
            .is_some_and(|c| c.is_ascii_digit() || (space && *c == b'/'));
        (three && !fourth).then_some(self.i + k)
    }

    /// Reads a balanced `{...}` group starting at the cursor (after optional spaces) and
    /// returns its inner text.
    fn braced(&mut self) -> Option<String> {
        let mut j = self.i;
        while self.s.get(j) == Some(&b' ') {
            j += 1;
        }
        if self.s.get(j) != Some(&b'{') {
            return None;
        }
        let start = j + 1;
        let mut depth = 0usize;
        let mut k = j;
        while k < self.s.len() {
            match self.s[k] {
                b'\\' => k += 1,
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        self.i = k + 1;
                        return Some(self.src[start..k].to_string());
                    }
                }
                _ => {}
            }
            k += 1;
        }
        None
    }

    fn command(&mut self) -> Result<(), LexError> {
        let next = self.peek(1);
        if !next.is_ascii_alphabetic() {
            self.i += 2;
            let tok = match next {
                b'\\' => Tok::RowSep,
                b',' | b'!' | b';' | b':' | b' ' | b'>' | b'\n' => {
                    self.space = true;
                    return Ok(());
                }
                b'{' => Tok::LSet,
                b'}' => Tok::RSet,
                b'|' => Tok::Pipe,
                b'%' => Tok::Percent,
                b'&' => Tok::Amp,
                b'$' | b'(' | b')' | b'[' | b']' => return Ok(()),
                _ => {
                    let shown = if next == 0 {
                        "end of text".to_string()
                    } else {
                        format!("{:?}", next as char)
                    };
                    return Err(LexError(format!("unknown command \\{shown}")));
                }
            };
            self.push(tok);
            return Ok(());
        }
        let start = self.i + 1;
        let mut j = start;
        while j < self.s.len() && self.s[j].is_ascii_alphabetic() {
            j += 1;
        }
        let name = &self.src[start..j];
        self.i = j;
        if LAYOUT.contains(&name) {
            self.space = true;
            // `\left.` and `\right.` are invisible delimiters.
            if matches!(name, "left" | "right") && self.peek(0) == b'.' {
                self.i += 1;
            }
            return Ok(());
        }
        if TEXT.contains(&name) {
            let content = self
                .braced()
                .ok_or_else(|| LexError(format!("\\{name} without braces")))?;
            self.push(Tok::Text(content));
            return Ok(());
        }
        if name == "begin" || name == "end" {
            let env = self
                .braced()
                .ok_or_else(|| LexError(format!("\\{name} without braces")))?;
            self.push(if name == "begin" {
                Tok::Begin(env)
            } else {
                Tok::End(env)
            });
            return Ok(());
        }
        // A mangled `\beginpmatrix` or `\mboxcm`: the braces were lost but the meaning is plain.
        for (prefix, env) in [("begin", true), ("end", false)] {
            if let Some(rest) = name.strip_prefix(prefix)
                && ENVS.contains(&rest)
            {
                self.push(if env {
                    Tok::Begin(rest.into())
                } else {
                    Tok::End(rest.into())
                });
                return Ok(());
            }
        }
        for prefix in ["text", "mbox"] {
            if let Some(rest) = name.strip_prefix(prefix) {
                self.push(Tok::Text(rest.to_string()));
                return Ok(());
            }
        }
        let tok = match name {
            "dfrac" | "tfrac" | "cfrac" => Tok::Cmd("frac".into()),
            "dbinom" | "tbinom" => Tok::Cmd("binom".into()),
            "cdot" | "times" | "ast" => Tok::Star,
            "div" => Tok::Slash,
            "pm" => Tok::Pm,
            "mp" => Tok::Mp,
            "le" | "leq" | "leqslant" => Tok::Le,
            "ge" | "geq" | "geqslant" => Tok::Ge,
            "ne" | "neq" => Tok::Ne,
            "lt" => Tok::Lt,
            "gt" => Tok::Gt,
            "cup" => Tok::Cup,
            "cap" => Tok::Cap,
            "setminus" | "backslash" => Tok::Setminus,
            "in" => Tok::In,
            "circ" | "degree" => Tok::Degree,
            "prime" => Tok::Prime,
            "lbrace" => Tok::LSet,
            "rbrace" => Tok::RSet,
            "langle" => Tok::LAngle,
            "rangle" => Tok::RAngle,
            "vert" | "lvert" | "rvert" | "mid" => Tok::Pipe,
            "lfloor" => Tok::LFloor,
            "rfloor" => Tok::RFloor,
            "lceil" => Tok::LCeil,
            "rceil" => Tok::RCeil,
            "colon" => Tok::Colon,
            "varnothing" => Tok::Cmd("emptyset".into()),
            "infin" => Tok::Cmd("infty".into()),
            other => Tok::Cmd(other.to_string()),
        };
        self.push(tok);
        Ok(())
    }

    fn unicode(&mut self) -> Result<(), LexError> {
        let ch = self.src[self.i..].chars().next().unwrap_or('\u{fffd}');
        self.i += ch.len_utf8();
        let superscript = |c: char| -> Option<char> {
            Some(match c {
                '⁰' => '0',
                '¹' => '1',
                '²' => '2',
                '³' => '3',
                '⁴' => '4',
                '⁵' => '5',
                '⁶' => '6',
                '⁷' => '7',
                '⁸' => '8',
                '⁹' => '9',
                '⁺' => '+',
                '⁻' => '-',
                _ => return None,
            })
        };
        if let Some(first) = superscript(ch) {
            // x²³ -> x^{23}
            let mut text = String::from(first);
            while let Some(c) = self.src[self.i..].chars().next().and_then(superscript) {
                text.push(c);
                self.i += self.src[self.i..].chars().next().map_or(1, char::len_utf8);
            }
            self.push(Tok::Caret);
            self.push(Tok::LBrace);
            let inner = lex(&text)?;
            for t in inner {
                self.push(t.tok);
            }
            self.push(Tok::RBrace);
            return Ok(());
        }
        let vulgar = match ch {
            '½' => Some((1, 2)),
            '⅓' => Some((1, 3)),
            '⅔' => Some((2, 3)),
            '¼' => Some((1, 4)),
            '¾' => Some((3, 4)),
            _ => None,
        };
        if let Some((n, d)) = vulgar {
            // 2½ is a mixed number: 2 + 1/2.
            if matches!(
                self.out.last(),
                Some(Token {
                    tok: Tok::Num(_),
                    ..
                })
            ) {
                self.push(Tok::Plus);
            }
            self.push(Tok::LParen);
            self.push(Tok::Num(n.to_string()));
            self.push(Tok::Slash);
            self.push(Tok::Num(d.to_string()));
            self.push(Tok::RParen);
            return Ok(());
        }
        let tok = match ch {
            '\u{2212}' | '\u{2013}' | '\u{2012}' | '\u{fe63}' | '\u{ff0d}' => Tok::Minus,
            '×' | '·' | '⋅' | '∙' | '∗' => Tok::Star,
            '÷' | '∕' => Tok::Slash,
            '≤' | '⩽' => Tok::Le,
            '≥' | '⩾' => Tok::Ge,
            '≠' => Tok::Ne,
            '±' => Tok::Pm,
            '∓' => Tok::Mp,
            '∪' => Tok::Cup,
            '∩' => Tok::Cap,
            '∈' => Tok::In,
            '∖' => Tok::Setminus,
            '°' | '∘' => Tok::Degree,
            '′' => Tok::Prime,
            '⟨' | '〈' => Tok::LAngle,
            '⟩' | '〉' => Tok::RAngle,
            '⌊' => Tok::LFloor,
            '⌋' => Tok::RFloor,
            '⌈' => Tok::LCeil,
            '⌉' => Tok::RCeil,
            '√' => Tok::Cmd("sqrt".into()),
            'π' => Tok::Cmd("pi".into()),
            '∞' => Tok::Cmd("infty".into()),
            '∅' => Tok::Cmd("emptyset".into()),
            'ℝ' => Tok::Cmd("reals".into()),
            '\u{a0}' | '\u{2009}' | '\u{202f}' | '\u{2002}' | '\u{2003}' | '\u{200b}' => {
                self.space = true;
                return Ok(());
            }
            c if c.is_alphabetic() => Tok::Ident(c.to_string()),
            c => return Err(LexError(format!("unexpected character {c:?}"))),
        };
        self.push(tok);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn thousands_separators_join_digit_groups() {
        assert_eq!(toks("1,000"), vec![Tok::Num("1000".into())]);
        assert_eq!(toks("10\\,000"), vec![Tok::Num("10000".into())]);
        assert_eq!(
            toks("11,\\! 111,\\! 111,\\! 100"),
            vec![Tok::Num("11111111100".into())]
        );
        assert_eq!(toks("1{,}234.5"), vec![Tok::Num("1234.5".into())]);
        assert_eq!(toks("10 000"), vec![Tok::Num("10000".into())]);
        assert_eq!(toks("2 345/1000").len(), 4);
    }

    #[test]
    fn commas_inside_brackets_separate_items() {
        assert_eq!(
            toks("(100,200)"),
            vec![
                Tok::LParen,
                Tok::Num("100".into()),
                Tok::Comma,
                Tok::Num("200".into()),
                Tok::RParen
            ]
        );
        assert_eq!(toks("3, 5, 7").len(), 5);
        assert_eq!(
            toks("1,23"),
            vec![Tok::Num("1".into()), Tok::Comma, Tok::Num("23".into())]
        );
    }

    #[test]
    fn based_numerals_are_one_token() {
        assert_eq!(toks("1011_2"), vec![Tok::Based("1011".into(), 2)]);
        assert_eq!(toks("4210_{5}"), vec![Tok::Based("4210".into(), 5)]);
        assert_eq!(toks("A3_{16}"), vec![Tok::Based("A3".into(), 16)]);
        // A digit that is not valid in the base makes it an ordinary subscript.
        assert_eq!(toks("19_8")[0], Tok::Num("19".into()));
    }

    #[test]
    fn layout_commands_vanish_and_aliases_apply() {
        assert_eq!(
            toks("\\left( \\dfrac12 \\right)"),
            vec![
                Tok::LParen,
                Tok::Cmd("frac".into()),
                Tok::Num("12".into()),
                Tok::RParen
            ]
        );
        assert_eq!(
            toks("$2\\cdot 3$"),
            vec![Tok::Num("2".into()), Tok::Star, Tok::Num("3".into())]
        );
    }

    #[test]
    fn unicode_superscripts_become_powers() {
        assert_eq!(
            toks("x²"),
            vec![
                Tok::Ident("x".into()),
                Tok::Caret,
                Tok::LBrace,
                Tok::Num("2".into()),
                Tok::RBrace
            ]
        );
        assert_eq!(toks("−3")[0], Tok::Minus);
    }

    #[test]
    fn text_commands_keep_their_content() {
        assert_eq!(toks("5.4 \\text{ cents}")[1], Tok::Text(" cents".into()));
        assert_eq!(toks("\\mboxinches")[0], Tok::Text("inches".into()));
    }
}
