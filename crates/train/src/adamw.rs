//! AdamW with PyTorch's defaults and update order, over any burn module.
//!
//! ```text
//! θ ← θ · (1 − η·λ)                          decoupled weight decay
//! m ← m + (1 − β1) · (g − m)                 first moment (torch's lerp)
//! v ← β2 · v + (1 − β2) · g²                 second moment
//! t ← t + 1
//! θ ← θ − (η / (1 − β1^t)) · m / (sqrt(v) / sqrt(1 − β2^t) + ε)
//! ```
//!
//! `θ` a parameter, `g` its gradient (after clipping, see [`crate::clip`]), `η` the learning
//! rate of this step, `λ` the weight decay, `t` the parameter's step count. Defaults are
//! torch's: `β1 = 0.9`, `β2 = 0.999`, `ε = 1e-8`, `λ = 0.01`; burn's own `AdamWConfig`
//! defaults to `ε = 1e-5`, `λ = 1e-4` instead.
//!
//! # Why not burn's optimizer
//!
//! burn's `ModuleOptimizer` keys its state by random [`ParamId`](burn::module::ParamId)s and
//! serialises it through its record system, which ties a saved state to one model instance. A
//! resumable trainer needs the moments keyed by something stable and saved in a plain format.
//! This implementation keys them by the parameter's dotted path
//! (`layers.0.mlp.up_proj.weight`), stores them in a safetensors file next to the model, and
//! keeps the exact per-parameter step count, so a resumed run continues bit for bit. It is also
//! short enough to read against the equations above.
//!
//! Weight decay applies to every parameter (norm gains and embeddings included), as
//! `torch.optim.AdamW(model.parameters())` does in the book.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::module::{Module, ModuleMapper, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::fs::write_atomic;
use crate::fused::{self, AdamWStep};
use crate::params::{PathTracker, read_safetensors, to_safetensors};

/// AdamW hyper-parameters (the learning rate comes from the schedule at each step).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    /// Decay rate of the first moment, `β1`.
    pub beta1: f64,
    /// Decay rate of the second moment, `β2`.
    pub beta2: f64,
    /// Term added to the denominator, `ε`.
    pub eps: f64,
    /// Decoupled weight decay, `λ` (multiplied by the learning rate).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    /// PyTorch's defaults: `β = (0.9, 0.999)`, `ε = 1e-8`, `λ = 0.01`.
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

impl AdamWConfig {
    /// Returns an error naming the first hyper-parameter outside its valid range.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |what, message: String| Err(TrainError::Config { what, message });
        if !(0.0..1.0).contains(&self.beta1) {
            return bad("AdamW beta1", format!("{} is not in [0, 1)", self.beta1));
        }
        if !(0.0..1.0).contains(&self.beta2) {
            return bad("AdamW beta2", format!("{} is not in [0, 1)", self.beta2));
        }
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            return bad(
                "AdamW eps",
                format!("{} is not a positive number", self.eps),
            );
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad(
                "AdamW weight_decay",
                format!("{} is negative", self.weight_decay),
            );
        }
        Ok(())
    }
}

/// The state of one parameter: both moments, flattened, and its step count.
#[derive(Debug, Clone)]
struct Moments {
    exp_avg: Tensor<1>,
    exp_avg_sq: Tensor<1>,
    step: u64,
}

/// AdamW over the float parameters of a burn module, with state keyed by parameter path.
#[derive(Debug, Clone)]
pub struct AdamW {
    config: AdamWConfig,
    state: BTreeMap<String, Moments>,
}

impl AdamW {
    /// Returns an optimizer with empty state.
    pub fn new(config: AdamWConfig) -> Result<Self, TrainError> {
        config.validate()?;
        Ok(Self {
            config,
            state: BTreeMap::new(),
        })
    }

    /// Returns the hyper-parameters.
    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }

    /// Returns the largest per-parameter step count (the number of updates so far).
    pub fn steps(&self) -> u64 {
        self.state.values().map(|m| m.step).max().unwrap_or(0)
    }

    /// Applies one AdamW update with learning rate `lr` to every parameter that has a gradient
    /// in `grads`, and returns the updated module.
    ///
    /// Parameters without a gradient are left as they are and their step count does not
    /// advance, as in PyTorch. The updated parameters keep their device, id and gradient
    /// setting.
    pub fn step<M: Module>(&mut self, lr: f64, module: M, mut grads: GradientsParams) -> M {
        struct Update<'a> {
            path: PathTracker,
            lr: f64,
            config: AdamWConfig,
            state: &'a mut BTreeMap<String, Moments>,
            grads: &'a mut GradientsParams,
        }
        impl ModuleMapper for Update<'_> {
            fn enter_module(&mut self, name: &str, _: &str) {
                self.path.enter(name);
            }
            fn exit_module(&mut self, _: &str, _: &str) {
                self.path.exit();
            }
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let Some(grad) = self.grads.remove::<D>(param.id) else {
                    return param;
                };
                let path = self.path.path();
                let (id, tensor, mapper) = param.consume();
                let (was_autodiff, require_grad) = (tensor.is_autodiff(), tensor.is_require_grad());
                let dims = tensor.dims();
                let n = dims.iter().product::<usize>();
                let theta = tensor.inner().reshape([n]);
                // As `[rows, cols]` (free for 1-D and 2-D parameters): a weight's gradient is a
                // transposed view, which the fused update reads in place.
                let cols = dims[D - 1];
                let g = fused::as_2d(grad.inner(), n / cols.max(1), cols);
                let moments = self.state.remove(&path).unwrap_or_else(|| Moments {
                    exp_avg: theta.zeros_like(),
                    exp_avg_sq: theta.zeros_like(),
                    step: 0,
                });
                let (theta, moments) = adamw_update(&self.config, self.lr, theta, g, moments);
                self.state.insert(path, moments);
                let mut value = theta.reshape(dims);
                if was_autodiff {
                    value = value.autodiff();
                }
                if require_grad {
                    value = value.require_grad();
                }
                Param::from_mapped_value(id, value, mapper)
            }
        }
        let mut update = Update {
            path: PathTracker::default(),
            lr,
            config: self.config,
            state: &mut self.state,
            grads: &mut grads,
        };
        module.map(&mut update)
    }

    /// Saves the moments and step counts to a safetensors file, atomically.
    ///
    /// Tensors are named `<param path>.exp_avg` and `<param path>.exp_avg_sq` (flattened);
    /// the metadata holds the hyper-parameters and each parameter's step count as JSON.
    pub fn save(&self, path: &Path) -> Result<(), TrainError> {
        let mut tensors = BTreeMap::new();
        let mut steps = BTreeMap::new();
        for (name, m) in &self.state {
            tensors.insert(
                format!("{name}.exp_avg"),
                m.exp_avg.to_data().convert::<f32>(),
            );
            tensors.insert(
                format!("{name}.exp_avg_sq"),
                m.exp_avg_sq.to_data().convert::<f32>(),
            );
            steps.insert(name.clone(), m.step);
        }
        let metadata = HashMap::from([
            ("format".to_string(), "reasoning-train/adamw-v1".to_string()),
            ("config".to_string(), to_json(&self.config)),
            ("steps".to_string(), to_json(&steps)),
        ]);
        let bytes = to_safetensors(&tensors, Some(metadata), path)?;
        write_atomic(path, &bytes)
    }

    /// Loads a state saved by [`AdamW::save`], placing the moments on `device`.
    pub fn load(path: &Path, device: &Device) -> Result<Self, TrainError> {
        let (mut tensors, meta) = read_safetensors(path)?;
        let field = |key: &str| {
            meta.get(key).ok_or_else(|| {
                TrainError::bad_file(path, format!("metadata field {key:?} is missing"))
            })
        };
        if field("format")? != "reasoning-train/adamw-v1" {
            return Err(TrainError::bad_file(
                path,
                "not a reasoning-train AdamW state",
            ));
        }
        let config: AdamWConfig = serde_json::from_str(field("config")?)
            .map_err(|e| TrainError::bad_file(path, format!("metadata field \"config\": {e}")))?;
        let steps: BTreeMap<String, u64> = serde_json::from_str(field("steps")?)
            .map_err(|e| TrainError::bad_file(path, format!("metadata field \"steps\": {e}")))?;
        let device = device.clone().without_autodiff();
        let mut take = |name: String| -> Result<Tensor<1>, TrainError> {
            let data: TensorData = tensors
                .remove(&name)
                .ok_or_else(|| TrainError::bad_file(path, format!("tensor {name:?} is missing")))?;
            let n = data.num_elements();
            Ok(Tensor::<1>::from_data(data, &device).reshape([n]))
        };
        let mut state = BTreeMap::new();
        for (name, step) in steps {
            let exp_avg = take(format!("{name}.exp_avg"))?;
            let exp_avg_sq = take(format!("{name}.exp_avg_sq"))?;
            state.insert(
                name,
                Moments {
                    exp_avg,
                    exp_avg_sq,
                    step,
                },
            );
        }
        if let Some(extra) = tensors.keys().next() {
            return Err(TrainError::bad_file(
                path,
                format!("tensor {extra:?} has no step count"),
            ));
        }
        let mut optim = Self::new(config)?;
        optim.state = state;
        Ok(optim)
    }

    /// Checks that every parameter with state exists in `module` with the same number of
    /// elements; call after loading a state for a module.
    pub fn check_matches<M: Module>(&self, module: &M) -> Result<(), TrainError> {
        let params: HashMap<String, usize> = crate::params::param_paths(module)
            .into_iter()
            .map(|(p, _, dims)| (p, dims.iter().product()))
            .collect();
        for (name, m) in &self.state {
            let n = m.exp_avg.dims()[0];
            match params.get(name) {
                None => {
                    return Err(TrainError::Config {
                        what: "optimizer state",
                        message: format!("parameter {name:?} is not in the model"),
                    });
                }
                Some(&want) if want != n => {
                    return Err(TrainError::Config {
                        what: "optimizer state",
                        message: format!(
                            "parameter {name:?} has {n} elements in the state, {want} in the model"
                        ),
                    });
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// One AdamW update of a flattened parameter, in PyTorch's order of operations.
///
/// `g` is the gradient as `[rows, cols]` in `theta`'s (row-major) element order.
fn adamw_update(
    c: &AdamWConfig,
    lr: f64,
    theta: Tensor<1>,
    g: Tensor<2>,
    m: Moments,
) -> (Tensor<1>, Moments) {
    // f32 on burn-flex: the same arithmetic in one parallel pass, in place (`crate::fused`).
    let step = m.step;
    let scalars = AdamWStep::new(c.beta1, c.beta2, c.eps, c.weight_decay, lr, step + 1);
    match fused::adamw(&scalars, theta, g, [m.exp_avg, m.exp_avg_sq]) {
        Ok([theta, exp_avg, exp_avg_sq]) => (
            theta,
            Moments {
                exp_avg,
                exp_avg_sq,
                step: step + 1,
            },
        ),
        Err((theta, g, [exp_avg, exp_avg_sq])) => {
            let m = Moments {
                exp_avg,
                exp_avg_sq,
                step,
            };
            let n = g.shape().num_elements();
            adamw_update_ops(c, lr, theta, g.reshape([n]), m)
        }
    }
}

/// [`adamw_update`] with burn's tensor ops (any backend and dtype).
fn adamw_update_ops(
    c: &AdamWConfig,
    lr: f64,
    theta: Tensor<1>,
    g: Tensor<1>,
    m: Moments,
) -> (Tensor<1>, Moments) {
    // Step 1: decoupled weight decay shrinks the parameter before the Adam update.
    let theta = if c.weight_decay != 0.0 {
        theta.mul_scalar(1.0 - lr * c.weight_decay)
    } else {
        theta
    };
    // Step 2: moments; torch's `lerp_(g, 1 - β1)` is `m + (1 - β1)(g - m)` for weights < 0.5.
    let exp_avg = m.exp_avg.clone() + (g.clone() - m.exp_avg).mul_scalar(1.0 - c.beta1);
    let exp_avg_sq = m.exp_avg_sq.mul_scalar(c.beta2) + (g.clone() * g).mul_scalar(1.0 - c.beta2);
    // Step 3: bias corrections in f64 on the host, as torch computes them in Python floats.
    let step = m.step + 1;
    let bias1 = 1.0 - c.beta1.powf(step as f64);
    let bias2 = 1.0 - c.beta2.powf(step as f64);
    let step_size = lr / bias1;
    let denom = exp_avg_sq
        .clone()
        .sqrt()
        .div_scalar(bias2.sqrt())
        .add_scalar(c.eps);
    let theta = theta - (exp_avg.clone() / denom).mul_scalar(step_size);
    (
        theta,
        Moments {
            exp_avg,
            exp_avg_sq,
            step,
        },
    )
}

/// Returns the JSON text of a small metadata value.
fn to_json(value: &impl Serialize) -> String {
    // Plain structs and maps of numbers always serialise.
    serde_json::to_string(value).expect("metadata serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(n: usize, rng: &mut ChaCha8Rng) -> Tensor<1> {
        let values: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        Tensor::from_data(TensorData::new(values, [n]), &Device::flex())
    }

    fn bits(t: &Tensor<1>) -> Vec<u32> {
        t.to_data()
            .try_into_vec_as::<f32>()
            .expect("f32")
            .iter()
            .map(|v| v.to_bits())
            .collect()
    }

    #[test]
    fn the_fused_update_is_bit_for_bit_burns_ops() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        // Several parallel chunks and a tail; with and without weight decay; three steps.
        let (rows, cols) = (59, 1697);
        let n = rows * cols;
        for weight_decay in [0.01, 0.0] {
            let c = AdamWConfig {
                weight_decay,
                ..AdamWConfig::default()
            };
            let theta = random(n, &mut rng);
            let zeros = Tensor::<1>::zeros([n], &Device::flex());
            let mut fused = (theta.clone(), zeros.clone(), zeros.clone(), 0);
            let mut ops = (theta, zeros.clone(), zeros, 0);
            for step in 0..3 {
                let g = random(n, &mut rng).mul_scalar(0.1 * (step + 1) as f64);
                let m = Moments {
                    exp_avg: fused.1.clone(),
                    exp_avg_sq: fused.2.clone(),
                    step: fused.3,
                };
                // The gradient row-major, or column-major as a weight's gradient arrives.
                let g2 = if step == 1 {
                    g.clone().reshape([rows, cols])
                } else {
                    let t = g.clone().reshape([rows, cols]).transpose().mul_scalar(1.0);
                    let column_major = t.clone().transpose();
                    let flex = column_major
                        .clone()
                        .try_into_primitive::<burn::backend::Flex>();
                    let strides = flex.expect("burn-flex").layout().strides().to_vec();
                    assert_eq!(strides, [1, rows as isize], "a column-major view");
                    column_major
                };
                let (t, m) = adamw_update(&c, 1e-3, fused.0.clone(), g2, m);
                fused = (t, m.exp_avg, m.exp_avg_sq, m.step);
                let m = Moments {
                    exp_avg: ops.1.clone(),
                    exp_avg_sq: ops.2.clone(),
                    step: ops.3,
                };
                let (t, m) = adamw_update_ops(&c, 1e-3, ops.0.clone(), g, m);
                ops = (t, m.exp_avg, m.exp_avg_sq, m.step);
                assert_eq!(fused.3, ops.3, "step count");
                assert!(bits(&fused.0) == bits(&ops.0), "θ after step {step}");
                assert!(bits(&fused.1) == bits(&ops.1), "m after step {step}");
                assert!(bits(&fused.2) == bits(&ops.2), "v after step {step}");
            }
        }
    }
}
