//! A tiny Qwen3 (2 layers, width 64, seeded random weights) and a byte-level tokenizer with a
//! ChatML template, written to a temporary folder at test time, plus a handful of arithmetic
//! records. Nothing is downloaded or committed.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use reasoning_model::{Config, Device, Model};
use reasoning_tokenizer::Tokenizer;
use reasoning_verifier::datasets::Record;
use serde_json::{Value, json};

/// `<|im_end|>`: the end of a chat turn, the stop id.
pub const IM_END: u32 = 258;

/// A 2-layer Qwen3 with grouped-query attention over 256 bytes and 5 specials (+3 spare rows),
/// 512 positions.
pub fn tiny_config() -> Config {
    Config {
        max_position_embeddings: 512,
        ..Config::tiny_qwen3(264, IM_END)
    }
}

/// The tiny model with seeded weights on `device`.
pub fn tiny_model(seed: u64, device: &Device) -> Model {
    Model::init(&tiny_config(), device, seed)
}

/// Writes `tokenizer.json` (one token per byte, no merges; specials 256..=260) and
/// `tokenizer_config.json` (ChatML with the `enable_thinking` switch) into `dir`.
pub fn write_tokenizer(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    // GPT-2's printable stand-in for each byte.
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || b >= 174;
    let mut shift = 0;
    let vocab: serde_json::Map<String, Value> = (0u32..256)
        .map(|b| {
            let c = if printable(b) {
                char::from_u32(b).unwrap()
            } else {
                shift += 1;
                char::from_u32(255 + shift).unwrap()
            };
            (c.to_string(), json!(b))
        })
        .collect();
    let specials = [
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<think>",
        "</think>",
    ];
    let added: Vec<Value> = specials
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({"id": 256 + i, "content": s, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": i < 3})
        })
        .collect();
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true,
                            "use_regex": true});
    let tokenizer = json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": null, "pre_tokenizer": byte_level, "post_processor": null,
        "decoder": byte_level,
        "model": {"type": "BPE", "dropout": null, "unk_token": null,
                  "continuing_subword_prefix": null, "end_of_word_suffix": null,
                  "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": []}
    });
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    let template = "{%- for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + \
                    message['content'] + '<|im_end|>\\n' }}{%- endfor %}{%- if \
                    add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}";
    let config = json!({"chat_template": template, "eos_token": "<|im_end|>",
                        "pad_token": "<|endoftext|>"});
    std::fs::write(dir.join("tokenizer_config.json"), config.to_string()).unwrap();
}

/// The tokenizer files in a fresh temporary folder (kept alive by the guard).
pub fn tokenizer() -> (tempfile::TempDir, PathBuf, Tokenizer) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tok");
    write_tokenizer(&dir);
    let tok = Tokenizer::load(&dir).unwrap();
    (tmp, dir, tok)
}

/// `n` short arithmetic records in the datasets' layout.
pub fn records(n: usize, split: &str) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let (a, b) = (i % 7 + 1, i % 5 + 2);
            Record {
                problem: format!("What is {a} + {b}?"),
                answer: (a + b).to_string(),
                solution: None,
                level: Some(1),
                subject: Some("Arithmetic".into()),
                unique_id: Some(format!("{split}/{i}")),
            }
        })
        .collect()
}
