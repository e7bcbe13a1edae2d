//! Prefill and decode throughput of a model on the CPU (burn-flex), batch 1 and batch N.
//!
//! `cargo run -p reasoning-model --example bench -- [SOURCE|smollm2-random] [prompt_len] [new_tokens] [batch] [f32|bf16]`
//!
//! Without a source it times a randomly initialised SmolLM2-135M (same shapes and cost as the
//! real model, no download needed). Decoding is greedy through the KV cache; timings include
//! reading each step's argmax back to the host, as generation does.
use std::time::Instant;

use burn::tensor::{Int, Tensor, TensorData};
use reasoning_model::hub::resolve;
use reasoning_model::{Config, DType, DeviceSpec, KvCache, Model};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.into());
    let source = arg(0, "smollm2-random");
    let prompt_len: usize = arg(1, "128").parse()?;
    let new_tokens: usize = arg(2, "64").parse()?;
    let batch: usize = arg(3, "1").parse()?;
    let dtype: DType = arg(4, "f32").parse()?;
    let device = DeviceSpec::Cpu.device()?;
    let model = if source == "smollm2-random" {
        Model::init(&Config::smollm2_135m(), &device, 0).cast(dtype)
    } else {
        Model::load(resolve(&source)?.path(), &device, dtype)?
    };
    let vocab = model.config().vocab_size as i64;
    let ids: Vec<i64> = (0..batch * prompt_len)
        .map(|i| (i as i64 * 7919) % vocab)
        .collect();
    let prompt = Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, prompt_len]), &device);

    // Warm-up: one short prefill and step (allocations, thread pool).
    let mut cache = KvCache::new(model.config(), batch, 8, &device);
    let _ = model
        .forward_cached(prompt.clone().narrow(1, 0, 4), &mut cache)
        .argmax(1)
        .into_data();

    let mut cache = KvCache::new(model.config(), batch, prompt_len + new_tokens, &device);
    let start = Instant::now();
    let mut next = model.forward_cached(prompt, &mut cache).argmax(1);
    let _ = next.to_data();
    let prefill = start.elapsed().as_secs_f64();
    let start = Instant::now();
    for _ in 0..new_tokens {
        next = model.forward_cached(next, &mut cache).argmax(1);
        let _ = next.to_data(); // the host needs each token (stop checks, streaming)
    }
    let decode = start.elapsed().as_secs_f64();
    println!(
        "{source} {dtype} batch {batch}: prefill {prompt_len} tokens in {:.3} s ({:.0} tok/s); \
         decode {new_tokens} steps in {:.3} s ({:.1} ms/step, {:.1} tok/s)",
        prefill,
        (batch * prompt_len) as f64 / prefill,
        decode,
        decode * 1e3 / new_tokens as f64,
        (batch * new_tokens) as f64 / decode,
    );
    Ok(())
}
