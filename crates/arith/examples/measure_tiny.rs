//! Measures a model folder on the arithmetic splits exactly as `cargo xtask pretrain-tiny` does
//! after training (greedy in both styles, sampled with self-consistency, pass@k on training
//! problems) and prints the report as JSON: the numbers of the model card's table.
//!
//!     cargo run -p reasoning-arith --example measure_tiny -- models/tiny-arith datasets/arith

use std::path::PathBuf;

use reasoning_arith::measure::{MeasureConfig, measure};
use reasoning_arith::task::read_jsonl;
use reasoning_model::{DType, Device, Model};
use reasoning_tokenizer::Tokenizer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 2 {
        return Err("usage: measure_tiny MODEL_DIR DATA_DIR".into());
    }
    let (dir, data) = (PathBuf::from(&args[0]), PathBuf::from(&args[1]));
    let tok = Tokenizer::load(&dir)?;
    let model = Model::load(&dir, &Device::flex(), DType::F32)?;
    let test = read_jsonl(&data.join("test.jsonl"))?;
    let train = read_jsonl(&data.join("train.jsonl"))?;
    let report = measure(&model, &tok, &test, &train, &MeasureConfig::default())?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
