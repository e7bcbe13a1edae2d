//! Our dequantisation against llama.cpp's Python `gguf` package (`gguf.quants.dequantize`), on
//! fixtures written by `scripts/make_model_fixtures.py`:
//!
//! - `all_types.gguf`: one tensor of each supported type (F32, F16, BF16, Q8_0, Q4_0, Q4_1,
//!   Q4_K, Q6_K) with random blocks, and gguf-py's f32 values for each;
//! - `smollm2_dequant.json`: sums, sums of squares and sample values of every tensor of the
//!   real SmolLM2 GGUF (needs `REASONING_ASSETS`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reasoning_gguf::{GgmlType, GgufFile};
use safetensors::SafeTensors;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

#[test]
fn every_supported_type_dequantises_like_gguf_py() {
    let file = GgufFile::open(fixture("all_types.gguf")).unwrap();
    let bytes = std::fs::read(fixture("all_types_expected.safetensors")).unwrap();
    let expected = SafeTensors::deserialize(&bytes).unwrap();
    let mut seen = Vec::new();
    for info in file.tensors() {
        let (shape, values) = file.tensor_f32(&info.name).unwrap();
        let want = expected.tensor(&info.name).unwrap();
        assert_eq!(shape, want.shape(), "{}", info.name);
        let want: Vec<f32> = want
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        for (i, (a, b)) in values.iter().zip(&want).enumerate() {
            // gguf-py works in float32 numpy; products may round differently in the last bit.
            assert!(
                (a - b).abs() <= 1e-6 * b.abs().max(1e-3),
                "{} [{i}]: {a} vs {b}",
                info.name
            );
        }
        seen.push(info.ggml_type);
    }
    for ty in [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::BF16,
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q4K,
        GgmlType::Q6K,
    ] {
        assert!(seen.contains(&ty), "fixture lacks a {ty} tensor");
    }
}

#[derive(serde::Deserialize)]
struct Stats {
    #[serde(rename = "type")]
    ggml_type: String,
    shape: Vec<usize>,
    sum: f64,
    sum_sq: f64,
    sample_index: Vec<usize>,
    sample: Vec<f64>,
}

#[derive(serde::Deserialize)]
struct StatsFile {
    tensors: BTreeMap<String, Stats>,
}

#[test]
fn every_smollm2_tensor_dequantises_like_gguf_py() {
    let Some(assets) = std::env::var_os("REASONING_ASSETS") else {
        println!(
            "every_smollm2_tensor_dequantises_like_gguf_py: skipped, REASONING_ASSETS is not set"
        );
        return;
    };
    let path = Path::new(&assets).join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let file = GgufFile::open(&path).unwrap();
    let text = std::fs::read_to_string(fixture("smollm2_dequant.json")).unwrap();
    let reference: StatsFile = serde_json::from_str(&text).unwrap();
    assert_eq!(file.tensors().len(), reference.tensors.len());
    for info in file.tensors() {
        let want = &reference.tensors[&info.name];
        assert_eq!(info.ggml_type.name(), want.ggml_type, "{}", info.name);
        let (shape, values) = file.tensor_f32(&info.name).unwrap();
        assert_eq!(shape, want.shape, "{}", info.name);
        for (&i, &w) in want.sample_index.iter().zip(&want.sample) {
            // The JSON holds the f32 values as decimal f64; compare at f32 precision.
            assert_eq!(values[i], w as f32, "{} [{i}]", info.name);
        }
        let sum: f64 = values.iter().map(|&v| v as f64).sum();
        let sum_sq: f64 = values.iter().map(|&v| (v as f64) * (v as f64)).sum();
        assert!(
            (sum - want.sum).abs() <= 1e-9 * want.sum_sq.max(1.0),
            "{}: sum {sum} vs {}",
            info.name,
            want.sum
        );
        assert!(
            (sum_sq - want.sum_sq).abs() <= 1e-9 * want.sum_sq,
            "{}: sum_sq {sum_sq} vs {}",
            info.name,
            want.sum_sq
        );
    }
}
