//! A tiny model and a byte-level tokenizer with a ChatML template, built in a temporary folder
//! at test time: seeded random Qwen3 weights (2 layers, width 64) and 256 byte tokens plus
//! ChatML specials. Nothing is downloaded or committed.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use burn::tensor::{Int, Tensor, TensorData};
use reasoning_inference::LoadedModel;
use reasoning_model::{Config, DType, Device, Model};
use reasoning_tokenizer::Tokenizer;
use serde_json::{Value, json};

/// `<|endoftext|>`.
pub const ENDOFTEXT: u32 = 256;
/// `<|im_start|>`.
pub const IM_START: u32 = 257;
/// `<|im_end|>`, the end of a chat turn.
pub const IM_END: u32 = 258;
/// Ids the tokenizer knows (the model's embedding has a few more rows, as Qwen3's does).
pub const TOKENIZER_VOCAB: usize = 261;

/// A 2-layer Qwen3 with grouped-query attention (4 query heads share 2 K/V heads) over the
/// tokenizer's ids and 3 spare rows.
pub fn tiny_config() -> Config {
    Config::tiny_qwen3(264, IM_END)
}

/// The tiny model with seeded weights.
pub fn tiny_model(seed: u64) -> Model {
    Model::init(&tiny_config(), &Device::flex(), seed)
}

/// GPT-2's printable stand-in for each byte (byte-level BPE's alphabet).
fn byte_symbols() -> Vec<char> {
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || b >= 174;
    let mut extra = 0;
    (0u32..256)
        .map(|b| {
            if printable(b) {
                char::from_u32(b).unwrap()
            } else {
                extra += 1;
                char::from_u32(255 + extra).unwrap()
            }
        })
        .collect()
}

/// Writes `tokenizer.json` (256 byte tokens, no merges) and `tokenizer_config.json` (a ChatML
/// template with Qwen3's `enable_thinking` switch, EOS `<|im_end|>`) into `dir`.
pub fn write_tokenizer(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let vocab: serde_json::Map<String, Value> = byte_symbols()
        .into_iter()
        .enumerate()
        .map(|(i, c)| (c.to_string(), json!(i)))
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
            json!({
                "id": 256 + i, "content": s, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": i < 3
            })
        })
        .collect();
    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
            "ignore_merges": false, "vocab": vocab, "merges": []
        }
    });
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    let template = "{%- for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + \
                    message['content'] + '<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt \
                    %}{{ '<|im_start|>assistant\\n' }}{%- if enable_thinking is defined and \
                    enable_thinking is false %}{{ '<think>\\n\\n</think>\\n\\n' }}{%- endif %}{%- endif %}";
    let config = json!({
        "chat_template": template,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
    });
    std::fs::write(dir.join("tokenizer_config.json"), config.to_string()).unwrap();
}

/// A temporary folder holding the tokenizer files, kept alive with the returned guard.
pub fn tokenizer_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tok");
    write_tokenizer(&dir);
    (tmp, dir)
}

/// The tiny model with the byte tokenizer.
pub fn tiny_lm(seed: u64) -> LoadedModel {
    let (_guard, dir) = tokenizer_dir();
    let tokenizer = Tokenizer::load(&dir).unwrap();
    LoadedModel::assemble(tiny_model(seed), tokenizer, "tiny".into()).unwrap()
}

/// Logits of the full forward pass over `ids`, `[len, vocab]` as rows.
pub fn full_logits(model: &Model, ids: &[u32]) -> Vec<Vec<f32>> {
    let device = model.device();
    let data: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(data, [1, ids.len()]), &device);
    let logits = model.forward(tokens);
    let vocab = logits.dims()[2];
    let flat: Vec<f32> = logits.into_data().iter::<f32>().collect();
    flat.chunks(vocab).map(<[f32]>::to_vec).collect()
}

/// `log softmax(logits[t])[ids[t + 1]]` for every position but the last, in f64 on the host,
/// from the uncached forward pass: what the scoring functions must give.
pub fn direct_logprobs(model: &Model, ids: &[u32]) -> Vec<f64> {
    let logits = full_logits(model, ids);
    (0..ids.len() - 1)
        .map(|t| {
            let row = &logits[t];
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let lse = max
                + row
                    .iter()
                    .map(|&z| (z as f64 - max).exp())
                    .sum::<f64>()
                    .ln();
            row[ids[t + 1] as usize] as f64 - lse
        })
        .collect()
}

/// The book's `generate_text_basic`: no cache, a full forward pass per token, argmax.
pub fn naive_greedy(model: &Model, prompt: &[u32], max_new: usize, stop: &[u32]) -> Vec<u32> {
    let mut ids = prompt.to_vec();
    let mut out = Vec::new();
    for _ in 0..max_new {
        let logits = full_logits(model, &ids);
        let last = logits.last().unwrap();
        let next = reasoning_inference::sampling::argmax(last) as u32;
        out.push(next);
        if stop.contains(&next) {
            break;
        }
        ids.push(next);
    }
    out
}

/// `n` prompts of different lengths from the byte alphabet.
pub fn prompts(n: usize) -> Vec<Vec<u32>> {
    (0..n)
        .map(|i| {
            (0..(3 + 5 * i))
                .map(|t| ((t * 31 + i * 7) % 200 + 20) as u32)
                .collect()
        })
        .collect()
}

/// A float tolerance check with a message.
pub fn assert_close(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol, "{what}: {a} vs {b} (tolerance {tol})");
}

/// Whether this run may use the shared assets; prints why not.
pub fn assets(test: &str) -> Option<PathBuf> {
    match std::env::var_os("REASONING_ASSETS") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            println!("{test}: skipped, REASONING_ASSETS is not set");
            None
        }
    }
}

/// The dtype every test uses.
pub const F32: DType = DType::F32;
