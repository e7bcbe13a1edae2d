//! ARCHITECTURE.md's layer rules, checked against every `Cargo.toml` of the workspace: a crate
//! may depend (normally, for builds, or for its tests) only on the workspace crates its row of
//! `ALLOWED` names. A new crate is one more row; a new edge is a deliberate edit here and in
//! ARCHITECTURE.md.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The library crates that others build on, bottom layer first: each group of layers below
/// may build on a prefix of this list.
const LAYERS_UP: &[&str] = &[
    // What inference may build on: the model, the tokenizer, the GGUF reader, the verifier.
    "reasoning-gguf",
    "reasoning-model",
    "reasoning-tokenizer",
    "reasoning-verifier",
    // Then what a trainer may build on: inference and train.
    "reasoning-inference",
    "reasoning-train",
    // Then what the task family may build on: both trainers.
    "reasoning-grpo",
    "reasoning-distill",
];

/// What inference may build on: the model, the tokenizer, the GGUF reader, the verifier.
const BELOW_INFERENCE: &[&str] = LAYERS_UP.split_at(4).0;

/// What serving may build on: everything below inference, and inference (not train).
const BELOW_SERVING: &[&str] = LAYERS_UP.split_at(5).0;

/// What a trainer may build on: everything below inference, inference, and train.
const BELOW_TRAINERS: &[&str] = LAYERS_UP.split_at(6).0;

/// What the task family may build on: everything below the trainers, and both trainers.
const BELOW_TASKS: &[&str] = LAYERS_UP;

/// Each workspace package and the workspace packages it may depend on (ARCHITECTURE.md).
const ALLOWED: &[(&str, &[&str])] = &[
    // The GGUF reader knows neither model nor tokenizer.
    ("reasoning-gguf", &[]),
    // Model and tokenizer read GGUF and know nothing of each other.
    ("reasoning-model", &["reasoning-gguf"]),
    ("reasoning-tokenizer", &["reasoning-gguf"]),
    // The verifier is every RL step's reward: no model, no tokenizer, no burn.
    ("reasoning-verifier", &[]),
    ("reasoning-inference", BELOW_INFERENCE),
    // Training utilities use the model, not inference.
    ("reasoning-train", &["reasoning-gguf", "reasoning-model"]),
    // The trainers build on inference, verifier and train, and not on each other.
    ("reasoning-grpo", BELOW_TRAINERS),
    ("reasoning-distill", BELOW_TRAINERS),
    // Appendix F: MMLU and the judge use inference; the leaderboards use nothing.
    ("reasoning-eval", BELOW_TRAINERS),
    // Appendix G: the server and its client sit on inference, beside the trainers.
    ("reasoning-serve", BELOW_SERVING),
    // The task family sits above both trainers.
    ("reasoning-arith", BELOW_TASKS),
];

/// The workspace's manifests: `crates/*/Cargo.toml` and `xtask/Cargo.toml`.
fn manifests() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path().join("Cargo.toml"))
        .filter(|p| p.is_file())
        .collect();
    out.push(root.join("xtask/Cargo.toml"));
    out.sort();
    out
}

/// The package name and the workspace packages named in the dependency tables of a manifest.
fn edges(manifest: &Path) -> (String, BTreeSet<String>) {
    let text = std::fs::read_to_string(manifest).unwrap();
    let (mut name, mut deps, mut table) = (None, BTreeSet::new(), String::new());
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            table = line.trim_matches(['[', ']']).to_string();
            continue;
        }
        let key = line.split(['=', '.', ' ']).next().unwrap_or("");
        if table == "package" && key == "name" {
            name = line.split('"').nth(1).map(str::to_string);
        }
        if table.ends_with("dependencies") && key.starts_with("reasoning-") {
            deps.insert(key.to_string());
        }
    }
    let name = name.unwrap_or_else(|| panic!("{} has no package name", manifest.display()));
    (name, deps)
}

#[test]
fn every_dependency_edge_follows_the_layers_of_architecture_md() {
    let mut seen = Vec::new();
    for manifest in manifests() {
        let (name, deps) = edges(&manifest);
        seen.push(name.clone());
        if name == "xtask" {
            continue; // the binary wires everything together
        }
        let allowed = ALLOWED
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| {
                panic!(
                    "{}: package {name} has no row in the layer table of xtask/tests/layers.rs \
                     (add it there and in ARCHITECTURE.md)",
                    manifest.display()
                )
            })
            .1;
        for dep in &deps {
            assert!(
                allowed.contains(&dep.as_str()),
                "{}: {name} depends on {dep}, which ARCHITECTURE.md's layers do not allow \
                 (allowed: {allowed:?})",
                manifest.display()
            );
        }
    }
    assert!(seen.iter().any(|n| n == "reasoning-verifier"), "{seen:?}");
}

#[test]
fn a_dependency_on_a_higher_layer_is_caught() {
    let dir = std::env::temp_dir().join(format!("layers-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("Cargo.toml");
    let text = "[package]\nname = \"reasoning-model\"\n\n[dependencies]\n\
                reasoning-tokenizer.workspace = true\nburn = \"1\"\n";
    std::fs::write(&manifest, text).unwrap();
    let (name, deps) = edges(&manifest);
    assert_eq!(name, "reasoning-model");
    assert_eq!(
        deps.into_iter().collect::<Vec<_>>(),
        ["reasoning-tokenizer"]
    );
    let allowed = ALLOWED.iter().find(|(n, _)| *n == name).unwrap().1;
    assert!(!allowed.contains(&"reasoning-tokenizer"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn each_layer_group_ends_with_the_crate_its_doc_names_last() {
    assert_eq!(BELOW_INFERENCE.last(), Some(&"reasoning-verifier"));
    assert_eq!(BELOW_TRAINERS.last(), Some(&"reasoning-train"));
    assert_eq!(BELOW_TASKS.last(), Some(&"reasoning-distill"));
}
