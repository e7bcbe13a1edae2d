//! Bad checkpoints give errors that name the file and the tensor or field, never panics.

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use common::fixture;
use reasoning_model::{DType, Device, Model, ModelError};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

/// A copy of the tiny tied Qwen3 checkpoint whose tensors pass through `edit` first.
fn edited_checkpoint(
    dir: &Path,
    edit: impl FnOnce(&mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>),
) -> PathBuf {
    let src = fixture("qwen3-tied");
    let out = dir.join("ckpt");
    fs::create_dir_all(&out).unwrap();
    fs::copy(src.join("config.json"), out.join("config.json")).unwrap();
    let bytes = fs::read(src.join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    edit(&mut tensors);
    let views = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()));
    safetensors::serialize_to_file(
        views,
        None::<HashMap<String, String>>,
        &out.join("model.safetensors"),
    )
    .unwrap();
    out
}

fn load_err(path: &Path) -> ModelError {
    match Model::load(path, &Device::flex(), DType::F32) {
        Ok(_) => panic!("{} loaded, expected an error", path.display()),
        Err(e) => e,
    }
}

const Q_PROJ: &str = "model.layers.1.self_attn.q_proj.weight";

#[test]
fn missing_tensor_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = edited_checkpoint(tmp.path(), |t| t.retain(|(n, ..)| n != Q_PROJ));
    let err = load_err(&dir);
    assert!(
        matches!(&err, ModelError::MissingTensor { name, .. } if name == Q_PROJ),
        "{err}"
    );
    assert!(err.to_string().contains(Q_PROJ), "{err}");
}

#[test]
fn shape_mismatch_names_the_tensor_and_both_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = edited_checkpoint(tmp.path(), |t| {
        let q = t.iter_mut().find(|(n, ..)| n == Q_PROJ).unwrap();
        q.2 = vec![q.2[1], q.2[0]]; // [128, 32] stored as [32, 128]
    });
    let err = load_err(&dir).to_string();
    assert!(
        err.contains(Q_PROJ) && err.contains("[32, 128]") && err.contains("[128, 32]"),
        "{err}"
    );
}

#[test]
fn non_finite_values_are_refused_with_their_position() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = edited_checkpoint(tmp.path(), |t| {
        let q = t.iter_mut().find(|(n, ..)| n == Q_PROJ).unwrap();
        q.3[12..16].copy_from_slice(&f32::NAN.to_le_bytes());
    });
    let err = load_err(&dir);
    assert!(
        matches!(&err, ModelError::NonFinite { name, index: 3, .. } if name == Q_PROJ),
        "{err}"
    );
}

#[test]
fn unexpected_tensors_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = edited_checkpoint(tmp.path(), |t| {
        t.push((
            "model.layers.0.self_attn.q_proj.bias".into(),
            Dtype::F32,
            vec![2],
            vec![0; 8],
        ));
    });
    let err = load_err(&dir).to_string();
    assert!(
        err.contains("unexpected") && err.contains("q_proj.bias"),
        "{err}"
    );
}

#[test]
fn unsupported_tensor_dtype_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = edited_checkpoint(tmp.path(), |t| {
        let q = t.iter_mut().find(|(n, ..)| n == Q_PROJ).unwrap();
        q.1 = Dtype::I32;
    });
    let err = load_err(&dir).to_string();
    assert!(err.contains(Q_PROJ) && err.contains("I32"), "{err}");
}

#[test]
fn truncated_safetensors_file_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = edited_checkpoint(tmp.path(), |_| {});
    let weights = dir.join("model.safetensors");
    let bytes = fs::read(&weights).unwrap();
    fs::write(&weights, &bytes[..bytes.len() - 100]).unwrap();
    let err = load_err(&dir).to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("truncated"),
        "{err}"
    );
    // A file cut inside its header too.
    fs::write(&weights, &bytes[..5]).unwrap();
    let err = load_err(&dir).to_string();
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn malformed_config_json_names_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = edited_checkpoint(tmp.path(), |_| {});
    let config = fs::read_to_string(dir.join("config.json")).unwrap();
    let broken = config.replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": -2");
    assert_ne!(broken, config, "fixture config changed shape");
    fs::write(dir.join("config.json"), broken).unwrap();
    let err = load_err(&dir).to_string();
    assert!(
        err.contains("config.json") && err.contains("num_hidden_layers"),
        "{err}"
    );
}

#[test]
fn a_folder_without_config_is_not_a_model() {
    let tmp = tempfile::tempdir().unwrap();
    let err = load_err(tmp.path());
    assert!(matches!(err, ModelError::NotAModel { .. }), "{err}");
    let err = load_err(&tmp.path().join("absent"));
    assert!(err.to_string().contains("absent"), "{err}");
}

/// A copy of a fixture GGUF with `patch` applied to its bytes.
fn patched_gguf(dir: &Path, name: &str, patch: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = fs::read(fixture(name)).unwrap();
    patch(&mut bytes);
    let out = dir.join(name);
    fs::write(&out, bytes).unwrap();
    out
}

#[test]
fn gguf_with_wrong_magic_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = patched_gguf(tmp.path(), "llama-tied.gguf", |b| {
        b[..4].copy_from_slice(b"GGML")
    });
    let err = load_err(&path).to_string();
    assert!(
        err.contains("llama-tied.gguf") && err.contains("magic"),
        "{err}"
    );
}

#[test]
fn truncated_gguf_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = patched_gguf(tmp.path(), "llama-tied.gguf", |b| b.truncate(b.len() / 2));
    let err = load_err(&path).to_string();
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn gguf_tensor_of_an_unsupported_type_is_named() {
    // Rewrite the directory entry of blk.0.ffn_up.weight to type 6 (Q5_0).
    let tmp = tempfile::tempdir().unwrap();
    let path = patched_gguf(tmp.path(), "llama-tied.gguf", |b| {
        let name = b"blk.0.ffn_up.weight";
        let at = b
            .windows(name.len())
            .position(|w| w == name)
            .expect("tensor in directory");
        let dims_at = at + name.len();
        let n_dims = u32::from_le_bytes(b[dims_at..dims_at + 4].try_into().unwrap()) as usize;
        let type_at = dims_at + 4 + 8 * n_dims;
        b[type_at..type_at + 4].copy_from_slice(&6u32.to_le_bytes());
    });
    let err = load_err(&path).to_string();
    assert!(
        err.contains("blk.0.ffn_up.weight") && err.contains("Q5_0"),
        "{err}"
    );
}

#[test]
fn gguf_of_another_architecture_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    // "llama" -> "gemma" keeps the string length, so the file stays well-formed.
    let path = patched_gguf(tmp.path(), "llama-tied.gguf", |b| {
        let key = b"general.architecture";
        let at = b.windows(key.len()).position(|w| w == key).unwrap() + key.len() + 4 + 8;
        b[at..at + 5].copy_from_slice(b"gemma");
    });
    let err = load_err(&path).to_string();
    assert!(
        err.contains("general.architecture") && err.contains("gemma"),
        "{err}"
    );
}
