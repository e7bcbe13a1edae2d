//! The optimizer's element-wise passes as single parallel loops over burn-flex buffers.
//!
//! burn-flex runs each element-wise op on the calling thread and allocates its output; an
//! AdamW update through burn's ops is eleven such passes per parameter, and clipping two more.
//! For f32 burn-flex tensors these functions do the same arithmetic in one parallel pass, in
//! place (unless `REASONING_KERNELS=burn` switches the hand-written kernels off). AdamW and the
//! scaling are bit for bit burn's ops (the same f32 operations in the same order: tested); the
//! sum of squares adds in another order, so it runs only for tensors of at least
//! [`SUM_MIN_ELEMENTS`] (the embedded tiny model's parameters are all smaller, which keeps
//! its documented runs reproducible bit for bit).

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, Tensor};
use rayon::prelude::*;

/// Elements per parallel task.
const CHUNK: usize = 1 << 15;

/// Smallest tensor whose sum of squares is taken here rather than by burn's ops.
pub const SUM_MIN_ELEMENTS: usize = 1 << 18;

/// `t`'s f32 burn-flex buffer with exactly its elements, when it has one.
fn flex_f32<const D: usize>(t: &Tensor<D>) -> Option<FlexTensor> {
    if !reasoning_model::kernels::enabled() || t.dtype() != DType::F32 {
        return None;
    }
    let f = t.clone().try_into_primitive::<Flex>().ok()?;
    let n = f.layout().num_elements();
    (f.layout().contiguous_offsets() == Some((0, n)) && f.bytes().len() == n * 4).then_some(f)
}

/// `t`'s f32 burn-flex buffer when it holds exactly `t`'s elements in some order (contiguous,
/// or a permutation of the axes such as the transposed view that a weight's gradient is):
/// enough for the order-free sum and scaling.
fn flex_f32_dense<const D: usize>(t: &Tensor<D>) -> Option<FlexTensor> {
    if !reasoning_model::kernels::enabled() || t.dtype() != DType::F32 {
        return None;
    }
    let f = t.clone().try_into_primitive::<Flex>().ok()?;
    let layout = f.layout();
    let n = layout.num_elements();
    let mut axes: Vec<(isize, usize)> = layout
        .strides()
        .iter()
        .zip(layout.shape().iter())
        .filter(|&(_, &dim)| dim != 1)
        .map(|(&stride, &dim)| (stride, dim))
        .collect();
    axes.sort_unstable();
    let mut expected = 1isize;
    for (stride, dim) in axes {
        if stride != expected {
            return None;
        }
        expected *= dim as isize;
    }
    (layout.start_offset() == 0 && f.bytes().len() == n * 4).then_some(f)
}

/// `Σ g²` in f64 (per-task f32 partial sums of 16 lanes), or `None` for other tensors.
pub(crate) fn sum_squares<const D: usize>(g: &Tensor<D>) -> Option<f64> {
    if g.shape().num_elements() < SUM_MIN_ELEMENTS {
        return None;
    }
    let f = flex_f32_dense(g)?;
    let values = f.storage::<f32>();
    Some(
        values
            .par_chunks(CHUNK)
            .map(|c| {
                let mut acc = [0f32; 16];
                let lanes = c.chunks_exact(16);
                let tail = lanes.remainder();
                for x in lanes {
                    for i in 0..16 {
                        acc[i] += x[i] * x[i];
                    }
                }
                let tail: f32 = tail.iter().map(|x| x * x).sum();
                f64::from(acc.iter().sum::<f32>()) + f64::from(tail)
            })
            .sum(),
    )
}

/// The f32 burn-flex buffer of a `[rows, cols]` tensor stored column-major (strides
/// `[1, rows]`), with `rows` and `cols`.
fn transposed_2d<const D: usize>(t: &Tensor<D>) -> Option<(FlexTensor, usize, usize)> {
    if D != 2 || t.dtype() != DType::F32 {
        return None;
    }
    let f = t.clone().try_into_primitive::<Flex>().ok()?;
    let layout = f.layout();
    let (rows, cols) = (layout.shape()[0], layout.shape()[1]);
    let column_major = layout.strides() == [1, rows as isize]
        && layout.start_offset() == 0
        && rows > 1
        && cols > 1
        && f.bytes().len() == rows * cols * 4;
    column_major.then_some((f, rows, cols))
}

/// `g · scale` in place (`scale` rounded to f32, as burn's `mul_scalar`), or `Err(g)`.
#[allow(clippy::result_large_err)]
pub(crate) fn scale<const D: usize>(g: Tensor<D>, scale: f64) -> Result<Tensor<D>, Tensor<D>> {
    let Some(f) = flex_f32_dense(&g) else {
        return Err(g);
    };
    drop(g);
    let mut f = f;
    let s = scale as f32;
    f.storage_mut::<f32>()
        .par_chunks_mut(CHUNK)
        .for_each(|c| c.iter_mut().for_each(|v| *v *= s));
    Ok(Tensor::from_primitive::<Flex>(f))
}

/// The scalars of one AdamW step (hyper-parameters `β1`, `β2`, `ε`, `λ`, learning rate `η`,
/// step count `t` after the step), rounded to f32 as burn's scalar ops round them.
pub(crate) struct AdamWStep {
    /// `1 − η·λ`, or `None` without weight decay.
    decay: Option<f32>,
    /// `1 − β1`.
    one_minus_b1: f32,
    /// `β2`.
    b2: f32,
    /// `1 − β2`.
    one_minus_b2: f32,
    /// `sqrt(1 − β2^t)`.
    sqrt_bias2: f32,
    /// `ε`.
    eps: f32,
    /// `η / (1 − β1^t)`.
    step_size: f32,
}

impl AdamWStep {
    /// The scalars of step `step` (counted from 1) with these hyper-parameters; the bias
    /// corrections in f64, as `adamw_update` computes them.
    pub(crate) fn new(
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
        lr: f64,
        step: u64,
    ) -> Self {
        let bias1 = 1.0 - beta1.powf(step as f64);
        let bias2 = 1.0 - beta2.powf(step as f64);
        Self {
            decay: (weight_decay != 0.0).then_some((1.0 - lr * weight_decay) as f32),
            one_minus_b1: (1.0 - beta1) as f32,
            b2: beta2 as f32,
            one_minus_b2: (1.0 - beta2) as f32,
            sqrt_bias2: bias2.sqrt() as f32,
            eps: eps as f32,
            step_size: (lr / bias1) as f32,
        }
    }
}

/// One AdamW update of a flattened parameter in place: `[θ, m, v]` after the step, from `θ`,
/// the gradient `g` as `[rows, cols]` in `θ`'s element order (row-major, or the column-major
/// transposed view that a weight's gradient is) and the moments `[m, v]`; all handed back when
/// one is not an f32 burn-flex buffer. The arithmetic is `adamw_update`'s, in its
/// order, in f32 with the scalars of `s`.
#[allow(clippy::type_complexity, clippy::result_large_err)]
pub(crate) fn adamw(
    s: &AdamWStep,
    theta: Tensor<1>,
    g: Tensor<2>,
    moments: [Tensor<1>; 2],
) -> Result<[Tensor<1>; 3], (Tensor<1>, Tensor<2>, [Tensor<1>; 2])> {
    let [rows, cols] = g.dims();
    // The gradient row-major, or column-major (a transposed view, read through tiles).
    let grad = match flex_f32(&g) {
        Some(f) if f.layout().contiguous_offsets() == Some((0, rows * cols)) => Some((f, false)),
        _ => transposed_2d(&g).map(|(f, _, _)| (f, true)),
    };
    let (Some(mut th), Some((gr, column_major)), Some(mut m), Some(mut v)) = (
        flex_f32(&theta),
        grad,
        flex_f32(&moments[0]),
        flex_f32(&moments[1]),
    ) else {
        return Err((theta, g, moments));
    };
    // The buffers are now held here only (unless shared elsewhere), so written in place.
    drop((theta, g, moments));
    let n = th.layout().num_elements();
    assert!(
        n == rows * cols && [&m, &v].iter().all(|t| t.layout().num_elements() == n),
        "a parameter, its gradient and its moments have the same size"
    );
    let AdamWStep {
        decay,
        one_minus_b1,
        b2,
        one_minus_b2,
        sqrt_bias2,
        eps,
        step_size,
    } = *s;
    let gs = gr.storage::<f32>();
    // Whole rows per task, so a column-major gradient is gathered one block of rows at a time.
    let rows_per_task = (CHUNK / cols.max(1)).max(1);
    let span = rows_per_task * cols;
    th.storage_mut::<f32>()
        .par_chunks_mut(span)
        .zip(m.storage_mut::<f32>().par_chunks_mut(span))
        .zip(v.storage_mut::<f32>().par_chunks_mut(span))
        .enumerate()
        .for_each_init(Vec::new, |scratch, (task, ((th, m), v))| {
            let g: &[f32] = if column_major {
                let r0 = task * rows_per_task;
                let block = th.len() / cols;
                scratch.resize(th.len(), 0.0);
                for c in 0..cols {
                    let column = &gs[c * rows + r0..c * rows + r0 + block];
                    for (i, &x) in column.iter().enumerate() {
                        scratch[i * cols + c] = x;
                    }
                }
                scratch
            } else {
                &gs[task * span..task * span + th.len()]
            };
            for i in 0..th.len() {
                let t = match decay {
                    Some(d) => th[i] * d,
                    None => th[i],
                };
                let ea = m[i] + (g[i] - m[i]) * one_minus_b1;
                let es = v[i] * b2 + (g[i] * g[i]) * one_minus_b2;
                let denom = es.sqrt() / sqrt_bias2 + eps;
                th[i] = t - (ea / denom) * step_size;
                m[i] = ea;
                v[i] = es;
            }
        });
    Ok([
        Tensor::from_primitive::<Flex>(th),
        Tensor::from_primitive::<Flex>(m),
        Tensor::from_primitive::<Flex>(v),
    ])
}

/// `t` as `[rows, cols]`: a 2-D burn-flex tensor keeps its layout (burn's `reshape` copies a
/// transposed view even to its own shape, on one thread); others are reshaped.
pub(crate) fn as_2d<const D: usize>(t: Tensor<D>, rows: usize, cols: usize) -> Tensor<2> {
    if D == 2
        && t.dims()[..] == [rows, cols]
        && let Ok(f) = t.clone().try_into_primitive::<Flex>()
    {
        return Tensor::from_primitive::<Flex>(f);
    }
    t.reshape([rows, cols])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn sum_of_squares_and_scaling_agree_with_burns_ops() {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let (rows, cols) = (1031, 257);
        let n = rows * cols;
        assert!(n >= SUM_MIN_ELEMENTS);
        let values: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let g = Tensor::<2>::from_data(
            TensorData::new(values.clone(), [rows, cols]),
            &Device::flex(),
        );
        let exact: f64 = values.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        // Row-major, and as the transposed view a weight's gradient is.
        for t in [g.clone(), g.clone().transpose()] {
            let ours = sum_squares(&t).expect("large f32 burn-flex tensor");
            assert!(
                (ours - exact).abs() <= 1e-6 * exact,
                "{ours} against {exact}"
            );
        }
        // Small tensors are left to burn's ops.
        assert!(sum_squares(&g.clone().narrow(0, 0, 2)).is_none());

        for t in [g.clone(), g.transpose()] {
            let want = t.clone().mul_scalar(0.37).into_data();
            let got = scale(t, 0.37).unwrap_or_else(|_| panic!("f32 burn-flex tensor"));
            let bits = |d: TensorData| -> Vec<u32> {
                let v = d.try_into_vec_as::<f32>().expect("f32");
                v.iter().map(|x| x.to_bits()).collect()
            };
            assert!(
                bits(got.into_data()) == bits(want),
                "scaling is burn's mul_scalar bit for bit"
            );
        }
    }
}
