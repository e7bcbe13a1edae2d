//! Saving in HF layout and loading back.

mod common;

use std::fs;

use common::{Reference, fixture, max_abs_diff, tokens, values};
use reasoning_model::hf::copy_files;
use reasoning_model::{DType, Device, Model};

#[test]
fn saved_checkpoint_loads_back_with_identical_logits() {
    let device = Device::flex();
    let tmp = tempfile::tempdir().unwrap();
    for name in ["qwen3-untied-bf16", "llama-tied"] {
        let model = Model::load(&fixture(name), &device, DType::F32).unwrap();
        let r = Reference::read(&fixture(name));
        let before = values(model.forward(tokens(&r.input_ids, &device)));
        let out = tmp.path().join(name);
        model.save_hf(&out, DType::F32).unwrap();
        let again = Model::load(&out, &device, DType::F32).unwrap();
        assert_eq!(again.config(), model.config());
        let after = values(again.forward(tokens(&r.input_ids, &device)));
        assert_eq!(before, after, "{name}");
    }
}

#[test]
fn bf16_save_rounds_weights_and_keeps_the_model_close() {
    // The bf16 fixture's weights are bf16 values already, so a bf16 save is exact for it.
    let device = Device::flex();
    let tmp = tempfile::tempdir().unwrap();
    let model = Model::load(&fixture("qwen3-untied-bf16"), &device, DType::F32).unwrap();
    let out = tmp.path().join("bf16");
    model.save_hf(&out, DType::BF16).unwrap();
    let size = fs::metadata(out.join("model.safetensors")).unwrap().len();
    let params = model.num_params() as u64;
    assert!(
        size < params * 2 + 8192,
        "bf16 file of {size} bytes for {params} parameters"
    );
    let config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["torch_dtype"], "bfloat16");
    assert_eq!(config["architectures"][0], "Qwen3ForCausalLM");
    let r = Reference::read(&fixture("qwen3-untied-bf16"));
    let again = Model::load(&out, &device, DType::F32).unwrap();
    let diff = max_abs_diff(
        &values(again.forward(tokens(&r.input_ids, &device))),
        &r.logits,
    );
    assert!(diff < 1e-4, "{diff}");
}

#[test]
fn saving_over_a_folder_replaces_weights_and_keeps_other_files() {
    let device = Device::flex();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ckpt");
    let llama = Model::load(&fixture("llama-tied"), &device, DType::F32).unwrap();
    let qwen = Model::load(&fixture("qwen3-tied"), &device, DType::F32).unwrap();
    qwen.save_hf(&out, DType::F32).unwrap();
    fs::write(out.join("tokenizer.json"), "{}").unwrap();
    llama.save_hf(&out, DType::F32).unwrap();
    assert_eq!(
        fs::read_to_string(out.join("tokenizer.json")).unwrap(),
        "{}"
    );
    assert_eq!(
        Model::load(&out, &device, DType::F32).unwrap().config(),
        llama.config()
    );
    // Nothing but the target is left next to it (no temporary or old folders).
    let siblings: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(siblings, vec![std::ffi::OsString::from("ckpt")]);
}

#[test]
fn copy_files_copies_named_files_and_names_a_missing_one() {
    let tmp = tempfile::tempdir().unwrap();
    let copied = copy_files(&fixture("llama-tied"), tmp.path(), &["config.json"]).unwrap();
    assert_eq!(copied, vec![tmp.path().join("config.json")]);
    let err = copy_files(&fixture("llama-tied"), tmp.path(), &["tokenizer.json"]).unwrap_err();
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
}

#[test]
fn open_resolves_a_local_spec_and_reports_its_path() {
    let device = Device::flex();
    let dir = fixture("llama-tied");
    let (model, path) = Model::open(dir.to_str().unwrap(), &device, DType::F32).unwrap();
    assert_eq!(path, reasoning_model::ModelPath::HfDir(dir));
    assert_eq!(model.config().num_hidden_layers, 2);
    let gguf = fixture("qwen3-tied.gguf");
    let (_, path) = Model::open(gguf.to_str().unwrap(), &device, DType::F32).unwrap();
    assert_eq!(path, reasoning_model::ModelPath::Gguf(gguf));
}
