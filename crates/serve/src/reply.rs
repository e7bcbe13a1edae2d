//! One choice's text as it grows: the ids, the decoded text cut at a stop string, Qwen3's
//! think block split off as `reasoning_content`, and what is safe to stream so far.
//!
//! ```text
//! <think>\nreasoning…\n</think>\n\nanswer…      →  reasoning_content = "reasoning…\n"
//!                                                    content           = "answer…"
//! ```
//!
//! While streaming, text that may still turn into a tag or a stop string (a trailing `</thi`,
//! the first letters of a stop string) is held back until the next token decides it, so the
//! streamed pieces always add up to the final message.

use reasoning_tokenizer::Tokenizer;

use crate::engine::TokenLogprob;

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

/// One choice in the making.
#[derive(Debug, Clone)]
pub struct ChoiceText {
    stops: Vec<String>,
    split_think: bool,
    ids: Vec<u32>,
    logprobs: Vec<(u32, TokenLogprob)>,
    text: String,
    finish: Option<&'static str>,
    sent_reasoning: usize,
    sent_content: usize,
}

impl ChoiceText {
    /// A choice cut at `stops`; with `split_think`, a leading think block is reasoning.
    pub fn new(stops: Vec<String>, split_think: bool) -> Self {
        Self {
            stops,
            split_think,
            ids: Vec::new(),
            logprobs: Vec::new(),
            text: String::new(),
            finish: None,
            sent_reasoning: 0,
            sent_content: 0,
        }
    }

    /// Adds a generated id; returns true when a stop string ends the choice here (the text is
    /// cut before it). Ids after the end are ignored.
    pub fn push(&mut self, tok: &Tokenizer, id: u32, logprob: Option<TokenLogprob>) -> bool {
        if self.finish.is_some() {
            return false;
        }
        self.ids.push(id);
        if let Some(lp) = logprob {
            self.logprobs.push((id, lp));
        }
        let text = tok.decode(&self.ids, true).unwrap_or_default();
        self.text = text.trim_end_matches('\u{FFFD}').to_string();
        let cut = self
            .stops
            .iter()
            .filter_map(|s| self.text.find(s.as_str()))
            .min();
        match cut {
            Some(at) => {
                self.text.truncate(at);
                self.finish = Some("stop");
                true
            }
            None => false,
        }
    }

    /// Marks the end (the first reason given wins).
    pub fn finish(&mut self, reason: &'static str) {
        self.finish.get_or_insert(reason);
    }

    /// Why it ended, once it has.
    pub fn finish_reason(&self) -> Option<&'static str> {
        self.finish
    }

    /// Every generated id.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// Each id's log-probability, when asked for.
    pub fn logprobs(&self) -> &[(u32, TokenLogprob)] {
        &self.logprobs
    }

    /// The whole text (think block included).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The reasoning and the content of the text as it stands.
    pub fn split(&self) -> (String, String) {
        let (r, c) = self.parts(true);
        (r.to_string(), c.to_string())
    }

    /// The reasoning and content not streamed yet that can no longer change.
    pub fn take_deltas(&mut self) -> (String, String) {
        let done = self.finish.is_some();
        let (r, c) = self.parts(done);
        let dr = r.get(self.sent_reasoning..).unwrap_or_default().to_string();
        let dc = c.get(self.sent_content..).unwrap_or_default().to_string();
        let (rl, cl) = (r.len(), c.len());
        self.sent_reasoning = self.sent_reasoning.max(rl);
        self.sent_content = self.sent_content.max(cl);
        (dr, dc)
    }

    /// `(reasoning, content)`; unless `done`, without a tail that may still change.
    fn parts(&self, done: bool) -> (&str, &str) {
        let text = self.text.as_str();
        let hold = |s: &'_ str, extra: &[&str]| -> usize {
            if done {
                return s.len();
            }
            let mut keep = s.len();
            for pat in self
                .stops
                .iter()
                .map(String::as_str)
                .chain(extra.iter().copied())
            {
                for k in (1..pat.len()).rev() {
                    if pat.is_char_boundary(k) && s.ends_with(&pat[..k]) {
                        keep = keep.min(s.len() - k);
                        break;
                    }
                }
            }
            keep
        };
        if !self.split_think {
            return ("", &text[..hold(text, &[])]);
        }
        let start = text.trim_start();
        if let Some(rest) = start.strip_prefix(OPEN) {
            let rest = rest.trim_start_matches('\n');
            return match rest.find(CLOSE) {
                Some(i) => {
                    let content = rest[i + CLOSE.len()..].trim_start();
                    (&rest[..i], &content[..hold(content, &[])])
                }
                None => (&rest[..hold(rest, &[CLOSE])], ""),
            };
        }
        if !done && !start.is_empty() && OPEN.starts_with(start) {
            return ("", "");
        }
        ("", &text[..hold(text, &[])])
    }
}
