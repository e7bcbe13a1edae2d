//! GRPO with your own reward, from the library's public steps: the embedded tiny model learns
//! to prefer short correct answers. `cargo run --release -p reasoning-grpo --example custom_reward -- 5`
use std::path::{Path, PathBuf};

use burn::module::Module;
use reasoning_grpo::step::{self, OldLogprobs, UpdateInputs};
use reasoning_grpo::{GrpoConfig, Reward, RewardInput, RewardScore, reward::Correctness};
use reasoning_inference::{LoadedModel, PromptBuilder};
use reasoning_model::{DType, Device};
use reasoning_train::AdamW;
use reasoning_verifier::datasets::{FieldMap, load_records};

/// A correct boxed answer earns `1 − len/200`: the shorter the reasoning, the more.
struct ShortAndCorrect;

impl Reward for ShortAndCorrect {
    fn name(&self) -> String {
        "short-and-correct".into()
    }

    fn score(&self, input: &RewardInput<'_>) -> Result<RewardScore, String> {
        let correct = Correctness { require_box: true }.score(input)?.total();
        let brevity = 1.0 - (input.ids.len() as f64 / 200.0).min(1.0);
        Ok(RewardScore::single("short-and-correct", correct * brevity))
    }
}

/// Runs `steps` GRPO steps of 4 problems × 8 rollouts and returns each step's mean reward.
pub fn run(root: &Path, steps: usize) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    let device = Device::flex().autodiff();
    let model_dir = root.join("models/tiny-arith");
    let lm = LoadedModel::load(&model_dir.to_string_lossy(), None, &device, DType::F32)?;
    let tok = &lm.tokenizer;
    let data = root.join("datasets/arith/train.jsonl");
    let records = load_records(&data, &FieldMap::default())?;
    let config = GrpoConfig {
        prompts_per_step: 4,
        ..GrpoConfig::tiny_arith()
    };
    let context = lm.model.config().max_position_embeddings;
    let records = &records[..steps * config.prompts_per_step];
    let prompts = step::prompt_ids(tok, &PromptBuilder::default(), records, context)?;
    let generation = config.rollout_generation(tok, &lm.model);
    let reference = lm.model.valid(); // the KL anchor
    let (mut model, mut optim) = (lm.model, AdamW::new(config.adamw)?);
    let mut rewards = Vec::new();
    for (s, batch) in prompts.chunks(config.prompts_per_step).enumerate() {
        let first = s * config.prompts_per_step;
        let picks: Vec<(usize, &[u32])> = (first..).zip(batch.iter().map(Vec::as_slice)).collect();
        let seed = config.seed + s as u64;
        let policy = model.valid();
        let mut sampled = step::sample_rollouts(&policy, tok, &picks, 8, &generation, seed)?;
        step::score_rollouts(&mut sampled.groups, records, &ShortAndCorrect, tok, false)?;
        step::assign_advantages(&mut sampled.groups, config.algorithm.advantage);
        let inputs = UpdateInputs {
            reference: Some(&reference),
            ..UpdateInputs::new(&sampled.groups, 1e-4, tok.pad_token_id().unwrap_or(0))
        };
        let mut old = OldLogprobs::default(); // only PPO-style epochs reuse it
        let (next, stats) = step::update_policy(model, &mut optim, &config, inputs, &mut old)?;
        model = next;
        let all: Vec<f64> = sampled.groups.iter().flat_map(|g| g.rewards()).collect();
        let mean = all.iter().sum::<f64>() / all.len() as f64;
        println!(
            "step {}: reward {mean:.3}, loss {:.4}",
            s + 1,
            stats.loss.loss
        );
        rewards.push(mean);
    }
    Ok(rewards)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let steps = std::env::args().nth(1).map_or(Ok(5), |s| s.parse())?;
    run(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."),
        steps,
    )
    .map(|_| ())
}
