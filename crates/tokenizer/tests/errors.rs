//! Bad inputs give errors that name the file, key, field or id. Runs without assets.

mod common;

use std::path::Path;

use common::{Meta, scratch_dir, tiny_gguf, tiny_vocab, write_gguf};
use reasoning_tokenizer::{ChatMessage, ChatOptions, Tokenizer, TokenizerError};

/// A valid tokenizer.json folder (the tiny GGUF vocabulary saved by `tokenizers`).
fn json_dir(name: &str) -> std::path::PathBuf {
    let tok = Tokenizer::load(tiny_gguf(&format!("{name}-src"), Some("smollm"))).unwrap();
    let dir = scratch_dir(name);
    tok.as_tokenizers()
        .save(dir.join("tokenizer.json"), false)
        .unwrap();
    dir
}

fn message(err: TokenizerError) -> String {
    err.to_string()
}

#[test]
fn missing_file_error_names_the_path() {
    let err = Tokenizer::load("/no/such/tokenizer.json").unwrap_err();
    assert!(matches!(err, TokenizerError::Io { .. }));
    assert!(message(err).contains("/no/such/tokenizer.json"));
}

#[test]
fn folder_without_tokenizer_json_is_named() {
    let dir = scratch_dir("empty-folder");
    let msg = message(Tokenizer::load(&dir).unwrap_err());
    assert!(
        msg.contains(&*dir.to_string_lossy()) && msg.contains("no tokenizer.json"),
        "{msg}"
    );
}

#[test]
fn malformed_tokenizer_json_error_names_file_and_line() {
    let dir = scratch_dir("malformed-json");
    let path = dir.join("tokenizer.json");
    std::fs::write(&path, "{\n  \"model\": [1, 2,\n").unwrap();
    let err = Tokenizer::load(&path).unwrap_err();
    assert!(matches!(err, TokenizerError::Json { .. }), "{err}");
    let msg = message(err);
    assert!(
        msg.contains(&*path.to_string_lossy()) && msg.contains("line"),
        "{msg}"
    );
}

#[test]
fn json_that_is_not_a_tokenizer_is_rejected_by_name() {
    let path = scratch_dir("not-a-tokenizer").join("tokenizer.json");
    std::fs::write(&path, r#"{"hello": "world"}"#).unwrap();
    let err = Tokenizer::from_file(&path).unwrap_err();
    assert!(matches!(err, TokenizerError::Build { .. }), "{err}");
    assert!(message(err).contains(&*path.to_string_lossy()));
}

#[test]
fn malformed_tokenizer_config_is_named() {
    let dir = json_dir("bad-config");
    std::fs::write(dir.join("tokenizer_config.json"), "{\"chat_template\": 3}").unwrap();
    let msg = message(Tokenizer::load(&dir).unwrap_err());
    assert!(
        msg.contains("tokenizer_config.json") && msg.contains("chat_template"),
        "{msg}"
    );
    std::fs::write(
        dir.join("tokenizer_config.json"),
        "{\"eos_token\": \"<|nope|>\"}",
    )
    .unwrap();
    let msg = message(Tokenizer::load(&dir).unwrap_err());
    assert!(
        msg.contains("tokenizer_config.json")
            && msg.contains("eos_token")
            && msg.contains("<|nope|>"),
        "{msg}"
    );
}

#[test]
fn template_syntax_error_names_the_file_key_and_line() {
    let dir = json_dir("bad-template");
    let config = serde_json::json!({"chat_template": "{% for m in messages %}\n{{ m.content }\n{% endfor %}"});
    std::fs::write(dir.join("tokenizer_config.json"), config.to_string()).unwrap();
    let err = Tokenizer::load(&dir).unwrap_err();
    assert!(
        matches!(err, TokenizerError::TemplateSyntax { .. }),
        "{err}"
    );
    let msg = message(err);
    assert!(
        msg.contains("tokenizer_config.json key \"chat_template\"") && msg.contains("line 2"),
        "{msg}"
    );

    let path = scratch_dir("bad-gguf-template").join("t.gguf");
    let mut kvs: Vec<_> = tiny_vocab(None)
        .into_iter()
        .filter(|(k, _)| *k != "tokenizer.chat_template")
        .collect();
    kvs.push(("tokenizer.chat_template", Meta::Str("{% if %}".into())));
    write_gguf(&path, &kvs);
    let msg = message(Tokenizer::load(&path).unwrap_err());
    assert!(
        msg.contains("t.gguf key \"tokenizer.chat_template\""),
        "{msg}"
    );
}

#[test]
fn bad_generation_config_eos_id_is_named() {
    let dir = json_dir("bad-generation-config");
    std::fs::write(
        dir.join("generation_config.json"),
        r#"{"eos_token_id": [265, 99999]}"#,
    )
    .unwrap();
    let msg = message(Tokenizer::load(&dir).unwrap_err());
    assert!(
        msg.contains("generation_config.json") && msg.contains("99999"),
        "{msg}"
    );
    std::fs::write(
        dir.join("generation_config.json"),
        r#"{"eos_token_id": "two"}"#,
    )
    .unwrap();
    let msg = message(Tokenizer::load(&dir).unwrap_err());
    assert!(
        msg.contains("generation_config.json") && msg.contains("eos_token_id"),
        "{msg}"
    );
}

#[test]
fn gguf_without_tokenizer_keys_names_the_missing_key() {
    let path = scratch_dir("no-tokenizer-keys").join("weights-only.gguf");
    write_gguf(
        &path,
        &[("general.architecture", Meta::Str("llama".into()))],
    );
    let err = Tokenizer::load(&path).unwrap_err();
    assert!(matches!(err, TokenizerError::GgufKey { .. }), "{err}");
    let msg = message(err);
    assert!(
        msg.contains("weights-only.gguf") && msg.contains("tokenizer.ggml.model"),
        "{msg}"
    );

    let path = scratch_dir("no-tokens").join("t.gguf");
    write_gguf(&path, &[("tokenizer.ggml.model", Meta::Str("gpt2".into()))]);
    assert!(message(Tokenizer::load(&path).unwrap_err()).contains("tokenizer.ggml.tokens"));
}

/// The tiny vocabulary with one key replaced.
fn with_key(name: &str, key: &'static str, value: Meta) -> std::path::PathBuf {
    let path = scratch_dir(name).join("t.gguf");
    let mut kvs: Vec<_> = tiny_vocab(Some("smollm"))
        .into_iter()
        .filter(|(k, _)| *k != key)
        .collect();
    kvs.push((key, value));
    write_gguf(&path, &kvs);
    path
}

#[test]
fn unsupported_or_inconsistent_gguf_tokenizer_keys_are_named() {
    let cases = [
        (
            with_key("spm", "tokenizer.ggml.model", Meta::Str("llama".into())),
            "tokenizer.ggml.model",
            "\"llama\"",
        ),
        (
            with_key("pre", "tokenizer.ggml.pre", Meta::Str("mystery".into())),
            "tokenizer.ggml.pre",
            "\"mystery\"",
        ),
        (
            with_key(
                "merges",
                "tokenizer.ggml.merges",
                Meta::Strs(vec!["a b".into(), "ab".into()]),
            ),
            "tokenizer.ggml.merges",
            "entry 1",
        ),
        (
            with_key("types", "tokenizer.ggml.token_type", Meta::I32s(vec![1, 1])),
            "tokenizer.ggml.token_type",
            "2 entries",
        ),
        (
            with_key("eos", "tokenizer.ggml.eos_token_id", Meta::U32(5000)),
            "tokenizer.ggml.eos_token_id",
            "5000",
        ),
        (
            with_key(
                "dup",
                "tokenizer.ggml.tokens",
                Meta::Strs(vec!["a".into(), "a".into()]),
            ),
            "tokenizer.ggml.tokens",
            "twice",
        ),
    ];
    for (path, key, detail) in cases {
        let msg = message(Tokenizer::load(&path).unwrap_err());
        assert!(msg.contains(key) && msg.contains(detail), "{msg}");
    }
}

#[test]
fn missing_pre_key_means_llama_cpp_default() {
    let path = tiny_gguf("no-pre", None);
    let tok = Tokenizer::load(&path).unwrap();
    assert_eq!(
        tok.decode(&tok.encode("1234").unwrap(), false).unwrap(),
        "1234"
    );
}

#[test]
fn chat_without_template_and_unknown_ids_are_errors() {
    let dir = json_dir("no-template");
    let tok = Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    let err = tok
        .apply_chat_template(&[ChatMessage::user("hi")], &ChatOptions::generation())
        .unwrap_err();
    assert!(matches!(err, TokenizerError::NoChatTemplate { .. }));
    assert!(message(err).contains("tokenizer.json"));
    let err = tok.decode(&[1, 2, 1_000_000], false).unwrap_err();
    let msg = message(err);
    assert!(msg.contains("1000000") && msg.contains("267"), "{msg}");
    assert!(tok.stream_decoder(false).step(1_000_000).is_err());
}

#[test]
fn template_raise_exception_is_a_render_error() {
    let dir = json_dir("raise");
    let config = serde_json::json!({"chat_template": "{% if messages[0].role != 'user' %}{{ raise_exception('Conversations must start with a user turn') }}{% endif %}ok"});
    std::fs::write(dir.join("tokenizer_config.json"), config.to_string()).unwrap();
    let tok = Tokenizer::load(&dir).unwrap();
    assert_eq!(
        tok.apply_chat_template(&[ChatMessage::user("x")], &ChatOptions::default())
            .unwrap(),
        "ok"
    );
    let err = tok
        .apply_chat_template(&[ChatMessage::assistant("x")], &ChatOptions::default())
        .unwrap_err();
    let msg = message(err);
    assert!(
        msg.contains("must start with a user turn") && msg.contains("tokenizer_config.json"),
        "{msg}"
    );
}

#[test]
fn side_files_set_template_and_end_of_generation_ids() {
    let dir = json_dir("side-files");
    let config = serde_json::json!({
        "chat_template": common::CHATML,
        "eos_token": {"content": "<|endoftext|>", "special": true},
        "pad_token": "<|endoftext|>",
        "bos_token": null,
    });
    std::fs::write(dir.join("tokenizer_config.json"), config.to_string()).unwrap();
    std::fs::write(
        dir.join("generation_config.json"),
        r#"{"eos_token_id": [263, 264], "bos_token_id": 264}"#,
    )
    .unwrap();
    let tok = Tokenizer::load(&dir).unwrap();
    // eos_token 263, generation config 263 and 264, <|im_end|> 265 from the template.
    assert_eq!(tok.eos_token_ids(), &[263, 264, 265]);
    assert_eq!(tok.pad_token_id(), Some(263));
    assert_eq!(tok.bos_token_id(), Some(264));
    // chat_template.jinja wins over the config's template.
    std::fs::write(
        dir.join("chat_template.jinja"),
        "{{ messages[0].content | upper }}",
    )
    .unwrap();
    let tok = Tokenizer::load(&dir).unwrap();
    assert_eq!(
        tok.apply_chat_template(&[ChatMessage::user("hi")], &ChatOptions::default())
            .unwrap(),
        "HI"
    );
    assert!(Path::new(tok.chat_template().unwrap().origin()).ends_with("chat_template.jinja"));
}
