//! The real Qwen3 tokenizer against Python `tokenizers` (ids, decode) and transformers
//! (`apply_chat_template`). Needs `REASONING_ASSETS`; fixtures from
//! `scripts/make_tokenizer_fixtures.py`.

mod common;

use reasoning_tokenizer::{ChatMessage, ChatOptions, Tokenizer};
use serde_json::Value;

fn qwen3(test: &str) -> Option<Tokenizer> {
    common::assets(test).map(|a| Tokenizer::load(a.join("qwen3")).unwrap())
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn tricky_strings_encode_to_the_ids_python_tokenizers_gives() {
    let Some(tok) = qwen3("tricky_strings_encode_to_the_ids_python_tokenizers_gives") else {
        return;
    };
    let fixture = common::fixture("qwen3_encode.json");
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 30);
    let mut failures = Vec::new();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let got = tok.encode(text).unwrap();
        if got != ids(&case["ids"]) {
            failures.push(format!(
                "{text:?}: got {got:?}, expected {:?}",
                ids(&case["ids"])
            ));
        }
        assert_eq!(
            tok.decode(&got, false).unwrap(),
            case["decoded"].as_str().unwrap(),
            "{text:?}"
        );
        assert_eq!(
            tok.decode(&got, true).unwrap(),
            case["decoded_skip_special"].as_str().unwrap(),
            "{text:?}"
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn chat_template_renders_what_transformers_renders() {
    let Some(tok) = qwen3("chat_template_renders_what_transformers_renders") else {
        return;
    };
    let fixture = common::fixture("qwen3_chat.json");
    for case in fixture["cases"].as_array().unwrap() {
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
