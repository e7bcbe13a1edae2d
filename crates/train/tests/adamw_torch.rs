//! AdamW and global-norm clipping against PyTorch (fixture from scripts/make_train_fixtures.py)
//! and against numbers worked by hand.

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use reasoning_train::{AdamW, AdamWConfig, clip_grad_norm, global_grad_norm};
use serde_json::Value;

#[derive(Module, Debug)]
struct Two {
    w: Param<Tensor<2>>,
    b: Param<Tensor<1>>,
}

fn matrix(v: &Value) -> (Vec<f32>, [usize; 2]) {
    let rows: Vec<Vec<f32>> = serde_json::from_value(v.clone()).unwrap();
    let shape = [rows.len(), rows[0].len()];
    (rows.into_iter().flatten().collect(), shape)
}

fn vector(v: &Value) -> Vec<f32> {
    serde_json::from_value(v.clone()).unwrap()
}

fn values<const D: usize>(p: &Param<Tensor<D>>) -> Vec<f32> {
    p.val().into_data().try_to_vec::<f32>().unwrap()
}

fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "{what}[{i}]: got {g}, torch {w}");
    }
}

#[test]
fn adamw_with_global_clipping_matches_torch_for_four_steps() {
    let fixture: Value = serde_json::from_str(include_str!("fixtures/adamw_torch.json")).unwrap();
    let device = Device::flex();
    let c = &fixture["config"];
    let (w, w_shape) = matrix(&fixture["init"]["w"]);
    let b = vector(&fixture["init"]["b"]);
    let mut model = Two {
        w: Param::from_data(TensorData::new(w, w_shape), &device),
        b: Param::from_data(TensorData::new(b.clone(), [b.len()]), &device),
    };
    let mut optim = AdamW::new(AdamWConfig {
        beta1: c["beta1"].as_f64().unwrap(),
        beta2: c["beta2"].as_f64().unwrap(),
        eps: c["eps"].as_f64().unwrap(),
        weight_decay: c["weight_decay"].as_f64().unwrap(),
    })
    .unwrap();
    let max_norm = c["max_norm"].as_f64().unwrap();
    for (i, step) in fixture["steps"].as_array().unwrap().iter().enumerate() {
        let (gw, gw_shape) = matrix(&step["grads"]["w"]);
        let gb = vector(&step["grads"]["b"]);
        let mut grads = GradientsParams::new();
        grads.register(
            model.w.id,
            Tensor::<2>::from_data(TensorData::new(gw, gw_shape), &device),
        );
        grads.register(
            model.b.id,
            Tensor::<1>::from_data(TensorData::new(gb.clone(), [gb.len()]), &device),
        );
        let norm = clip_grad_norm(&model, &mut grads, max_norm);
        let torch_norm = step["pre_clip_norm"].as_f64().unwrap();
        assert!(
            (norm - torch_norm).abs() <= 1e-6 * torch_norm,
            "step {i}: norm {norm} vs torch {torch_norm}"
        );
        if norm > max_norm {
            let after = global_grad_norm(&model, &grads);
            assert!(
                (after - max_norm).abs() < 1e-5,
                "step {i}: clipped norm {after}"
            );
        }
        model = optim.step(step["lr"].as_f64().unwrap(), model, grads);
        assert_close(
            &values(&model.w),
            &matrix(&step["params"]["w"]).0,
            1e-6,
            &format!("step {i} w"),
        );
        assert_close(
            &values(&model.b),
            &vector(&step["params"]["b"]),
            1e-6,
            &format!("step {i} b"),
        );
    }
    assert_eq!(optim.steps(), 4);
}

#[test]
fn first_adamw_step_moves_each_weight_by_lr_against_its_gradient_sign() {
    // With zero moments the bias-corrected update is g / |g| (up to eps), so
    // θ1 = θ0 (1 − ηλ) − η sign(g) = 1.0 · (1 − 0.1·0.01) − 0.1 = 0.899 for g = 0.5 and
    // −2.0 · 0.999 + 0.1 = −1.898 for g = −3.
    let device = Device::flex();
    let mut model = Two {
        w: Param::from_data(TensorData::new(vec![1.0f32, -2.0], [1, 2]), &device),
        b: Param::from_data(TensorData::new(vec![0.0f32], [1]), &device),
    };
    let mut grads = GradientsParams::new();
    grads.register(
        model.w.id,
        Tensor::<2>::from_data(TensorData::new(vec![0.5f32, -3.0], [1, 2]), &device),
    );
    let mut optim = AdamW::new(AdamWConfig::default()).unwrap();
    model = optim.step(0.1, model, grads);
    assert_close(&values(&model.w), &[0.899, -1.898], 1e-6, "w");
    assert_eq!(
        values(&model.b),
        vec![0.0],
        "no gradient, no update (and no decay)"
    );
}

#[test]
fn global_clipping_scales_all_tensors_by_one_factor() {
    // Gradients (3) and (4) have global norm 5; clipping to 1 scales both by 1/5, keeping the
    // direction, where per-tensor clipping would give (1) and (1).
    let device = Device::flex();
    let model = Two {
        w: Param::from_data(TensorData::new(vec![0.0f32], [1, 1]), &device),
        b: Param::from_data(TensorData::new(vec![0.0f32], [1]), &device),
    };
    let mut grads = GradientsParams::new();
    grads.register(
        model.w.id,
        Tensor::<2>::from_data(TensorData::new(vec![3.0f32], [1, 1]), &device),
    );
    grads.register(
        model.b.id,
        Tensor::<1>::from_data(TensorData::new(vec![4.0f32], [1]), &device),
    );
    let norm = clip_grad_norm(&model, &mut grads, 1.0);
    assert!((norm - 5.0).abs() < 1e-12);
    let w = grads
        .get::<2>(model.w.id)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let b = grads
        .get::<1>(model.b.id)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert_close(&w, &[0.6], 1e-6, "w grad");
    assert_close(&b, &[0.8], 1e-6, "b grad");
    // Below the threshold nothing changes.
    let norm = clip_grad_norm(&model, &mut grads, 10.0);
    assert!((norm - 1.0).abs() < 1e-6);
    let kept = grads
        .get::<1>(model.b.id)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert_eq!(kept, b, "gradients under the threshold are untouched");
}

#[test]
fn non_finite_gradients_give_a_non_finite_norm_and_are_left_alone() {
    let device = Device::flex();
    let model = Two {
        w: Param::from_data(TensorData::new(vec![0.0f32, 0.0], [1, 2]), &device),
        b: Param::from_data(TensorData::new(vec![0.0f32], [1]), &device),
    };
    let mut grads = GradientsParams::new();
    grads.register(
        model.w.id,
        Tensor::<2>::from_data(TensorData::new(vec![f32::NAN, 1.0], [1, 2]), &device),
    );
    let norm = clip_grad_norm(&model, &mut grads, 1.0);
    assert!(norm.is_nan());
    let err = reasoning_train::ensure_finite("gradient norm", 7, norm)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("non-finite gradient norm") && err.contains("step 7"),
        "{err}"
    );
}

#[test]
fn bad_hyper_parameters_are_refused_by_name() {
    let err = AdamW::new(AdamWConfig {
        beta2: 1.0,
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("AdamW beta2"), "{err}");
}
