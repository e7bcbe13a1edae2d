//! Streaming decode: pieces are whole characters and concatenate to `decode` of all ids.

mod common;

use proptest::prelude::*;
use reasoning_tokenizer::Tokenizer;

/// Feeds `ids` one at a time; returns the pieces, `finish()` last.
fn stream(tok: &Tokenizer, ids: &[u32], skip_special: bool) -> Vec<String> {
    let mut dec = tok.stream_decoder(skip_special);
    let mut pieces: Vec<String> = ids.iter().filter_map(|&id| dec.step(id).unwrap()).collect();
    pieces.push(dec.finish());
    pieces
}

fn tiny() -> &'static Tokenizer {
    static TOK: std::sync::OnceLock<Tokenizer> = std::sync::OnceLock::new();
    TOK.get_or_init(|| Tokenizer::load(common::tiny_gguf("stream", Some("smollm"))).unwrap())
}

/// A tokenizer whose decoder is not byte-level: SentencePiece-style `▁` words with byte
/// fallback tokens `<0x00>`..`<0xFF>`, as Llama 2 and Mistral use.
fn byte_fallback() -> &'static Tokenizer {
    static TOK: std::sync::OnceLock<Tokenizer> = std::sync::OnceLock::new();
    TOK.get_or_init(|| {
        let mut vocab: Vec<(String, f64)> = vec![("<unk>".into(), 0.0)];
        vocab.extend((0..=255u8).map(|b| (format!("<0x{b:02X}>"), 0.0)));
        vocab.extend(["▁", "a", "b", "▁the", "中"].map(|t| (t.to_string(), -1.0)));
        let json = serde_json::json!({
            "version": "1.0",
            "added_tokens": [{"id": 262, "content": "</s>", "single_word": false, "lstrip": false,
                              "rstrip": false, "normalized": false, "special": true}],
            "normalizer": null,
            "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false},
            "post_processor": null,
            "decoder": {"type": "Sequence", "decoders": [
                {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                {"type": "ByteFallback"},
                {"type": "Fuse"}
            ]},
            "model": {"type": "Unigram", "unk_id": 0, "vocab": vocab, "byte_fallback": true}
        });
        let path = common::scratch_dir("byte-fallback").join("tokenizer.json");
        std::fs::write(&path, json.to_string()).unwrap();
        Tokenizer::from_file(&path).unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_ids_stream_to_exactly_the_full_decode(ids in prop::collection::vec(0u32..267, 0..40), skip in any::<bool>()) {
        let tok = tiny();
        let pieces = stream(tok, &ids, skip);
        prop_assert_eq!(pieces.concat(), tok.decode(&ids, skip).unwrap());
    }

    #[test]
    fn valid_text_streams_without_replacement_characters(text in "([a-z 0-9\n]|😊|🧮|👍🏽|中|文|é|<\\|im_end\\|>){0,24}") {
        let tok = tiny();
        let ids = tok.encode(&text).unwrap();
        let pieces = stream(tok, &ids, false);
        for piece in &pieces {
            prop_assert!(!piece.contains('\u{FFFD}'), "piece {:?} of {:?}", piece, text);
        }
        prop_assert_eq!(pieces.concat(), text);
    }

    #[test]
    fn non_byte_level_decoders_stream_to_the_full_decode(ids in prop::collection::vec(0u32..263, 0..30), skip in any::<bool>()) {
        let tok = byte_fallback();
        let pieces = stream(tok, &ids, skip);
        prop_assert_eq!(pieces.concat(), tok.decode(&ids, skip).unwrap());
    }
}

#[test]
fn an_emoji_split_over_tokens_is_emitted_once_complete() {
    let tok = tiny();
    let ids = tok.encode("😊").unwrap();
    assert!(ids.len() >= 2, "the tiny vocabulary splits emoji: {ids:?}");
    let mut dec = tok.stream_decoder(false);
    for &id in &ids[..ids.len() - 1] {
        assert_eq!(dec.step(id).unwrap(), None);
    }
    assert_eq!(
        dec.step(*ids.last().unwrap()).unwrap().as_deref(),
        Some("😊")
    );
    assert_eq!(dec.finish(), "");
}

#[test]
fn an_unfinished_character_at_the_end_becomes_one_replacement_character() {
    let tok = tiny();
    let ids = tok.encode("😊").unwrap();
    let head = &ids[..ids.len() - 1];
    assert_eq!(stream(tok, head, false).concat(), "\u{FFFD}");
    assert_eq!(tok.decode(head, false).unwrap(), "\u{FFFD}");
}

#[test]
fn qwen3_random_ids_stream_to_exactly_the_full_decode() {
    let Some(assets) = common::assets("qwen3_random_ids_stream_to_exactly_the_full_decode") else {
        return;
    };
    let tok = Tokenizer::load(assets.join("qwen3")).unwrap();
    let n = tok.vocab_size() as u32;
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(64));
    runner
        .run(
            &(prop::collection::vec(0..n, 0..48), any::<bool>()),
            |(ids, skip)| {
                prop_assert_eq!(
                    stream(&tok, &ids, skip).concat(),
                    tok.decode(&ids, skip).unwrap()
                );
                Ok(())
            },
        )
        .unwrap();
    for text in [
        "😊👍🏽🇺🇸 emoji",
        "👨\u{200d}👩\u{200d}👧 family",
        "中文分词测试：你好，世界！",
        "<think>\n日本語\n</think>",
    ] {
        let ids = tok.encode(text).unwrap();
        let pieces = stream(&tok, &ids, false);
        assert!(pieces.iter().all(|p| !p.contains('\u{FFFD}')), "{pieces:?}");
        assert_eq!(pieces.concat(), text);
    }
}
