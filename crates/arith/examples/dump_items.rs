//! Temporary: measure's six runs, every graded item, as JSON lines.
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use reasoning_arith::measure::{SampleConfig, sample_and_grade};
use reasoning_arith::task::read_jsonl;
use reasoning_distill::sft::AnswerStyle;
use reasoning_inference::{Decoding, SortedSampling};
use reasoning_model::{DType, Device, Model};
use reasoning_tokenizer::Tokenizer;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, data) = (PathBuf::from(&args[0]), PathBuf::from(&args[1]));
    let tok = Tokenizer::load(&dir)?;
    let model = Model::load(&dir, &Device::flex(), DType::F32)?;
    let test = read_jsonl(&data.join("test.jsonl"))?;
    let train = read_jsonl(&data.join("train.jsonl"))?;
    let mut rng = ChaCha8Rng::seed_from_u64(123);
    let t08 = Decoding::SampleSorted(SortedSampling {
        temperature: 0.8,
        top_p: 0.9,
    });
    let t1 = Decoding::SampleSorted(SortedSampling {
        temperature: 1.0,
        top_p: 1.0,
    });
    let runs = [
        (&test[..500], AnswerStyle::Reasoning, 1, Decoding::Greedy),
        (&test[..500], AnswerStyle::Direct, 1, Decoding::Greedy),
        (&test[..200], AnswerStyle::Reasoning, 5, t08),
        (&test[..200], AnswerStyle::Reasoning, 5, t1),
        (&train[..200], AnswerStyle::Reasoning, 1, Decoding::Greedy),
        (&train[..200], AnswerStyle::Reasoning, 8, t1),
    ];
    for (records, style, samples, sampling) in runs {
        let c = SampleConfig {
            style,
            samples,
            decoding: sampling,
            max_new_tokens: 96,
            batch_size: 64,
        };
        for item in sample_and_grade(&model, &tok, records, &c, &mut rng)? {
            println!(
                "{}",
                serde_json::to_string(&(
                    &item.unique_id,
                    &item.responses,
                    &item.tokens,
                    &item.correct
                ))?
            );
        }
    }
    Ok(())
}
