//! Converts a model (HF folder, `.gguf` file, one of the book's `.pth` checkpoints or a hub id)
//! into an HF folder in f32 or bf16.
//!
//! `cargo run -p reasoning-model --example convert -- SOURCE OUT_DIR [f32|bf16]`
//!
//! GGUF weights are dequantised, so a Q4_1 GGUF becomes an f32 (or bf16) checkpoint that HF
//! transformers loads with `AutoModelForCausalLM.from_pretrained(OUT_DIR)`;
//! `scripts/check_hf_export.py` checks exactly that.
use std::path::Path;

use reasoning_model::hub::resolve;
use reasoning_model::{DType, DeviceSpec, Model};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [source, out, rest @ ..] = args.as_slice() else {
        return Err("usage: convert SOURCE OUT_DIR [f32|bf16]".into());
    };
    let dtype: DType = rest
        .first()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or_default();
    let device = DeviceSpec::Cpu.device()?;
    let resolved = resolve(source)?;
    let model = Model::load(resolved.path(), &device, DType::F32)?;
    model.save_hf(Path::new(out), dtype)?;
    println!(
        "{} ({} parameters) -> {out} ({dtype})",
        resolved.path().display(),
        model.num_params()
    );
    Ok(())
}
