//! Host-side cost of choosing one token from a Qwen3-sized logits row (151,936 ids): the
//! [`Sampler`] (linear-time selection of the head) against the reference filters (a full sort,
//! as the book's `top_p_filter` does), and the cost of reading a `[rows, vocab]` logits tensor
//! back from the device.
//!
//! `cargo run --release -p reasoning-inference --example sampler_bench`

use std::time::Instant;

use burn::tensor::{Device, Tensor};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reasoning_inference::sampling::{Sampler, SamplingParams, filtered_distribution};

const VOCAB: usize = 151_936;

fn main() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    // Logits shaped like a language model's: most ids far below a few likely ones.
    let logits: Vec<f32> = (0..VOCAB)
        .map(|i| {
            let base: f32 = rng.random_range(-4.0..4.0);
            if i % 5000 == 0 { base + 12.0 } else { base }
        })
        .collect();
    let reps = 50;
    for (name, params) in [
        ("temperature 0.9", SamplingParams::temperature(0.9)),
        (
            "T 0.9, top-p 0.9",
            SamplingParams::temperature(0.9).with_top_p(0.9),
        ),
        (
            "T 0.9, top-k 50",
            SamplingParams::temperature(0.9).with_top_k(50),
        ),
        (
            "T 0.9, min-p 0.05",
            SamplingParams::temperature(0.9).with_min_p(0.05),
        ),
    ] {
        let mut sampler = Sampler::new(params).unwrap();
        let mut draw_rng = ChaCha8Rng::seed_from_u64(1);
        let start = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(sampler.sample(&logits, &mut draw_rng));
        }
        let fast = start.elapsed().as_secs_f64() / reps as f64 * 1e3;
        let start = Instant::now();
        for _ in 0..5 {
            std::hint::black_box(filtered_distribution(&logits, &params));
        }
        let full = start.elapsed().as_secs_f64() / 5.0 * 1e3;
        println!("{name:<20} Sampler {fast:7.3} ms/token   full-sort reference {full:7.2} ms");
    }
    let device = Device::flex();
    for rows in [1usize, 8] {
        let t = Tensor::<2>::from_data(
            burn::tensor::TensorData::new(logits.repeat(rows), [rows, VOCAB]),
            &device,
        );
        let start = Instant::now();
        for _ in 0..reps {
            let v: Vec<f32> = t.clone().into_data().iter::<f32>().collect();
            std::hint::black_box(v);
        }
        let ms = start.elapsed().as_secs_f64() / reps as f64 * 1e3;
        let start = Instant::now();
        for _ in 0..reps {
            let v: Vec<f32> = t.clone().into_data().try_into_vec_as::<f32>().unwrap();
            std::hint::black_box(v);
        }
        let ms2 = start.elapsed().as_secs_f64() / reps as f64 * 1e3;
        let start = Instant::now();
        for _ in 0..reps {
            let d = t.clone().into_data();
            std::hint::black_box(d.as_slice::<f32>().unwrap()[0]);
        }
        let ms3 = start.elapsed().as_secs_f64() / reps as f64 * 1e3;
        println!(
            "read [{rows}, {VOCAB}] logits to the host: iter {ms:.3} ms, try_into_vec_as {ms2:.3} ms, as_slice {ms3:.3} ms"
        );
    }
}
