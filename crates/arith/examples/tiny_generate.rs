//! Greedy generation and logits of a model folder on test problems, as JSON Lines, for
//! `scripts/check_tiny_model.py` to compare against HF transformers.
//!
//! For each of the first `N` problems of a dataset: the chat prompt's ids (reasoning style),
//! the greedily generated ids (KV cache, up to the EOS), and the logits of a full forward pass
//! over prompt + generation at every generated position.
//!
//!     cargo run -p reasoning-arith --example tiny_generate -- models/tiny-arith datasets/arith/test.jsonl 3

use std::path::PathBuf;

use burn::tensor::{Int, Tensor, TensorData};
use reasoning_arith::task::read_jsonl;
use reasoning_distill::sft::{AnswerStyle, chat_prompt_ids};
use reasoning_inference::{Control, GenerationConfig, generate_batch};
use reasoning_model::{DType, Device, Model};
use reasoning_tokenizer::Tokenizer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 3 {
        return Err("usage: tiny_generate MODEL_DIR DATASET.jsonl N".into());
    }
    let (dir, data, n) = (
        PathBuf::from(&args[0]),
        PathBuf::from(&args[1]),
        args[2].parse::<usize>()?,
    );
    let tok = Tokenizer::load(&dir)?;
    let device = Device::flex();
    let model = Model::load(&dir, &device, DType::F32)?;
    let generation = GenerationConfig::greedy(128, tok.eos_token_ids());
    for record in read_jsonl(&data)?.iter().take(n) {
        let prompt = chat_prompt_ids(&tok, &record.problem, AnswerStyle::Reasoning)?;
        let out = generate_batch(
            &model,
            std::slice::from_ref(&prompt),
            1,
            &generation,
            &mut [],
            |_| Control::Continue,
        )?;
        let generated = &out.generations[0];
        let ids = generated.content_ids();
        // Logits of a plain forward pass over prompt + generation, at the generated positions.
        let all: Vec<i64> = prompt.iter().chain(ids).map(|&i| i as i64).collect();
        let len = all.len();
        let logits = model.forward(Tensor::<2, Int>::from_data(
            TensorData::new(all, [1, len]),
            &device,
        ));
        let values: Vec<f32> = logits.into_data().convert::<f32>().try_into_vec()?;
        let v = model.config().vocab_size;
        let rows: Vec<&[f32]> = (prompt.len() - 1..len)
            .map(|t| &values[t * v..(t + 1) * v])
            .collect();
        let line = serde_json::json!({
            "unique_id": record.unique_id,
            "prompt_ids": prompt,
            "generated_ids": ids,
            "finished": generated.hit_eos(),
            "text": tok.decode(ids, false)?,
            "logits": rows,
        });
        println!("{line}");
    }
    Ok(())
}
