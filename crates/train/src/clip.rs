//! Gradient clipping by the global norm over all parameters, as `torch.nn.utils.clip_grad_norm_`.
//!
//! ```text
//! n = sqrt( Σ_p Σ_i g_{p,i}² )              global L2 norm over every parameter p
//! c = min(1, max_norm / (n + 1e-6))         torch's clip coefficient
//! g_p ← c · g_p                              for every p
//! ```
//!
//! burn's `GradientClippingConfig::Norm` clips each tensor by its own norm instead, which
//! changes the direction of the update; the book (and every GRPO trainer) clips globally.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

/// Returns the global L2 norm of the gradients of `module`'s parameters.
///
/// Each tensor's sum of squares is computed on the device in `f32` and accumulated on the
/// host in `f64`. NaN or infinity in any gradient makes the norm NaN or infinite.
pub fn global_grad_norm<M: Module>(module: &M, grads: &GradientsParams) -> f64 {
    struct SumSquares<'a> {
        grads: &'a GradientsParams,
        total: f64,
    }
    impl ModuleVisitor for SumSquares<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                // Large f32 burn-flex gradients: one parallel pass (`crate::fused`).
                self.total += crate::fused::sum_squares(&g)
                    .unwrap_or_else(|| f64::from(g.square().sum().into_scalar::<f32>()));
            }
        }
    }
    let mut v = SumSquares { grads, total: 0.0 };
    module.visit(&mut v);
    v.total.sqrt()
}

/// Multiplies every gradient by `scale`.
pub fn scale_grads<M: Module>(module: &M, grads: &mut GradientsParams, scale: f64) {
    struct Scale<'a> {
        grads: &'a mut GradientsParams,
        scale: f64,
    }
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.remove::<D>(param.id) {
                // f32 burn-flex: in place, in parallel, bit for bit `mul_scalar`.
                let g =
                    crate::fused::scale(g, self.scale).unwrap_or_else(|g| g.mul_scalar(self.scale));
                self.grads.register(param.id, g);
            }
        }
    }
    module.visit(&mut Scale { grads, scale });
}

/// Clips the gradients in place so their global norm is at most `max_norm`, and returns the
/// norm measured before clipping.
///
/// A non-finite norm is returned as is and the gradients are left untouched: check it with
/// [`crate::ensure_finite`] before stepping.
pub fn clip_grad_norm<M: Module>(module: &M, grads: &mut GradientsParams, max_norm: f64) -> f64 {
    let norm = global_grad_norm(module, grads);
    if norm.is_finite() {
        let coef = max_norm / (norm + 1e-6);
        if coef < 1.0 {
            scale_grads(module, grads, coef);
        }
    }
    norm
}
