//! The real Qwen3 tokenizer against Python `tokenizers` (ids, decode) and transformers
//! (`apply_chat_template`). Needs `REASONING_ASSETS`; fixtures from
//! `scripts/make_tokenizer_fixtures.py`.

mod common;

use reasoning_tokenizer::{ChatMessage, ChatOptions, Tokenizer};

fn qwen3(test: &str) -> Option<Tokenizer> {
    common::assets(test).map(|a| Tokenizer::load(a.join("qwen3")).unwrap())
}

#[test]
fn tricky_strings_encode_to_the_ids_python_tokenizers_gives() {
    let Some(tok) = qwen3("tricky_strings_encode_to_the_ids_python_tokenizers_gives") else {
        return;
    };
    common::assert_encodes_like(&tok, "qwen3_encode.json", "ids", "expected", |case, got| {
        let text = case["text"].as_str().unwrap();
        assert_eq!(
            tok.decode(got, false).unwrap(),
            case["decoded"].as_str().unwrap(),
            "{text:?}"
        );
        assert_eq!(
            tok.decode(got, true).unwrap(),
            case["decoded_skip_special"].as_str().unwrap(),
            "{text:?}"
        );
    });
}

#[test]
fn chat_template_renders_what_transformers_renders() {
    let Some(tok) = qwen3("chat_template_renders_what_transformers_renders") else {
        return;
    };
    common::assert_chat_template_matches(&tok, "qwen3_chat.json");
}

#[test]
fn special_ids_are_the_ones_qwen3_uses() {
    let Some(tok) = qwen3("special_ids_are_the_ones_qwen3_uses") else {
        return;
    };
    let im_end = tok.token_to_id("<|im_end|>").unwrap();
    assert_eq!(im_end, 151_645);
    assert_eq!(tok.eos_token_ids(), &[im_end]);
    assert_eq!(tok.pad_token_id(), tok.token_to_id("<|endoftext|>"));
    assert_eq!(tok.bos_token_id(), None);
    assert_eq!(tok.vocab_size(), 151_669);
    assert_eq!(tok.token_to_id("<think>"), Some(151_667));
    assert_eq!(tok.id_to_token(151_668).as_deref(), Some("</think>"));
    // No BOS: the first id of plain text is the text's own.
    assert_eq!(
        tok.encode("Hello").unwrap(),
        vec![tok.token_to_id("Hello").unwrap()]
    );
}

#[test]
fn thinking_switch_changes_only_the_generation_prompt() {
    let Some(tok) = qwen3("thinking_switch_changes_only_the_generation_prompt") else {
        return;
    };
    let messages = [ChatMessage::user("What is 2+2?")];
    let on = tok
        .apply_chat_template(&messages, &ChatOptions::generation())
        .unwrap();
    let off = tok
        .apply_chat_template(&messages, &ChatOptions::generation().thinking(false))
        .unwrap();
    assert!(on.ends_with("<|im_start|>assistant\n"));
    assert_eq!(off, format!("{on}<think>\n\n</think>\n\n"));
}
