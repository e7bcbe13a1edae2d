//! SFT: loss masking, the batched loss, the training loop, checkpoints and resume, on a tiny
//! Qwen3 and made-up addition problems (`common`).

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};
use common::{examples, tiny_model, tokenizer, tokenizer_files};
use reasoning_distill::DistillError;
use reasoning_distill::sft::{
    SftConfig, SftData, SftExample, SftRun, batch_loss, collate, evaluate_loss, train_sft,
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
    let tok = tokenizer();
    let device = Device::flex();
    let model = tiny_model(&device, 11);
    let examples = examples(&tok, 0, 3);
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
}

/// Trains `steps` steps in `dir`, optionally stopping after `stop_at` (Ctrl-C) or resuming.
fn run_sft(
    dir: &Path,
    steps: u64,
    resume: bool,
    stop_at: Option<u64>,
) -> reasoning_distill::sft::SftOutcome {
    let tok = tokenizer();
    let train_ex = examples(&tok, 0, 40);
    let val_ex = examples(&tok, 40, 8);
    let device = Device::flex().autodiff();
    let model = tiny_model(&device, 11);
    let stop = AtomicBool::new(false);
    let run = SftRun {
        dir,
        extra_files: tokenizer_files(),
        resume,
        stop: Some(&stop),
        collective: reasoning_train::collective::SINGLE,
    };
    let data = SftData {
        train: &train_ex,
        val: &val_ex,
        pad_id: 0,
    };
    let mut seen = Vec::new();
    let outcome = train_sft(model, data, &config(steps), &run, &mut |p| {
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

/// Trains `model` for 2 steps on 8 examples in `dir` (no validation, no extra files) and
/// returns the error the run must end with.
fn failed_run(dir: &Path, model: Model) -> DistillError {
    let train_ex = examples(&tokenizer(), 0, 8);
    let run = SftRun {
        dir,
        extra_files: vec![],
        resume: false,
        stop: None,
        collective: reasoning_train::collective::SINGLE,
    };
    let data = SftData {
        train: &train_ex,
        val: &[],
        pad_id: 0,
    };
    train_sft(model, data, &config(2), &run, &mut |_| {}).unwrap_err()
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
    let model = tiny_model(&Device::flex().autodiff(), 11).map(&mut Poison);
    let err = failed_run(&dir, model);
    assert!(
        matches!(
            err,
            DistillError::Train(TrainError::NonFinite {
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
    let err = failed_run(&dir, tiny_model(&Device::flex(), 11));
    assert!(err.to_string().contains("autodiff"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
