//! Helpers shared by the integration tests: the assets folder, scratch folders, fixtures, and
//! a writer for small GGUF files with a hand-made vocabulary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use reasoning_tokenizer::{ChatMessage, ChatOptions, Tokenizer};
use serde_json::Value;

/// The `REASONING_ASSETS` folder, or `None` after printing why the calling test skips.
pub fn assets(test: &str) -> Option<PathBuf> {
    match std::env::var_os("REASONING_ASSETS") {
        Some(dir) if Path::new(&dir).is_dir() => Some(PathBuf::from(dir)),
        _ => {
            println!("skipped {test}: set REASONING_ASSETS to the shared assets folder to run it");
            None
        }
    }
}

/// A fresh, empty folder for one test.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("reasoning-tokenizer-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A committed fixture from `tests/fixtures/`.
pub fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// A fixture's list of token ids.
pub fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// Encodes the `text` of every case (at least 30) of the encode fixture `name`, runs `check` on
/// the case and its ids, and panics listing every case whose ids are not the reference's
/// `case[ids_key]` (introduced by `label` in the list: `expected`, `llama.cpp`).
pub fn assert_encodes_like(
    tok: &Tokenizer,
    name: &str,
    ids_key: &str,
    label: &str,
    check: impl Fn(&Value, &[u32]),
) {
    let fixture = fixture(name);
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 30);
    let mut failures = Vec::new();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let got = tok.encode(text).unwrap();
        if got != ids(&case[ids_key]) {
            failures.push(format!(
                "{text:?}: got {got:?}, {label} {:?}",
                ids(&case[ids_key])
            ));
        }
        check(case, &got);
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Renders every case of the chat fixture `name` (messages, generation prompt, thinking
/// switch) and asserts the text and ids transformers' `apply_chat_template` gave.
pub fn assert_chat_template_matches(tok: &Tokenizer, name: &str) {
    for case in fixture(name)["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let messages: Vec<ChatMessage> = serde_json::from_value(case["messages"].clone()).unwrap();
        let opts = ChatOptions {
            add_generation_prompt: case["add_generation_prompt"].as_bool().unwrap(),
            enable_thinking: case["enable_thinking"].as_bool(),
        };
        let text = tok.apply_chat_template(&messages, &opts).unwrap();
        assert_eq!(text, case["text"].as_str().unwrap(), "case {name}");
        assert_eq!(
            tok.encode_chat(&messages, &opts).unwrap(),
            ids(&case["ids"]),
            "case {name}"
        );
    }
}

/// GPT-2's byte alphabet: the symbol of each byte 0..=255, in byte order.
pub fn byte_alphabet() -> Vec<String> {
    let printable = |b: u8| {
        (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b)
    };
    let mut next = 0x100u32;
    (0..=255u8)
        .map(|b| {
            if printable(b) {
                char::from(b).to_string()
            } else {
                let c = char::from_u32(next).unwrap();
                next += 1;
                c.to_string()
            }
        })
        .collect()
}

/// The byte-level symbols of a UTF-8 string (`" the"` -> `"Ġthe"`).
pub fn symbols(text: &str) -> String {
    let alphabet = byte_alphabet();
    text.bytes()
        .map(|b| alphabet[b as usize].as_str())
        .collect()
}

/// A GGUF v3 metadata value.
pub enum Meta {
    Str(String),
    U32(u32),
    Bool(bool),
    Strs(Vec<String>),
    I32s(Vec<i32>),
}

/// Writes a GGUF v3 file with the given metadata and no tensors.
pub fn write_gguf(path: &Path, kvs: &[(&str, Meta)]) {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s.as_bytes());
    }
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend(0u64.to_le_bytes());
    out.extend((kvs.len() as u64).to_le_bytes());
    for (key, value) in kvs {
        string(&mut out, key);
        match value {
            Meta::Str(s) => {
                out.extend(8u32.to_le_bytes());
                string(&mut out, s);
            }
            Meta::U32(v) => {
                out.extend(4u32.to_le_bytes());
                out.extend(v.to_le_bytes());
            }
            Meta::Bool(b) => {
                out.extend(7u32.to_le_bytes());
                out.push(u8::from(*b));
            }
            Meta::Strs(items) => {
                out.extend(9u32.to_le_bytes());
                out.extend(8u32.to_le_bytes());
                out.extend((items.len() as u64).to_le_bytes());
                for s in items {
                    string(&mut out, s);
                }
            }
            Meta::I32s(items) => {
                out.extend(9u32.to_le_bytes());
                out.extend(5u32.to_le_bytes());
                out.extend((items.len() as u64).to_le_bytes());
                for v in items {
                    out.extend(v.to_le_bytes());
                }
            }
        }
    }
    std::fs::write(path, out).unwrap();
}

/// The ChatML template SmolLM2 ships, shortened (no default system prompt).
pub const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// Merges of the tiny vocabulary, as byte-level text pairs. They build " the", "12", two
/// spaces, "hello" and the first two bytes of every 4-byte emoji (F0 9F), so emoji are split
/// across tokens.
pub const TINY_MERGES: &[(&str, &str)] = &[
    (" ", "t"),
    ("h", "e"),
    (" t", "he"),
    ("1", "2"),
    (" ", " "),
    ("\u{F0}", "\u{9F}"),
];

/// The metadata of a tiny byte-level BPE vocabulary: 256 byte symbols, the merges of
/// [`TINY_MERGES`], the whole word `hello` (reachable only without merges), three control
/// tokens and one user-defined token. Ids: bytes 0..256, merges 256..262, `hello` 262,
/// `<|endoftext|>` 263, `<|im_start|>` 264 (BOS), `<|im_end|>` 265 (EOS), `<tool>` 266.
pub fn tiny_vocab(pre: Option<&str>) -> Vec<(&'static str, Meta)> {
    let mut tokens = byte_alphabet();
    let mut merges = Vec::new();
    for (a, b) in TINY_MERGES {
        let (a, b) = (symbols_of_latin1(a), symbols_of_latin1(b));
        merges.push(format!("{a} {b}"));
        tokens.push(format!("{a}{b}"));
    }
    tokens.push("hello".into());
    let mut types = vec![1; tokens.len()];
    for special in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] {
        tokens.push(special.into());
        types.push(3);
    }
    tokens.push("<tool>".into());
    types.push(4);
    let n = tokens.len() as u32;
    let mut kvs = vec![
        ("tokenizer.ggml.model", Meta::Str("gpt2".into())),
        ("tokenizer.ggml.tokens", Meta::Strs(tokens)),
        ("tokenizer.ggml.merges", Meta::Strs(merges)),
        ("tokenizer.ggml.token_type", Meta::I32s(types)),
        ("tokenizer.ggml.bos_token_id", Meta::U32(n - 3)),
        ("tokenizer.ggml.eos_token_id", Meta::U32(n - 2)),
        ("tokenizer.chat_template", Meta::Str(CHATML.into())),
    ];
    if let Some(pre) = pre {
        kvs.push(("tokenizer.ggml.pre", Meta::Str(pre.into())));
    }
    kvs
}

/// Byte-level symbols of a string whose chars are all below U+0100, read as bytes (so
/// `"\u{F0}"` is the byte 0xF0, not the UTF-8 of `ð`).
fn symbols_of_latin1(s: &str) -> String {
    let alphabet = byte_alphabet();
    s.chars().map(|c| alphabet[c as usize].as_str()).collect()
}

/// Writes the tiny vocabulary as a GGUF file in a scratch folder and returns its path.
pub fn tiny_gguf(name: &str, pre: Option<&str>) -> PathBuf {
    let path = scratch_dir(name).join("tiny.gguf");
    write_gguf(&path, &tiny_vocab(pre));
    path
}
