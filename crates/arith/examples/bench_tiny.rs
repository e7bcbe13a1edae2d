//! Throughput of the tiny model's training and generation on this machine (burn-flex CPU).
//!
//! Measures, for the shipped recipe (`PretrainConfig::default()`, models/tiny-arith's
//! tokenizer, datasets/arith):
//! - SFT: seconds per optimizer step and input tokens per second, batch 32, grouped by length;
//! - generation: greedy and sampled (T=0.8, top-p 0.9) tokens per second for 64 test prompts
//!   in one batch, and for one prompt alone.
//!
//!     cargo run -p reasoning-arith --example bench_tiny [-- STEPS]

use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use reasoning_arith::targets::arithmetic_examples;
use reasoning_arith::task::read_jsonl;
use reasoning_arith::tiny::{PretrainConfig, tiny_config};
use reasoning_distill::sft::{
    AnswerStyle, SftData, SftRun, chat_prompt_ids, train_sft, turn_end_id,
};
use reasoning_inference::{Control, Decoding, GenerationConfig, SortedSampling, generate_batch};
use reasoning_model::{Device, Model};
use reasoning_tokenizer::Tokenizer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let steps: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tok = Tokenizer::load(root.join("models/tiny-arith"))?;
    let train_r = read_jsonl(&root.join("datasets/arith/train.jsonl"))?;
    let test_r = read_jsonl(&root.join("datasets/arith/test.jsonl"))?;
    let recipe = PretrainConfig::default();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let examples =
        arithmetic_examples(&tok, &train_r[..4000], recipe.reasoning_fraction, &mut rng)?;
    let config = tiny_config(&recipe.size, tok.vocab_size(), turn_end_id(&tok)?);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "tiny model {:?}, vocab {}, {threads} threads",
        recipe.size,
        tok.vocab_size()
    );

    // SFT steps (checkpoint only at the end, in a temporary folder).
    let dir = std::env::temp_dir().join(format!("bench-tiny-{}", std::process::id()));
    let mut sft = recipe.sft.clone();
    sft.total_steps = steps;
    sft.eval_every = 0;
    sft.checkpoint_every = 0;
    let model = Model::init(&config, &Device::flex().autodiff(), 1);
    let run = SftRun {
        dir: &dir,
        extra_files: vec![],
        resume: false,
        stop: None,
        collective: reasoning_train::collective::SINGLE,
    };
    let mut rates = Vec::new();
    let started = Instant::now();
    let outcome = train_sft(
        model,
        SftData {
            train: &examples,
            val: &[],
            pad_id: 0,
        },
        &sft,
        &run,
        &mut |p| {
            // Skip two warm-up steps (allocation, first touch of the buffers).
            if p.step > 2 {
                rates.push(p.metric("tokens_per_sec").unwrap_or(0.0));
            }
        },
    )?;
    let total = started.elapsed().as_secs_f64();
    rates.sort_by(f64::total_cmp);
    println!(
        "sft: {steps} steps of 32 examples in {total:.1} s ({:.3} s/step incl. final checkpoint), median {:.0} input tokens/s per step",
        total / steps as f64,
        rates.get(rates.len() / 2).copied().unwrap_or(0.0)
    );
    std::fs::remove_dir_all(&dir)?;

    // Generation with the trained-for-a-moment model (speed does not depend on the weights).
    let model = outcome.model.valid();
    let eos = tok.eos_token_ids().to_vec();
    let prompts: Vec<Vec<u32>> = test_r[..64]
        .iter()
        .map(|r| chat_prompt_ids(&tok, &r.problem, AnswerStyle::Reasoning))
        .collect::<Result<_, _>>()?;
    let sampled = Decoding::SampleSorted(SortedSampling {
        temperature: 0.8,
        top_p: 0.9,
    });
    for (name, batch, decoding) in [
        ("greedy, 1 prompt", 1, Decoding::Greedy),
        ("greedy, 64 prompts", 64, Decoding::Greedy),
        ("T=0.8 top-p 0.9, 64 prompts", 64, sampled),
    ] {
        let generation = GenerationConfig::greedy(64, &eos).with_decoding(decoding);
        let started = Instant::now();
        let out = generate_batch(
            &model,
            &prompts[..batch],
            1,
            &generation,
            std::slice::from_mut(&mut rng),
            |_| Control::Continue,
        )?;
        let secs = started.elapsed().as_secs_f64();
        let n: usize = out.generations.iter().map(|g| g.ids.len()).sum();
        println!(
            "generate {name}: {n} tokens in {secs:.2} s = {:.0} tokens/s",
            n as f64 / secs
        );
    }
    Ok(())
}
