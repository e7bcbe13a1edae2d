//! The book's `.pth` checkpoints through the command line: `convert` writes an HF folder that
//! generates exactly what the `.pth` file generates, `--model X.pth` works in any command with a
//! tokenizer beside it or given, and bad files or presets fail with errors that name them.

mod common;

use common::{ok, xtask};

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn book(name: &str) -> String {
    root()
        .join("crates/model/tests/fixtures/book-pth")
        .join(name)
        .display()
        .to_string()
}

/// The embedded model's tokenizer (512 ids, as many as the fixtures' vocabulary).
fn tokenizer() -> String {
    root().join("models/tiny-arith").display().to_string()
}

fn failed(out: &Output) -> String {
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn greedy(model: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "generate",
        "--model",
        model,
        "--prompt",
        "12+7=",
        "--max-new-tokens",
        "12",
        "--json",
    ];
    args.extend_from_slice(extra);
    serde_json::from_str(ok(&xtask(&args)).trim()).unwrap()
}

#[test]
fn a_converted_checkpoint_generates_what_the_pth_file_generates() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("converted");
    let out_s = out.to_str().unwrap();
    for (file, dtype) in [("tied/model.pth", "f32"), ("untied-bf16/model.pth", "bf16")] {
        let pth = book(file);
        let stdout = ok(&xtask(&[
            "convert",
            "--from",
            &pth,
            "--to",
            out_s,
            "--tokenizer",
            &tokenizer(),
            "--dtype",
            dtype,
        ]));
        assert_eq!(stdout.lines().last(), Some(out_s), "{stdout}");
        for name in ["config.json", "model.safetensors", "tokenizer.json"] {
            assert!(out.join(name).is_file(), "{name} missing");
        }
        let from_pth = greedy(&pth, &["--tokenizer", &tokenizer()]);
        let from_hf = greedy(out_s, &[]);
        assert_eq!(
            from_pth["generated_ids"], from_hf["generated_ids"],
            "{file}"
        );
        assert_eq!(from_pth["text"], from_hf["text"], "{file}");
        let config: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap())
                .unwrap();
        assert_eq!(config["model_type"], "qwen3");
        assert_eq!(config["tie_word_embeddings"], file.starts_with("tied"));
    }
}

#[test]
fn without_a_tokenizer_convert_says_so_and_generate_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("weights-only");
    let stdout = ok(&xtask(&[
        "convert",
        "--from",
        &book("tied/legacy.pth"),
        "--to",
        out.to_str().unwrap(),
    ]));
    assert!(stdout.contains("no tokenizer was found"), "{stdout}");
    assert!(out.join("model.safetensors").is_file());
    let err = failed(&xtask(&[
        "generate",
        "--model",
        &book("tied/model.pth"),
        "--prompt",
        "1",
    ]));
    assert!(err.contains("holds no tokenizer"), "{err}");
}

#[test]
fn bad_checkpoints_and_presets_are_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never");
    let err = failed(&xtask(&[
        "convert",
        "--from",
        &book("bad/code.pth"),
        "--to",
        out.to_str().unwrap(),
    ]));
    assert!(
        err.contains("bad/code.pth") && err.contains("posix.system"),
        "{err}"
    );
    assert!(!out.exists(), "nothing is written for a refused file");
    let err = failed(&xtask(&[
        "convert",
        "--from",
        &book("tied/model.pth"),
        "--to",
        out.to_str().unwrap(),
        "--config",
        "qwen3-0.6b",
    ]));
    assert!(
        err.contains("\"tok_emb.weight\" has shape [512, 32]"),
        "{err}"
    );
    let err = failed(&xtask(&[
        "generate",
        "--model",
        &book("tied/model.pth"),
        "--tokenizer",
        &tokenizer(),
        "--config",
        "qwen3-9b",
        "--prompt",
        "1",
    ]));
    assert!(err.contains("unknown preset \"qwen3-9b\""), "{err}");
    let err = failed(&xtask(&[
        "generate",
        "--config",
        "qwen3-0.6b",
        "--prompt",
        "1",
    ]));
    assert!(
        err.contains("only a .pth checkpoint takes a configuration"),
        "{err}"
    );
}
