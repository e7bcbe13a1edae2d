//! Checkpoint and resume: N steps straight equal k steps + save + load + N − k steps, bit for
//! bit; parameter files refuse models they do not fit.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData, activation::relu};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reasoning_train::checkpoint::{load_module_weights, save_module_weights};
use reasoning_train::params::{load_params, param_data, save_params};
use reasoning_train::{
    AdamW, AdamWConfig, CheckpointModel, LrSchedule, RngState, TrainError, TrainerState,
    clip_grad_norm, latest_checkpoint, load_checkpoint, save_checkpoint,
};

#[derive(Module, Debug)]
struct Mlp {
    layers: Vec<Linear>,
}

impl Mlp {
    fn new(device: &Device) -> Self {
        Self {
            layers: vec![
                LinearConfig::new(4, 16).init(device),
                LinearConfig::new(16, 1).init(device),
            ],
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.layers[1].forward(relu(self.layers[0].forward(x)))
    }
}

impl CheckpointModel for Mlp {
    fn save_weights(&self, dir: &Path) -> Result<(), TrainError> {
        save_module_weights(self, dir)
    }
    fn load_weights(self, dir: &Path) -> Result<Self, TrainError> {
        load_module_weights(self, dir)
    }
}

const SCHEDULE: LrSchedule = LrSchedule::WarmupCosine {
    peak_lr: 1e-2,
    min_lr: 1e-3,
    warmup_steps: 3,
    total_steps: 12,
};

/// Trains from `step` to `end`, drawing each batch from `rng` (the "data order").
fn train(
    mut model: Mlp,
    optim: &mut AdamW,
    rng: &mut ChaCha8Rng,
    device: &Device,
    step: u64,
    end: u64,
) -> Mlp {
    for s in step..end {
        let xs: Vec<f32> = (0..32).map(|_| rng.random_range(-1.0..1.0)).collect();
        let ys: Vec<f32> = xs.chunks(4).map(|r| r.iter().sum::<f32>().sin()).collect();
        let x = Tensor::<2>::from_data(TensorData::new(xs, [8, 4]), device);
        let y = Tensor::<2>::from_data(TensorData::new(ys, [8, 1]), device);
        let loss = (model.forward(x) - y).powf_scalar(2.0).mean();
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        clip_grad_norm(&model, &mut grads, 0.5);
        model = optim.step(SCHEDULE.lr(s), model, grads);
    }
    model
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("reasoning-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn resumed_run_equals_straight_run_bit_for_bit() {
    let device = Device::flex().autodiff();
    let init = Mlp::new(&device);
    let config = AdamWConfig {
        weight_decay: 0.1,
        ..Default::default()
    };

    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut optim = AdamW::new(config).unwrap();
    let straight = train(init.clone(), &mut optim, &mut rng, &device, 0, 12);

    let root = scratch("resume");
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut optim = AdamW::new(config).unwrap();
    let half = train(init.clone(), &mut optim, &mut rng, &device, 0, 5);
    let state = TrainerState {
        step: 5,
        epoch: 0,
        position: 40,
        rng: RngState::capture(&rng),
        seconds: 1.5,
        extra: serde_json::json!({"note": "test"}),
    };
    let dir = root.join(reasoning_train::checkpoint::step_dir_name(5));
    save_checkpoint(
        &dir,
        &half,
        &optim,
        &state,
        &serde_json::json!({"lr": 1e-2}),
        &[],
    )
    .unwrap();
    drop((half, optim, rng));

    // A fresh model (different random init) proves the weights come from the checkpoint.
    let ckpt = load_checkpoint(
        &latest_checkpoint(&root).unwrap(),
        Mlp::new(&device),
        &device,
    )
    .unwrap();
    assert_eq!(ckpt.state, state);
    assert_eq!(ckpt.config["lr"], 1e-2);
    let (mut optim, mut rng) = (ckpt.optim, ckpt.state.rng.restore().unwrap());
    let resumed = train(
        ckpt.model,
        &mut optim,
        &mut rng,
        &device,
        ckpt.state.step,
        12,
    );

    let (a, b) = (param_data(&straight), param_data(&resumed));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, data) in &a {
        assert_eq!(data, &b[name], "parameter {name} differs after resume");
    }
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn resumed_parameters_still_train() {
    let device = Device::flex().autodiff();
    let root = scratch("grad");
    let model = Mlp::new(&device);
    save_params(&model, &root.join("p.safetensors")).unwrap();
    let loaded = load_params(Mlp::new(&device), &root.join("p.safetensors")).unwrap();
    let loss = loaded.forward(Tensor::<2>::ones([2, 4], &device)).sum();
    let grads = GradientsParams::from_grads(loss.backward(), &loaded);
    assert_eq!(grads.len(), 4, "every loaded parameter receives a gradient");
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn parameter_file_of_another_shape_is_refused_naming_the_tensor() {
    #[derive(Module, Debug)]
    struct Wide {
        layers: Vec<Linear>,
    }
    let device = Device::flex();
    let root = scratch("shape");
    let path = root.join("p.safetensors");
    let wide = Wide {
        layers: vec![
            LinearConfig::new(4, 32).init(&device),
            LinearConfig::new(32, 1).init(&device),
        ],
    };
    save_params(&wide, &path).unwrap();
    let err = load_params(Mlp::new(&device), &path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("layers.0.weight") && err.contains("[4, 32]") && err.contains("[4, 16]"),
        "{err}"
    );

    let one = Wide {
        layers: vec![LinearConfig::new(4, 16).init(&device)],
    };
    save_params(&one, &path).unwrap();
    let err = load_params(Mlp::new(&device), &path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"layers.1.bias\" is missing")
            || err.contains("\"layers.1.weight\" is missing"),
        "{err}"
    );
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn a_missing_checkpoint_folder_is_an_error_naming_it() {
    let device = Device::flex();
    let err = load_checkpoint(
        Path::new("/nonexistent/step-000001"),
        Mlp::new(&device),
        &device,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/step-000001"),
        "{err}"
    );
}
