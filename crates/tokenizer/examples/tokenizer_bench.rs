//! Measures the tokenizer on real text: load time, `encode`, `decode`, streaming decode and
//! chat-template rendering, over the 500 MATH-500 problems and their solutions.
//!
//! ```text
//! cargo run --release -p reasoning-tokenizer --example tokenizer_bench -- \
//!     ../shared/qwen3 ../shared/datasets/math500_test.json
//! ```
//!
//! The first argument is anything `Tokenizer::load` takes (a folder, tokenizer.json or .gguf).
//! `scripts/bench_tokenizer.py` measures the same steps with Python `tokenizers` and
//! transformers; `docs/tokenizer.md` lists both.

use std::time::Instant;

use reasoning_tokenizer::{ChatMessage, ChatOptions, Tokenizer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [tokenizer, dataset] = args.as_slice() else {
        return Err("usage: tokenizer_bench TOKENIZER MATH500_JSON".into());
    };
    let rows: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(dataset)?)?;
    let texts: Vec<String> = rows
        .iter()
        .flat_map(|r| [&r["problem"], &r["solution"]])
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let bytes: usize = texts.iter().map(String::len).sum();

    let t = Instant::now();
    let tok = Tokenizer::load(tokenizer)?;
    let load_s = t.elapsed().as_secs_f64();

    // Best of three runs for each step.
    let best = |f: &mut dyn FnMut() -> Result<(), Box<dyn std::error::Error>>| -> Result<f64, Box<dyn std::error::Error>> {
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let t = Instant::now();
            f()?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        Ok(best)
    };
    let mut ids = Vec::new();
    let encode_s = best(&mut || {
        ids = texts
            .iter()
            .map(|t| tok.encode(t))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(())
    })?;
    let n_tokens: usize = ids.iter().map(Vec::len).sum();
    let decode_s = best(&mut || {
        for seq in &ids {
            std::hint::black_box(tok.decode(seq, false)?);
        }
        Ok(())
    })?;
    let stream_s = best(&mut || {
        for seq in &ids {
            let mut dec = tok.stream_decoder(false);
            for &id in seq {
                std::hint::black_box(dec.step(id)?);
            }
            std::hint::black_box(dec.finish());
        }
        Ok(())
    })?;
    let chat_s = if tok.has_chat_template() {
        best(&mut || {
            for r in &rows {
                let messages = [ChatMessage::user(r["problem"].as_str().unwrap_or_default())];
                std::hint::black_box(
                    tok.apply_chat_template(&messages, &ChatOptions::generation())?,
                );
            }
            Ok(())
        })?
    } else {
        f64::NAN
    };

    println!(
        "tokenizer {tokenizer}: {} texts, {bytes} bytes, {n_tokens} tokens",
        texts.len()
    );
    println!("load            {:8.1} ms", load_s * 1e3);
    println!(
        "encode          {:8.1} ms  {:6.2} M tokens/s",
        encode_s * 1e3,
        n_tokens as f64 / encode_s / 1e6
    );
    println!(
        "decode          {:8.1} ms  {:6.2} M tokens/s",
        decode_s * 1e3,
        n_tokens as f64 / decode_s / 1e6
    );
    println!(
        "stream decode   {:8.1} ms  {:6.2} M tokens/s",
        stream_s * 1e3,
        n_tokens as f64 / stream_s / 1e6
    );
    println!(
        "chat template   {:8.1} ms  {:6.1} us/prompt",
        chat_s * 1e3,
        chat_s / rows.len() as f64 * 1e6
    );
    Ok(())
}
