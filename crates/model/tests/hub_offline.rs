//! Resolving a hub id without network or cache gives an error naming the alternatives.

use reasoning_model::ModelError;
use reasoning_model::hub::{Hub, RepoType};

#[test]
fn hub_id_without_network_or_cache_names_the_alternatives() {
    let tmp = tempfile::tempdir().unwrap();
    // An empty cache and an endpoint nobody listens on: no network, deterministically.
    let hub = Hub {
        endpoint: "http://127.0.0.1:9".into(),
        ..Hub::with_cache_dir(tmp.path())
    };
    let err = hub.resolve("Qwen/Qwen3-0.6B").unwrap_err();
    assert!(matches!(err, ModelError::Hub { .. }), "{err}");
    let msg = err.to_string();
    for needle in [
        "Qwen/Qwen3-0.6B",
        "config.json",
        ".gguf",
        "local HF folder",
        "huggingface-cli download",
    ] {
        assert!(msg.contains(needle), "missing {needle:?} in: {msg}");
    }
}

#[test]
fn offline_mode_uses_only_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = Hub {
        offline: true,
        ..Hub::with_cache_dir(tmp.path())
    };
    let err = hub
        .download_file("HuggingFaceH4/MATH-500", RepoType::Dataset, "test.jsonl")
        .unwrap_err();
    assert!(err.to_string().contains("HF_HUB_OFFLINE"), "{err}");
}

#[test]
fn cached_files_are_found_without_network() {
    // The HF cache layout: models--owner--name/{refs/main, snapshots/<rev>/<file>}.
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("models--Qwen--Qwen3-0.6B");
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "abc123").unwrap();
    let snapshot = repo.join("snapshots/abc123");
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::write(snapshot.join("config.json"), "{}").unwrap();
    let hub = Hub {
        offline: true,
        ..Hub::with_cache_dir(tmp.path())
    };
    let path = hub
        .download_file("Qwen/Qwen3-0.6B", RepoType::Model, "config.json")
        .unwrap();
    assert_eq!(path, snapshot.join("config.json"));
}
