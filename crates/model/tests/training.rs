//! The same forward pass trains: gradients flow through every parameter on an autodiff device.

mod common;

use burn::module::Module;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};
use reasoning_model::weights::NamedParam;
use reasoning_model::{Config, DType, Device, Model};

fn tiny(arch_qwen3: bool) -> Config {
    Config {
        vocab_size: 48,
        max_position_embeddings: 32,
        tie_word_embeddings: arch_qwen3,
        ..common::preset(arch_qwen3).shrunk(32, 40, 16)
    }
}

#[test]
fn backward_through_forward_gives_finite_nonzero_gradients_for_every_parameter() {
    for qwen3 in [true, false] {
        let device = Device::flex().autodiff();
        let config = tiny(qwen3);
        let model = Model::init(&config, &device, 3);
        let ids: Vec<i64> = (0..2 * 9).map(|i| (i * 7 % 48) as i64).collect();
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [2, 9]), &device);
        // Next-token cross-entropy on the first 8 positions.
        let inputs = tokens.clone().narrow(1, 0, 8);
        let targets = tokens.narrow(1, 1, 8).unsqueeze_dim::<3>(2);
        let logp = log_softmax(model.forward(inputs), 2);
        let loss = logp.gather(2, targets).mean().neg();
        let grads = loss.backward();
        for (name, param) in model.named_params() {
            let g: Vec<f32> = match param {
                NamedParam::Vector(p) => p.grad(&grads).map(|g| g.into_data()),
                NamedParam::Matrix(p) => p.grad(&grads).map(|g| g.into_data()),
            }
            .unwrap_or_else(|| panic!("{name}: no gradient"))
            .try_into_vec_as::<f32>()
            .unwrap();
            assert!(
                g.iter().all(|x| x.is_finite()),
                "{name}: non-finite gradient"
            );
            assert!(g.iter().any(|&x| x != 0.0), "{name}: all-zero gradient");
        }
        // The inference copy has no autodiff and gives the same logits.
        let copy = model.valid();
        let probe =
            Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 2, 3], [1, 3]), &copy.device());
        let a = common::values(copy.forward(probe.clone()));
        let b = common::values(model.forward(probe.to_device(&device)).without_autodiff());
        assert!(common::max_abs_diff(&a, &b) < 1e-6);
    }
}

#[test]
fn a_loaded_model_trains_on_an_autodiff_device() {
    // Two ways in: load on the autodiff device, or fork a plain model there and call train().
    let path = common::fixture("qwen3-tied");
    let device = Device::flex().autodiff();
    let direct = Model::load(&path, &device, DType::F32).unwrap();
    let plain = Model::load(&path, &Device::flex(), DType::F32).unwrap();
    let forked = plain.fork(&device).train();
    for model in [direct, forked] {
        let ids = TensorData::new(vec![1i64, 5, 9, 2], [1, 4]);
        let loss = model
            .forward(Tensor::<2, Int>::from_data(ids, &device))
            .square()
            .mean();
        let grads = loss.backward();
        let k_norm = model.model.layers[0].self_attn.k_norm.as_ref().unwrap();
        let g = k_norm.weight.grad(&grads).expect("k_norm gradient");
        let g = g.into_data().try_into_vec_as::<f32>().unwrap();
        assert!(g.iter().all(|x| x.is_finite()) && g.iter().any(|&x| x != 0.0));
    }
}

#[test]
fn model_and_cache_can_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Model>();
    send_sync::<reasoning_model::KvCache>();
}
