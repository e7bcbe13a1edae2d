//! The decoder against HF transformers, on the tiny random checkpoints that
//! `scripts/make_model_fixtures.py` writes: logits to 1e-4, greedy continuations identical, and
//! every cached path (prefill + decode, left padding, repeated and selected rows, growth)
//! equal to the full forward pass.

mod common;

use common::{
    Reference, cached_greedy, fixture, load, max_abs_diff, reference_logits_diff, tokens, values,
};
use reasoning_model::{DType, Device, KvCache, Model};

const TOL: f32 = 1e-4;

/// Every fixture checkpoint: HF folders (f32, bf16 sharded) and GGUF copies.
const CHECKPOINTS: [(&str, &str); 5] = [
    ("qwen3-tied", "qwen3-tied"),
    ("qwen3-untied-bf16", "qwen3-untied-bf16"),
    ("llama-tied", "llama-tied"),
    ("qwen3-tied.gguf", "qwen3-tied"),
    ("llama-tied.gguf", "llama-tied"),
];

#[test]
fn logits_match_transformers_for_every_fixture() {
    let device = Device::flex();
    for (path, reference) in CHECKPOINTS {
        let model = load(path, &device);
        let r = Reference::read(&fixture(reference));
        let diff = reference_logits_diff(&model, &r, &device);
        assert!(diff < TOL, "{path}: max |Δlogit| = {diff}");
    }
}

#[test]
fn greedy_continuations_with_the_cache_equal_transformers() {
    let device = Device::flex();
    for (path, reference) in CHECKPOINTS {
        let model = load(path, &device);
        let r = Reference::read(&fixture(reference));
        let prompt_len = r.input_ids[0].len();
        let (generated, cache) = cached_greedy(&model, &r, &device);
        for (b, row) in generated.iter().enumerate() {
            assert_eq!(row[..], r.greedy_ids[b][prompt_len..], "{path}, row {b}");
        }
        // The cache holds the prompt and every generated token.
        assert_eq!(cache.len(), r.greedy_ids[0].len());
    }
}

#[test]
fn kv_cache_decode_matches_full_forward() {
    // Prefill 4 tokens, then feed the rest one at a time: every step's last-position logits
    // equal the full (uncached) forward's logits at that position.
    let device = Device::flex();
    for path in ["qwen3-tied", "llama-tied", "qwen3-untied-bf16"] {
        let model = load(path, &device);
        let r = Reference::read(&fixture(path));
        let full = values(model.forward(tokens(&r.input_ids, &device)));
        let seq = r.input_ids[0].len();
        let vocab = r.vocab;
        let at = |b: usize, t: usize| &full[(b * seq + t) * vocab..(b * seq + t + 1) * vocab];
        // A capacity of 2 forces the buffers to grow twice on the way.
        let mut cache = KvCache::new(model.config(), 2, 2, &device);
        let prefix: Vec<Vec<i64>> = r.input_ids.iter().map(|row| row[..4].to_vec()).collect();
        let mut last = values(model.forward_cached(tokens(&prefix, &device), &mut cache));
        for t in 3..seq {
            for b in 0..2 {
                let diff = max_abs_diff(&last[b * vocab..(b + 1) * vocab], at(b, t));
                assert!(diff < TOL, "{path}: row {b}, position {t}: {diff}");
            }
            if t + 1 < seq {
                let step: Vec<Vec<i64>> = r.input_ids.iter().map(|row| vec![row[t + 1]]).collect();
                last = values(model.forward_cached(tokens(&step, &device), &mut cache));
            }
        }
        assert!(cache.capacity() >= seq);
    }
}

#[test]
fn cached_hidden_states_of_a_whole_prompt_equal_the_uncached_ones() {
    let device = Device::flex();
    let model = load("qwen3-tied", &device);
    let r = Reference::read(&fixture("qwen3-tied"));
    let full = values(model.forward_hidden(tokens(&r.input_ids, &device)));
    let mut cache = KvCache::new(model.config(), 2, 64, &device);
    let cached = values(model.forward_hidden_cached(tokens(&r.input_ids, &device), &mut cache));
    assert!(max_abs_diff(&full, &cached) < 1e-5);
}

/// Runs `prompt` alone through the cache, then `steps` forced tokens; returns each step's
/// logits (prefill's last position first).
fn solo_run(model: &Model, prompt: &[i64], steps: &[i64], device: &Device) -> Vec<Vec<f32>> {
    let mut cache = KvCache::new(model.config(), 1, 16, device);
    let mut out = vec![values(
        model.forward_cached(tokens(&[prompt.to_vec()], device), &mut cache),
    )];
    for &s in steps {
        out.push(values(
            model.forward_cached(tokens(&[vec![s]], device), &mut cache),
        ));
    }
    out
}

#[test]
fn left_padded_batch_decodes_like_each_row_alone() {
    let device = Device::flex();
    for path in ["qwen3-tied", "llama-tied"] {
        let model = load(path, &device);
        let r = Reference::read(&fixture(path));
        let vocab = r.vocab;
        // Row 0 is the full prompt; row 1 keeps its last 6 tokens behind 4 pad tokens (id 0).
        let long = r.input_ids[0].clone();
        let short = r.input_ids[1][4..].to_vec();
        let mut padded_short = vec![0i64; 4];
        padded_short.extend(&short);
        let steps = [[5i64, 7], [11, 13], [17, 19]];

        let mut cache = KvCache::with_left_padding(model.config(), vec![0, 4], 4, &device);
        let mut batched = vec![values(
            model.forward_cached(tokens(&[long.clone(), padded_short], &device), &mut cache),
        )];
        for step in steps {
            let column: Vec<Vec<i64>> = step.iter().map(|&s| vec![s]).collect();
            batched.push(values(
                model.forward_cached(tokens(&column, &device), &mut cache),
            ));
        }
        let alone = [
            solo_run(&model, &long, &steps.map(|s| s[0]), &device),
            solo_run(&model, &short, &steps.map(|s| s[1]), &device),
        ];
        for (i, logits) in batched.iter().enumerate() {
            for (b, solo) in alone.iter().enumerate() {
                let diff = max_abs_diff(&logits[b * vocab..(b + 1) * vocab], &solo[i]);
                assert!(diff < TOL, "{path}: step {i}, row {b}: {diff}");
            }
        }
    }
}

#[test]
fn a_request_joining_a_running_batch_decodes_as_it_would_alone() {
    // Continuous batching: row A runs 3 steps alone, row B (shorter) is prefilled alone and
    // joins it (`concat`), both decode together, A leaves (`select_rows`), the padding only
    // B's side had is trimmed away, and B goes on. Every step equals each row's solo run.
    let device = Device::flex();
    for path in ["qwen3-tied", "llama-tied"] {
        let model = load(path, &device);
        let r = Reference::read(&fixture(path));
        let vocab = r.vocab;
        let a = r.input_ids[0].clone();
        let b = r.input_ids[1][5..].to_vec();
        let a_steps = [5i64, 7, 9, 11, 13];
        let b_steps = [17i64, 19, 23, 29];
        let a_solo = solo_run(&model, &a, &a_steps, &device);
        let b_solo = solo_run(&model, &b, &b_steps, &device);
        let check = |got: &[f32], want: &[f32], what: &str| {
            let diff = max_abs_diff(got, want);
            assert!(diff < TOL, "{path}: {what}: {diff}");
        };

        let mut cache_a = KvCache::new(model.config(), 1, 4, &device);
        check(
            &values(model.forward_cached(tokens(std::slice::from_ref(&a), &device), &mut cache_a)),
            &a_solo[0],
            "A prefill",
        );
        for (i, &s) in a_steps[..2].iter().enumerate() {
            let got = values(model.forward_cached(tokens(&[vec![s]], &device), &mut cache_a));
            check(&got, &a_solo[i + 1], "A alone");
        }
        let mut cache_b = KvCache::new(model.config(), 1, 32, &device);
        check(
            &values(model.forward_cached(tokens(std::slice::from_ref(&b), &device), &mut cache_b)),
            &b_solo[0],
            "B prefill",
        );
        let mut cache = cache_a.concat(cache_b);
        assert_eq!(cache.batch(), 2);
        assert_eq!(cache.left_pad()[0], 0);
        assert_eq!(cache.left_pad()[1], a.len() + 2 - b.len());
        for i in 0..2 {
            let column = vec![vec![a_steps[2 + i]], vec![b_steps[i]]];
            let got = values(model.forward_cached(tokens(&column, &device), &mut cache));
            check(&got[..vocab], &a_solo[3 + i], "A in the batch");
            check(&got[vocab..], &b_solo[1 + i], "B in the batch");
        }
        let before = cache.len();
        let mut cache = cache.select_rows(&[1]).trim_padding();
        assert_eq!(cache.left_pad(), &[0]);
        assert_eq!(cache.len(), before - (a.len() + 2 - b.len()));
        for i in 2..4 {
            let got =
                values(model.forward_cached(tokens(&[vec![b_steps[i]]], &device), &mut cache));
            check(&got, &b_solo[1 + i], "B after A left");
        }
    }
}

#[test]
fn repeat_rows_fans_one_prefill_out_and_select_rows_keeps_the_chosen_ones() {
    let device = Device::flex();
    let model = load("qwen3-tied", &device);
    let r = Reference::read(&fixture("qwen3-tied"));
    let vocab = r.vocab;
    let prompts = r.input_ids.clone();
    let mut cache = KvCache::new(model.config(), 2, 16, &device);
    model.forward_cached(tokens(&prompts, &device), &mut cache);
    // Rows become p0, p0, p0, p1, p1, p1; each continues with its own token.
    let mut cache = cache.repeat_rows(3);
    assert_eq!(cache.batch(), 6);
    let next = [3i64, 4, 5, 6, 7, 8];
    let column: Vec<Vec<i64>> = next.iter().map(|&s| vec![s]).collect();
    let logits = values(model.forward_cached(tokens(&column, &device), &mut cache));
    for (row, &token) in next.iter().enumerate() {
        let solo = solo_run(&model, &prompts[row / 3], &[token], &device);
        let diff = max_abs_diff(&logits[row * vocab..(row + 1) * vocab], &solo[1]);
        assert!(diff < TOL, "row {row}: {diff}");
    }
    // Keep rows 4 and 1 (p1 then p0), continue both with token 9.
    let mut cache = cache.select_rows(&[4, 1]);
    let logits = values(model.forward_cached(tokens(&[vec![9], vec![9]], &device), &mut cache));
    let expect = [
        solo_run(&model, &prompts[1], &[7, 9], &device),
        solo_run(&model, &prompts[0], &[4, 9], &device),
    ];
    for (b, solo) in expect.iter().enumerate() {
        let diff = max_abs_diff(&logits[b * vocab..(b + 1) * vocab], &solo[2]);
        assert!(diff < TOL, "selected row {b}: {diff}");
    }
}

#[test]
fn bf16_weights_track_the_transformers_bf16_forward() {
    let device = Device::flex();
    let model = Model::load(&fixture("qwen3-untied-bf16"), &device, DType::BF16).unwrap();
    assert_eq!(model.dtype(), DType::BF16);
    let r = Reference::read(&fixture("qwen3-untied-bf16"));
    let logits = values(model.forward(tokens(&r.input_ids, &device)));
    let bf16_ref = r.logits_bf16.as_ref().expect("bf16 reference");
    // bf16 keeps 8 significant bits; both sides round differently inside the matmuls.
    let diff_ref = max_abs_diff(&logits, bf16_ref);
    let diff_f32 = max_abs_diff(&logits, &r.logits);
    let spread = r.logits.iter().fold(0f32, |m, x| m.max(x.abs()));
    assert!(
        diff_ref < 0.05 * spread,
        "bf16 vs HF bf16: {diff_ref} (logits up to {spread})"
    );
    assert!(
        diff_f32 < 0.05 * spread,
        "bf16 vs HF f32: {diff_f32} (logits up to {spread})"
    );
}

#[test]
fn valid_copy_of_a_model_gives_the_same_logits() {
    let device = Device::flex();
    let model = load("llama-tied", &device);
    let r = Reference::read(&fixture("llama-tied"));
    let copy = burn::module::Module::valid(&model);
    let a = values(model.forward(tokens(&r.input_ids, &device)));
    let b = values(copy.forward(tokens(&r.input_ids, &device)));
    assert_eq!(a, b);
}

#[test]
fn selecting_no_rows_releases_the_cache() {
    let device = Device::flex();
    let model = load("llama-tied", &device);
    let r = Reference::read(&fixture("llama-tied"));
    let mut cache = KvCache::new(model.config(), 2, 16, &device);
    model.forward_cached(tokens(&r.input_ids, &device), &mut cache);
    let cache = cache.select_rows(&[]);
    assert_eq!(cache.batch(), 0);
}
