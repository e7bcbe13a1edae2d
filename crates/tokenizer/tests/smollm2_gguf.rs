//! The SmolLM2 GGUF vocabulary against llama.cpp's tokenizer (the reference) and transformers'
//! GGUF loader. Needs `REASONING_ASSETS`; fixtures from `scripts/make_tokenizer_fixtures.py`.

mod common;

use reasoning_tokenizer::{ChatMessage, ChatOptions, Tokenizer};
use serde_json::Value;

const GGUF: &str = "models/SmolLM2-135M-Instruct.Q4_1.gguf";

fn smollm2(test: &str) -> Option<Tokenizer> {
    common::assets(test).map(|a| Tokenizer::load(a.join(GGUF)).unwrap())
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn tricky_strings_encode_to_the_ids_llama_cpp_gives() {
    let Some(tok) = smollm2("tricky_strings_encode_to_the_ids_llama_cpp_gives") else {
        return;
    };
    let fixture = common::fixture("smollm2_encode.json");
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 30);
    let mut failures = Vec::new();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let got = tok.encode(text).unwrap();
        if got != ids(&case["llama_cpp_ids"]) {
            failures.push(format!(
                "{text:?}: got {got:?}, llama.cpp {:?}",
                ids(&case["llama_cpp_ids"])
            ));
        }
        assert_eq!(
            tok.decode(&got, false).unwrap(),
            text,
            "round trip of {text:?}"
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
fn transformers_gguf_loader_differs_only_where_it_skips_the_digit_split() {
    // transformers converts `tokenizer.ggml.pre = "smollm"` to the bare GPT-2 byte-level regex.
    // Without llama.cpp's `\p{N}` split, whitespace runs before a digit and non-ASCII numerals
    // (① ½ ²) are cut differently; everywhere else the two agree with us.
    let Some(tok) = smollm2("transformers_gguf_loader_differs_only_where_it_skips_the_digit_split")
    else {
        return;
    };
    let fixture = common::fixture("smollm2_encode.json");
    let mut differing = Vec::new();
    for case in fixture["cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        if tok.encode(text).unwrap() != ids(&case["transformers_ids"]) {
            differing.push(text);
        }
    }
    assert_eq!(
        differing,
        [
            "  12",
            "a   7 b\t\t9",
            "x  1  22   333",
            "ﬁ ligature ① ½ ² numerals"
        ]
    );
}

#[test]
fn chat_template_renders_what_transformers_renders() {
    let Some(tok) = smollm2("chat_template_renders_what_transformers_renders") else {
        return;
    };
    let fixture = common::fixture("smollm2_chat.json");
    for case in fixture["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let messages: Vec<ChatMessage> = serde_json::from_value(case["messages"].clone()).unwrap();
        let opts = ChatOptions {
            add_generation_prompt: case["add_generation_prompt"].as_bool().unwrap(),
            enable_thinking: None,
        };
        let text = tok.apply_chat_template(&messages, &opts).unwrap();
        assert_eq!(text, case["text"].as_str().unwrap(), "case {name}");
        // The prompt text has no digits after whitespace runs, so transformers' ids apply too.
        assert_eq!(
            tok.encode_chat(&messages, &opts).unwrap(),
            ids(&case["ids"]),
            "case {name}"
        );
    }
}

#[test]
fn special_ids_are_the_ones_the_gguf_names() {
    let Some(tok) = smollm2("special_ids_are_the_ones_the_gguf_names") else {
        return;
    };
    assert_eq!(tok.vocab_size(), 49_152);
    assert_eq!(tok.bos_token_id(), Some(1));
    assert_eq!(tok.eos_token_ids(), &[2]);
    assert_eq!(tok.pad_token_id(), Some(2));
    assert_eq!(tok.id_to_token(2).as_deref(), Some("<|im_end|>"));
    // add_bos_token is false: nothing is prepended.
    assert_eq!(tok.encode("Hello").unwrap(), vec![19_556]);
}
