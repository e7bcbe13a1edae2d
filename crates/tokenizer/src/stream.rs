//! Incremental decoding for streaming output.
//!
//! One token is not one character: a byte-level BPE token is a run of bytes, and an emoji or
//! a CJK character (3-4 UTF-8 bytes) is often split over two or three tokens. Decoding each
//! token alone would print U+FFFD for the halves. [`StreamDecoder`] holds back the bytes of an
//! unfinished character until the token that completes it arrives:
//!
//! ```text
//! ids      [9468]        [248]         [232]       ->  "😊" = F0 9F 98 8A
//! bytes    F0 9F         98            8A
//! pieces   None          None          Some("😊")
//! ```
//!
//! The guarantee: the pieces returned by [`step`](StreamDecoder::step) and
//! [`finish`](StreamDecoder::finish), concatenated, equal [`Tokenizer::decode`] of all the
//! ids, and every piece is whole characters. Bytes that can never become valid UTF-8 are
//! emitted as U+FFFD exactly where `decode` puts them (the same maximal-invalid-subpart rule
//! as `String::from_utf8_lossy`).
//!
//! For byte-level decoders (Qwen, SmolLM2, GPT-2, Llama 3: every tokenizer this crate builds
//! from GGUF) each step costs one token's bytes. Other decoders (e.g. SentencePiece with byte
//! fallback) are handled by re-decoding the ids and emitting the new text one token late, and
//! later still while byte-fallback tokens (`<0xE4>`) arrive, because `ByteFallback` turns a
//! whole run of byte tokens into U+FFFD when the run is not valid UTF-8. That costs O(n) per
//! step, and the guarantee then assumes that a new id changes only the text of the id before
//! it and of a run of byte tokens, which holds for the common decoders.

use crate::Tokenizer;
use crate::error::Result;

/// Turns ids, one at a time, into text pieces that never split a character.
///
/// ```no_run
/// let tok = reasoning_tokenizer::Tokenizer::load("shared/qwen3")?;
/// let ids = tok.encode("Hi 😊")?;
/// let mut stream = tok.stream_decoder(false);
/// let mut out = String::new();
/// for &id in &ids {
///     if let Some(piece) = stream.step(id)? {
///         out.push_str(&piece);
///     }
/// }
/// out.push_str(&stream.finish());
/// assert_eq!(out, tok.decode(&ids, false)?);
/// # Ok::<(), reasoning_tokenizer::TokenizerError>(())
/// ```
#[derive(Debug)]
pub struct StreamDecoder<'a> {
    tokenizer: &'a Tokenizer,
    skip_special: bool,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Byte-level decoder: the bytes of an unfinished character.
    Bytes { pending: Vec<u8> },
    /// Any other decoder: every id so far and the length (bytes) of the text emitted.
    Text { ids: Vec<u32>, emitted: usize },
}

impl<'a> StreamDecoder<'a> {
    pub(crate) fn new(tokenizer: &'a Tokenizer, skip_special: bool) -> Self {
        let state = if tokenizer.byte_level {
            State::Bytes {
                pending: Vec::new(),
            }
        } else {
            State::Text {
                ids: Vec::new(),
                emitted: 0,
            }
        };
        Self {
            tokenizer,
            skip_special,
            state,
        }
    }

    /// Adds one id; returns the text it completes, or `None` while a character is unfinished
    /// (or the id was a skipped special token).
    ///
    /// An id outside the vocabulary is an error and leaves the decoder as it was.
    pub fn step(&mut self, id: u32) -> Result<Option<String>> {
        let tok = self.tokenizer;
        let token = tok
            .inner
            .id_to_token(id)
            .ok_or_else(|| tok.unknown_id(id))?;
        let piece = match &mut self.state {
            State::Bytes { pending } => {
                if !(self.skip_special && tok.inner.get_added_vocabulary().is_special_token(&token))
                {
                    pending.extend(token_bytes(&token));
                }
                take_complete(pending)
            }
            State::Text { ids, emitted } => {
                ids.push(id);
                let stable = stable_prefix(tok, ids, self.skip_special);
                let text = tok.decode(&ids[..stable], self.skip_special)?;
                let new = text.get(*emitted..).unwrap_or_default();
                let ready = new.trim_end_matches('\u{FFFD}');
                *emitted += ready.len();
                ready.to_string()
            }
        };
        Ok(Some(piece).filter(|p| !p.is_empty()))
    }

    /// Returns what is still held back: an unfinished character at the end becomes U+FFFD, as
    /// [`Tokenizer::decode`] writes it. Empty when nothing is pending.
    pub fn finish(self) -> String {
        match self.state {
            State::Bytes { pending } => String::from_utf8_lossy(&pending).into_owned(),
            State::Text { ids, emitted } => self
                .tokenizer
                .decode(&ids, self.skip_special)
                .ok()
                .and_then(|text| text.get(emitted..).map(str::to_string))
                .unwrap_or_default(),
        }
    }
}

/// How many leading ids decode to text that later ids will not change: all but the last id,
/// and, when that last id is a byte-fallback token (`<0xE4>`), not the run of byte tokens
/// before it either (`ByteFallback` turns a whole run into U+FFFD if it is not valid UTF-8).
/// Special tokens that `skip_special` drops are transparent: they neither count as the last
/// id nor end a run of byte tokens.
fn stable_prefix(tok: &Tokenizer, ids: &[u32], skip_special: bool) -> usize {
    let token = |id: u32| tok.inner.id_to_token(id).unwrap_or_default();
    let skipped = |id: u32| {
        skip_special
            && tok
                .inner
                .get_added_vocabulary()
                .is_special_token(&token(id))
    };
    let is_byte = |id: u32| {
        let t = token(id);
        t.len() == 6
            && t.starts_with("<0x")
            && t.ends_with('>')
            && t[3..5].bytes().all(|b| b.is_ascii_hexdigit())
    };
    let mut end = ids.len();
    while end > 0 && skipped(ids[end - 1]) {
        end -= 1;
    }
    let Some(&last) = end.checked_sub(1).map(|i| &ids[i]) else {
        return 0;
    };
    end -= 1;
    if is_byte(last) {
        while end > 0 && (is_byte(ids[end - 1]) || skipped(ids[end - 1])) {
            end -= 1;
        }
    }
    end
}

/// The bytes a byte-level decoder writes for one token: each character mapped back through
/// GPT-2's byte alphabet, or the token's own UTF-8 when some character is outside it (added
/// tokens such as `<think>` are plain text), as `tokenizers`' `ByteLevel` decoder does.
fn token_bytes(token: &str) -> Vec<u8> {
    let table = unicode_to_byte();
    token
        .chars()
        .map(|c| table.get(c as usize).copied().flatten())
        .collect::<Option<Vec<u8>>>()
        .unwrap_or_else(|| token.as_bytes().to_vec())
}

/// GPT-2's `bytes_to_unicode` inverted: `table[char] = Some(byte)`. Printable Latin-1 bytes map
/// to themselves; the other 68 bytes to U+0100.. in order.
fn unicode_to_byte() -> &'static [Option<u8>] {
    static TABLE: std::sync::OnceLock<Vec<Option<u8>>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let printable = |b: u8| {
            (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b)
        };
        let mut table = vec![None; 0x100 + 68];
        let mut next = 0x100;
        for b in 0..=255u8 {
            if printable(b) {
                table[b as usize] = Some(b);
            } else {
                table[next] = Some(b);
                next += 1;
            }
        }
        table
    })
}

/// Removes and returns the longest prefix of `pending` that decodes to whole characters; each
/// invalid byte run becomes one U+FFFD, an unfinished character at the end stays pending.
fn take_complete(pending: &mut Vec<u8>) -> String {
    let mut out = String::new();
    let mut rest: &[u8] = pending;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                rest = &[];
                break;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                // `valid_up_to` bytes are valid UTF-8 by definition.
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                match e.error_len() {
                    Some(n) => {
                        out.push('\u{FFFD}');
                        rest = &after[n..];
                    }
                    None => {
                        rest = after;
                        break;
                    }
                }
            }
        }
    }
    let keep = rest.len();
    pending.drain(..pending.len() - keep);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_alphabet_maps_space_and_newline_like_gpt2() {
        assert_eq!(token_bytes("Ġ"), b" ");
        assert_eq!(token_bytes("Ċ"), b"\n");
        assert_eq!(token_bytes("hello"), b"hello");
        // A character outside the alphabet: the token is taken as plain text.
        assert_eq!(token_bytes("<think>é中"), "<think>é中".as_bytes());
    }

    #[test]
    fn take_complete_holds_back_an_unfinished_character_only() {
        let smile = "😊".as_bytes();
        let mut pending = smile[..2].to_vec();
        assert_eq!(take_complete(&mut pending), "");
        pending.extend(&smile[2..]);
        pending.push(b'!');
        assert_eq!(take_complete(&mut pending), "😊!");
        assert!(pending.is_empty());
        // A lone continuation byte can never complete: it is replaced at once.
        let mut pending = vec![b'a', 0x98, b'b', 0xE4];
        assert_eq!(take_complete(&mut pending), "a\u{FFFD}b");
        assert_eq!(pending, vec![0xE4]);
    }
}
