//! The SmolLM2 GGUF vocabulary against llama.cpp's tokenizer (the reference) and transformers'
//! GGUF loader. Needs `REASONING_ASSETS`; fixtures from `scripts/make_tokenizer_fixtures.py`.

mod common;

use reasoning_tokenizer::Tokenizer;
use serde_json::Value;

const GGUF: &str = "models/SmolLM2-135M-Instruct.Q4_1.gguf";

fn smollm2(test: &str) -> Option<Tokenizer> {
    common::assets(test).map(|a| Tokenizer::load(a.join(GGUF)).unwrap())
}

#[test]
fn tricky_strings_encode_to_the_ids_llama_cpp_gives() {
    let Some(tok) = smollm2("tricky_strings_encode_to_the_ids_llama_cpp_gives") else {
        return;
    };
    let round_trip = |case: &Value, got: &[u32]| {
        let text = case["text"].as_str().unwrap();
        assert_eq!(
            tok.decode(got, false).unwrap(),
            text,
            "round trip of {text:?}"
        );
    };
    common::assert_encodes_like(
        &tok,
        "smollm2_encode.json",
        "llama_cpp_ids",
        "llama.cpp",
        round_trip,
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
        if tok.encode(text).unwrap() != common::ids(&case["transformers_ids"]) {
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
    // The fixture has no thinking switch (SmolLM2's template has none), and its prompt text
    // has no digits after whitespace runs, so transformers' ids apply too.
    common::assert_chat_template_matches(&tok, "smollm2_chat.json");
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
