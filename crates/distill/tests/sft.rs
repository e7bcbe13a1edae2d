//! SFT: example building, loss masking, the training loop, checkpoints and resume, on a tiny
//! Qwen3 and a tokenizer trained on 300 generated problems.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use reasoning_distill::arithmetic::{ArithRecord, SplitConfig, make_splits, records};
use reasoning_distill::sft::{
    AnswerStyle, SftConfig, SftData, SftExample, SftRun, arithmetic_examples, arithmetic_target,
    batch_loss, build_example, collate, evaluate_loss, train, turn_end_id,
};
use reasoning_distill::tiny::{
    PolishConfig, TinySize, build_tokenizer, phase3_examples, tiny_config,
};
use reasoning_model::{DType, Device, Model};
use reasoning_tokenizer::Tokenizer;
use reasoning_train::params::param_data;
use reasoning_train::{AdamWConfig, LrSchedule, TrainError};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("reasoning-distill-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn small_records() -> (Vec<ArithRecord>, Vec<ArithRecord>) {
    let config = SplitConfig {
        n_train: 300,
        n_val: 8,
        n_test: 8,
        ..SplitConfig::default()
    };
    let s = make_splits(&config).unwrap();
    (records(&s.train, "train"), records(&s.val, "val"))
}

fn tiny_model(tok: &Tokenizer, device: &Device) -> Model {
    let size = TinySize {
        hidden_size: 32,
        num_layers: 2,
        num_heads: 4,
        num_kv_heads: 2,
        head_dim: 8,
        intermediate_size: 48,
    };
    Model::init(
        &tiny_config(&size, tok.vocab_size(), turn_end_id(tok).unwrap()),
        device,
        11,
    )
}

fn config(total_steps: u64) -> SftConfig {
    SftConfig {
        total_steps,
        batch_size: 4,
        micro_batch_size: 2,
        workers: 1,
        schedule: LrSchedule::WarmupCosine {
            peak_lr: 3e-3,
            min_lr: 3e-4,
            warmup_steps: 1,
            total_steps,
        },
        adamw: AdamWConfig {
            weight_decay: 0.1,
            ..AdamWConfig::default()
        },
        max_grad_norm: Some(1.0),
        eval_every: 2,
        checkpoint_every: 2,
        seed: 5,
        group_by_length: true,
    }
}

#[test]
fn collate_masks_prompt_and_padding_and_weighs_each_example_equally() {
    // Example a: prompt [10, 11, 12], answer [13, 14]; example b: prompt [20], answer [21].
    let a = SftExample::new(vec![10, 11, 12], vec![13, 14]).unwrap();
    let b = SftExample::new(vec![20], vec![21]).unwrap();
    let device = Device::flex();
    let batch = collate(&[&a, &b], 0, 0.5, &device);
    let ints = |t: Tensor<2, Int>| {
        t.into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .unwrap()
    };
    // Inputs are ids[..L-1], right-padded with 0.
    assert_eq!(
        ints(batch.inputs.clone()),
        vec![10, 11, 12, 13, 20, 0, 0, 0]
    );
    // Scoring starts at min(P) - 1 = 0; a's answer targets sit at positions 2 and 3.
    assert_eq!(batch.start, 0);
    assert_eq!(ints(batch.targets.clone()), vec![0, 0, 13, 14, 21, 0, 0, 0]);
    let w = batch
        .weights
        .clone()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    assert_eq!(
        w,
        vec![0.0, 0.0, 0.25, 0.25, 0.5, 0.0, 0.0, 0.0],
        "each example's weights sum to 0.5"
    );
    assert_eq!((batch.answer_tokens, batch.tokens), (3, 5));
    // Without the short example, positions before P - 1 = 2 never reach the output head.
    let only_a = collate(&[&a], 0, 1.0, &device);
    assert_eq!(only_a.start, 2);
    assert_eq!(ints(only_a.targets), vec![13, 14]);
}

#[test]
fn an_example_without_answer_tokens_is_refused() {
    let err = SftExample::new(vec![1, 2], vec![]).unwrap_err().to_string();
    assert!(err.contains("0 answer tokens"), "{err}");
}

#[test]
fn batch_loss_is_the_mean_of_per_example_answer_token_cross_entropies() {
    let dir = scratch("loss");
    let (train_r, _) = small_records();
    let tok = build_tokenizer(&dir.join("tok"), &train_r, 300).unwrap();
    let device = Device::flex();
    let model = tiny_model(&tok, &device);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let examples = arithmetic_examples(&tok, &train_r[..3], 0.5, &mut rng).unwrap();
    let refs: Vec<&SftExample> = examples.iter().collect();
    let got =
        f64::from(batch_loss(&model, &collate(&refs, 0, 1.0 / 3.0, &device)).into_scalar::<f32>());
    // By hand: run each example alone, take -log p of every answer token, mean per example.
    let mut want = 0.0;
    for e in &examples {
        let l = e.ids.len();
        let ids: Vec<i64> = e.ids[..l - 1].iter().map(|&i| i as i64).collect();
        let logits = model.forward(Tensor::<2, Int>::from_data(
            TensorData::new(ids, [1, l - 1]),
            &device,
        ));
        let logp = log_softmax(logits, 2)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let v = tok.vocab_size();
        let nll: f64 = (e.prompt_len - 1..l - 1)
            .map(|t| -f64::from(logp[t * v + e.ids[t + 1] as usize]))
            .sum();
        want += nll / e.answer_len() as f64 / 3.0;
    }
    assert!((got - want).abs() < 1e-5, "batched {got} vs by hand {want}");
    // Two micro-batches with the full batch's scale sum to the same loss.
    let first =
        batch_loss(&model, &collate(&refs[..2], 0, 1.0 / 3.0, &device)).into_scalar::<f32>();
    let second =
        batch_loss(&model, &collate(&refs[2..], 0, 1.0 / 3.0, &device)).into_scalar::<f32>();
    assert!((f64::from(first + second) - want).abs() < 1e-5);
    // The validation loss is the same per-example mean.
    let val = evaluate_loss(&model, &examples, 0, 2).unwrap();
    assert!((val - want).abs() < 1e-5);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn examples_use_the_chat_template_and_end_with_the_turn_end_token() {
    let dir = scratch("examples");
    let (train_r, _) = small_records();
    let tok = build_tokenizer(&dir.join("tok"), &train_r, 300).unwrap();
    let eos = turn_end_id(&tok).unwrap();
    assert_eq!(tok.id_to_token(eos).as_deref(), Some("<|im_end|>"));
    let r = &train_r[0];
    for style in [AnswerStyle::Reasoning, AnswerStyle::Direct] {
        let target = arithmetic_target(r, style);
        let e = build_example(&tok, &r.problem, &target, style, eos).unwrap();
        let prompt = tok.decode(&e.ids[..e.prompt_len], false).unwrap();
        let answer = tok.decode(&e.ids[e.prompt_len..], false).unwrap();
        assert!(
            prompt.starts_with("<|im_start|>user\nYou are a helpful math assistant."),
            "{prompt}"
        );
        assert!(prompt.contains(&format!("Question:\n{}\n\nAnswer:<|im_end|>", r.problem)));
        match style {
            AnswerStyle::Reasoning => {
                assert!(prompt.ends_with("<|im_start|>assistant\n"), "{prompt:?}");
                assert_eq!(
                    answer,
                    format!(
                        "<think>\n{}\n</think>\n\n\\boxed{{{}}}<|im_end|>",
                        r.steps().join("\n"),
                        r.answer
                    )
                );
            }
            AnswerStyle::Direct => {
                assert!(
                    prompt.ends_with("<|im_start|>assistant\n<think>\n\n</think>\n\n"),
                    "{prompt:?}"
                );
                assert_eq!(answer, format!("\\boxed{{{}}}<|im_end|>", r.answer));
            }
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn phase_three_rewrites_the_drawn_share_of_reasoning_answers_with_an_empty_think_block() {
    let dir = scratch("phase3");
    let (train_r, _) = small_records();
    let tok = build_tokenizer(&dir.join("tok"), &train_r, 300).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let examples = arithmetic_examples(&tok, &train_r, 0.8, &mut rng).unwrap();
    let decode = |e: &SftExample| {
        (
            tok.decode(&e.ids[..e.prompt_len], false).unwrap(),
            tok.decode(&e.ids[e.prompt_len..], false).unwrap(),
        )
    };
    let run = |fraction: f64, max_level: u8, seed: u64| {
        let mut polish = PolishConfig::habit();
        polish.empty_think_fraction = fraction;
        polish.max_level = max_level;
        phase3_examples(
            &tok,
            &train_r,
            &examples,
            &polish,
            &mut ChaCha8Rng::seed_from_u64(seed),
        )
        .unwrap()
    };
    // Fraction 0 keeps every example; max_level drops the harder problems.
    assert_eq!(run(0.0, 5, 1), examples);
    let easy = run(0.0, 2, 1);
    let want: Vec<SftExample> = train_r
        .iter()
        .zip(&examples)
        .filter(|(r, _)| r.level <= 2)
        .map(|(_, e)| e.clone())
        .collect();
    assert!(!want.is_empty() && want.len() < examples.len());
    assert_eq!(easy, want);
    // Fraction 1 rewrites every reasoning answer, keeps its prompt and leaves direct ones.
    let all = run(1.0, 5, 1);
    assert_eq!(all.len(), examples.len());
    for ((r, before), after) in train_r.iter().zip(&examples).zip(&all) {
        let (prompt, answer) = decode(before);
        if answer.starts_with("<think>") {
            assert_eq!(decode(after).0, prompt);
            assert_eq!(
                decode(after).1,
                format!("<think>\n\n</think>\n\n\\boxed{{{}}}<|im_end|>", r.answer)
            );
        } else {
            assert_eq!(after, before);
        }
    }
    // A quarter: seeded, and near a quarter of the reasoning answers.
    let quarter = run(0.25, 5, 1);
    assert_eq!(quarter, run(0.25, 5, 1));
    assert_ne!(quarter, run(0.25, 5, 2));
    let reasoning = examples
        .iter()
        .filter(|e| decode(e).1.starts_with("<think>\n"))
        .count();
    let skipped = quarter
        .iter()
        .filter(|e| decode(e).1.starts_with("<think>\n\n</think>"))
        .count();
    assert!(
        (skipped as f64 / reasoning as f64 - 0.25).abs() < 0.1,
        "{skipped} of {reasoning} reasoning answers skipped"
    );
    // A fraction outside [0, 1] is refused by name.
    let mut bad = PolishConfig::habit();
    bad.empty_think_fraction = 1.5;
    let err = phase3_examples(&tok, &train_r, &examples, &bad, &mut rng).unwrap_err();
    assert!(
        err.to_string().contains("empty_think_fraction 1.5"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn tokenizer_training_is_deterministic_and_splits_digits() {
    let dir = scratch("tok");
    let (train_r, _) = small_records();
    build_tokenizer(&dir.join("a"), &train_r, 320).unwrap();
    let tok = build_tokenizer(&dir.join("b"), &train_r, 320).unwrap();
    for f in [
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    ] {
        let a = std::fs::read(dir.join("a").join(f)).unwrap();
        let b = std::fs::read(dir.join("b").join(f)).unwrap();
        assert!(a == b, "{f} differs between two trainings");
    }
    assert_eq!(tok.vocab_size(), 320);
    for (id, t) in [
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<think>",
        "</think>",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(tok.token_to_id(t), Some(id as u32), "{t}");
    }
    let ids = tok.encode("123 + 45 = 168").unwrap();
    let pieces: Vec<String> = ids.iter().map(|&i| tok.id_to_token(i).unwrap()).collect();
    assert_eq!(
        pieces
            .iter()
            .filter(|p| p.chars().any(|c| c.is_ascii_digit()))
            .count(),
        8,
        "{pieces:?}"
    );
    assert_eq!(tok.decode(&ids, false).unwrap(), "123 + 45 = 168");
    // <think> survives skip_special (it is an added, non-special token); <|im_end|> does not.
    let ids = tok
        .encode("<think>\n1 + 1 = 2\n</think><|im_end|>")
        .unwrap();
    assert_eq!(
        tok.decode(&ids, true).unwrap(),
        "<think>\n1 + 1 = 2\n</think>"
    );
    assert!(tok.eos_token_ids().contains(&2));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Trains `steps` steps in `dir`, optionally stopping after `stop_at` (Ctrl-C) or resuming.
fn run_sft(
    dir: &std::path::Path,
    steps: u64,
    resume: bool,
    stop_at: Option<u64>,
) -> reasoning_distill::sft::SftOutcome {
    let (train_r, val_r) = small_records();
    let tok = build_tokenizer(&dir.join("tok"), &train_r, 300).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let train_ex = arithmetic_examples(&tok, &train_r[..40], 0.8, &mut rng).unwrap();
    let val_ex = arithmetic_examples(&tok, &val_r, 0.8, &mut rng).unwrap();
    let device = Device::flex().autodiff();
    let model = tiny_model(&tok, &device);
    let stop = AtomicBool::new(false);
    let files = [
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    ]
    .map(|f| dir.join("tok").join(f))
    .to_vec();
    let run = SftRun {
        dir,
        extra_files: files,
        resume,
        stop: Some(&stop),
    };
    let data = SftData {
        train: &train_ex,
        val: &val_ex,
        pad_id: 0,
    };
    let mut seen = Vec::new();
    let outcome = train(model, data, &config(steps), &run, &mut |p| {
        seen.push(p.step);
        if Some(p.step) == stop_at {
            stop.store(true, Ordering::Relaxed);
        }
    })
    .unwrap();
    assert!(
        seen.windows(2).all(|w| w[1] == w[0] + 1),
        "one report per step: {seen:?}"
    );
    outcome
}

#[test]
fn two_step_run_writes_metrics_plot_and_a_checkpoint_that_loads_as_a_model() {
    let dir = scratch("e2e");
    let outcome = run_sft(&dir, 2, false, None);
    assert_eq!(outcome.steps, 2);
    assert!(outcome.train_loss.is_finite() && outcome.val_loss.is_some_and(f64::is_finite));
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "header and two rows:\n{csv}");
    assert!(csv.starts_with("step,epoch,lr,train_loss,val_loss,grad_norm"));
    assert!(dir.join("metrics.png").is_file());
    let ckpt = dir.join("checkpoints/step-000002");
    let loaded = Model::load(&ckpt, &Device::flex(), DType::F32).unwrap();
    let tok = Tokenizer::load(&ckpt).unwrap();
    assert_eq!(loaded.config().vocab_size, tok.vocab_size());
    let (a, b) = (param_data(&loaded), param_data(&outcome.model.valid()));
    assert_eq!(a.len(), b.len());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn interrupted_and_resumed_run_equals_the_straight_run() {
    let straight_dir = scratch("straight");
    let straight = run_sft(&straight_dir, 6, false, None);
    let dir = scratch("resumed");
    let first = run_sft(&dir, 6, false, Some(3));
    assert!(first.interrupted && first.steps == 3);
    assert!(
        dir.join("checkpoints/step-000003").is_dir(),
        "Ctrl-C writes a checkpoint"
    );
    let resumed = run_sft(&dir, 6, true, None);
    assert_eq!(resumed.steps, 6);
    let (a, b) = (param_data(&straight.model), param_data(&resumed.model));
    for (name, data) in &a {
        assert_eq!(data, &b[name], "{name} differs after resume");
    }
    // The metrics file continues without duplicated or missing steps.
    let steps: Vec<String> = std::fs::read_to_string(dir.join("metrics.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    assert_eq!(steps, ["1", "2", "3", "4", "5", "6"]);
    std::fs::remove_dir_all(straight_dir).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_non_finite_loss_stops_the_run_with_an_error_and_no_new_checkpoint() {
    struct Poison;
    impl ModuleMapper for Poison {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|t| t.mul_scalar(f32::NAN))
        }
    }
    let dir = scratch("nan");
    let (train_r, _) = small_records();
    let tok = build_tokenizer(&dir.join("tok"), &train_r, 300).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let train_ex = arithmetic_examples(&tok, &train_r[..8], 0.8, &mut rng).unwrap();
    let model = tiny_model(&tok, &Device::flex().autodiff()).map(&mut Poison);
    let run = SftRun {
        dir: &dir,
        extra_files: vec![],
        resume: false,
        stop: None,
    };
    let err = train(
        model,
        SftData {
            train: &train_ex,
            val: &[],
            pad_id: 0,
        },
        &config(2),
        &run,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            reasoning_distill::DistillError::Train(TrainError::NonFinite {
                what: "loss",
                step: 1,
                ..
            })
        ),
        "{err}"
    );
    assert!(!dir.join("checkpoints").exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_model_without_autodiff_is_refused() {
    let dir = scratch("noad");
    let (train_r, _) = small_records();
    let tok = build_tokenizer(&dir.join("tok"), &train_r, 300).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let train_ex = arithmetic_examples(&tok, &train_r[..8], 0.8, &mut rng).unwrap();
    let run = SftRun {
        dir: &dir,
        extra_files: vec![],
        resume: false,
        stop: None,
    };
    let err = train(
        tiny_model(&tok, &Device::flex()),
        SftData {
            train: &train_ex,
            val: &[],
            pad_id: 0,
        },
        &config(2),
        &run,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("autodiff"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn drill_sequences_pack_training_solution_lines_after_one_start_token() {
    use reasoning_distill::tiny::drill_examples;
    let dir = scratch("drill");
    let (train_r, _) = small_records();
    let tok = build_tokenizer(&dir.join("tok"), &train_r, 300).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let seqs = drill_examples(&tok, &train_r, 5, 64, &mut rng).unwrap();
    assert_eq!(seqs.len(), 5);
    let all_steps: std::collections::HashSet<&str> =
        train_r.iter().flat_map(|r| r.steps()).collect();
    for s in &seqs {
        assert_eq!(s.prompt_len, 1);
        assert_eq!(s.ids[0], tok.token_to_id("<|endoftext|>").unwrap());
        assert!(
            s.ids.len() <= 64 && s.ids.len() > 40,
            "{} tokens",
            s.ids.len()
        );
        let text = tok.decode(&s.ids[1..], false).unwrap();
        assert!(text.ends_with('\n'));
        for line in text.lines() {
            assert!(all_steps.contains(line), "{line:?} is not a training step");
        }
    }
    let err = drill_examples(&tok, &train_r, 1, 4, &mut rng)
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_tokens 4"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
