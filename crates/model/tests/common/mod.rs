//! Helpers shared by the integration tests: fixture paths, reference tensors, comparisons.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use burn::tensor::{Int, Tensor, TensorData};
use reasoning_model::{Config, DType, Device, KvCache, Model};
use safetensors::SafeTensors;

/// `crates/model/tests/fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

/// The preset of one of the two families: Qwen3-0.6B, or SmolLM2-135M (Llama).
pub fn preset(qwen3: bool) -> Config {
    if qwen3 {
        Config::qwen3_0_6b()
    } else {
        Config::smollm2_135m()
    }
}

/// What `scripts/make_model_fixtures.py` recorded from HF transformers for one tiny model.
pub struct Reference {
    /// `[batch, seq]` prompt ids.
    pub input_ids: Vec<Vec<i64>>,
    /// `[batch, seq, vocab]` logits of the full forward pass, flattened.
    pub logits: Vec<f32>,
    pub vocab: usize,
    /// `[batch, seq + new]` prompt plus greedy continuation.
    pub greedy_ids: Vec<Vec<i64>>,
    /// The bf16 forward's logits, for the bf16 checkpoint.
    pub logits_bf16: Option<Vec<f32>>,
}

impl Reference {
    pub fn read(dir: &Path) -> Self {
        let bytes = std::fs::read(dir.join("reference.safetensors")).expect("reference fixture");
        let st = SafeTensors::deserialize(&bytes).expect("valid reference safetensors");
        let ints = |name: &str| -> Vec<Vec<i64>> {
            let t = st.tensor(name).unwrap();
            let cols = t.shape()[1];
            let flat: Vec<i64> = t
                .data()
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
                .collect();
            flat.chunks(cols).map(<[i64]>::to_vec).collect()
        };
        let floats = |name: &str| -> Option<(Vec<f32>, Vec<usize>)> {
            let t = st.tensor(name).ok()?;
            let v = t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            Some((v, t.shape().to_vec()))
        };
        let (logits, shape) = floats("logits").unwrap();
        Reference {
            input_ids: ints("input_ids"),
            logits,
            vocab: shape[2],
            greedy_ids: ints("greedy_ids"),
            logits_bf16: floats("logits_bf16").map(|(v, _)| v),
        }
    }

    /// Reference logits of row `b` at position `t`.
    pub fn logits_at(&self, b: usize, t: usize) -> &[f32] {
        let seq = self.input_ids[0].len();
        let start = (b * seq + t) * self.vocab;
        &self.logits[start..start + self.vocab]
    }
}

/// Loads the fixture checkpoint `path` (an HF folder or a `.gguf` file) in f32 on `device`.
pub fn load(path: &str, device: &Device) -> Model {
    Model::load(&fixture(path), device, DType::F32).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Largest |Δlogit| between the full forward pass over the reference prompts and HF's logits.
pub fn reference_logits_diff(model: &Model, r: &Reference, device: &Device) -> f32 {
    let logits = values(model.forward(tokens(&r.input_ids, device)));
    max_abs_diff(&logits, &r.logits)
}

/// Greedy continuations of the two reference prompts through a KV cache of capacity 8 (so it
/// grows), as many tokens as HF generated; returns each row's new ids and the cache.
pub fn cached_greedy(model: &Model, r: &Reference, device: &Device) -> ([Vec<i64>; 2], KvCache) {
    let new = r.greedy_ids[0].len() - r.input_ids[0].len();
    let mut cache = KvCache::new(model.config(), 2, 8, device);
    let mut logits = model.forward_cached(tokens(&r.input_ids, device), &mut cache);
    let mut generated = [Vec::new(), Vec::new()];
    for _ in 0..new {
        let next: Tensor<2, Int> = logits.argmax(1);
        for (row, id) in generated.iter_mut().zip(ids(next.clone())) {
            row.push(id);
        }
        logits = model.forward_cached(next, &mut cache);
    }
    (generated, cache)
}

/// A `[rows, len]` token tensor.
pub fn tokens(rows: &[Vec<i64>], device: &Device) -> Tensor<2, Int> {
    let len = rows[0].len();
    let flat: Vec<i64> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), len]), device)
}

/// The values of a float tensor as f32.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}

/// Ids of an Int tensor.
pub fn ids<const D: usize>(t: Tensor<D, Int>) -> Vec<i64> {
    t.into_data().iter::<i64>().collect()
}

/// Largest absolute difference.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The shared assets folder, or `None` (after saying why the test skips).
pub fn assets(test: &str) -> Option<PathBuf> {
    match std::env::var_os("REASONING_ASSETS") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            println!("{test}: skipped, REASONING_ASSETS is not set");
            None
        }
    }
}

/// Every parameter's gradient after `backward()`, by name; panics on a parameter without one.
pub fn param_gradients(model: &Model, grads: &burn::tensor::Gradients) -> Vec<(String, Vec<f32>)> {
    use reasoning_model::weights::NamedParam;
    model
        .named_params()
        .into_iter()
        .map(|(name, param)| {
            let g = match param {
                NamedParam::Vector(p) => p.grad(grads).map(|g| g.into_data()),
                NamedParam::Matrix(p) => p.grad(grads).map(|g| g.into_data()),
            }
            .unwrap_or_else(|| panic!("{name}: no gradient"))
            .try_into_vec_as::<f32>()
            .unwrap();
            (name, g)
        })
        .collect()
}
