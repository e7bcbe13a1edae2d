//! Training kernels: the element-wise work between the products of a training step, fused
//! into single passes with hand-written backward passes, as burn-autodiff custom operations
//! on burn-flex.
//!
//! burn's autodiff differentiates a model through its primitive ops, and burn-flex runs each
//! element-wise op (every `exp`, `mul`, `sum_dim`) on the calling thread while the other
//! cores wait; a SmolLM2 SFT step spent about a third of its CPU time there. Each operation
//! here computes its forward in one or two parallel passes and registers one backward step
//! that computes its input gradients in one parallel pass:
//!
//! ```text
//! log_softmax_gather   ℓ_r = z_{r,t_r} − log Σ_j exp z_{rj}       ∂ℓ/∂z_{rj} = 1[j = t_r] − p_{rj}
//! attention softmax    y = softmax(s · x + M)                      ∂/∂x = s · y ⊙ (g − Σ_j g_j y_j)
//! SwiGLU gate          y = silu(a) ⊙ b,  σ = 1 / (1 + e^{−a})      ∂/∂a = g b σ (1 + a (1 − σ)),  ∂/∂b = g a σ
//! RMSNorm              y = x r w,  r = 1 / sqrt(mean(x²) + ε)      ∂/∂x = r (g w − x̂ · mean(g w x̂)),  ∂/∂w = Σ_rows g x̂
//! ```
//!
//! (`p` = softmax(z), `x̂ = x r`.) Each operation applies to f32 burn-flex tensors with autodiff
//! (and the log-softmax also without) while [`super::enabled`]; otherwise the caller runs
//! burn's ops. The model uses them only at widths where they pay (see the `*_MIN_*` constants):
//! the embedded tiny model (vocabulary 512, width 192, head width 32) stays on burn's ops, so
//! its documented training runs are reproduced bit for bit. The operations themselves are
//! private to the crate: the model's ops layer calls them.

use std::sync::Arc;

use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, BackendTypes, Flex};
use burn::tensor::{Bool, DType as BurnDType, Tensor, TensorData};
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use rayon::prelude::*;

use super::elementwise::{exp_shifted, softmax_row};
use super::{PARALLEL_MIN_ELEMENTS, enabled};

/// burn-flex under burn's autodiff (no gradient checkpointing: `device.autodiff()`).
type Ad = Autodiff<Flex>;
/// The float primitive of [`Ad`] (burn-autodiff does not export its name).
type AdTensor = <Ad as BackendTypes>::FloatTensorPrimitive;

/// Smallest vocabulary for which the model's trainers use the fused log-softmax at the
/// targets (`log_softmax_gather`).
pub const LOG_SOFTMAX_MIN_VOCAB: usize = 4096;
/// Smallest head width for which training attention uses the fused softmax.
pub const ATTENTION_MIN_HEAD_DIM: usize = 64;
/// Smallest SwiGLU width (intermediate size) for the fused gate.
pub const SILU_MIN_WIDTH: usize = 1024;
/// Smallest normalised width for the fused RMSNorm.
pub const RMS_NORM_MIN_WIDTH: usize = 512;

/// Elements per parallel task in the element-wise passes.
const CHUNK: usize = 1 << 14;

/// A burn-flex f32 tensor, plain or with its autodiff node.
enum Input {
    Plain(FlexTensor),
    Tracked(AdTensor),
}

/// The primitive behind `t` when it is an f32 burn-flex tensor (with or without autodiff).
#[allow(clippy::result_large_err)]
fn input<const D: usize>(t: Tensor<D>) -> Result<Input, Tensor<D>> {
    if !enabled() || t.dtype() != BurnDType::F32 {
        return Err(t);
    }
    if let Ok(flex) = t.clone().try_into_primitive::<Flex>() {
        drop(t);
        return Ok(Input::Plain(flex));
    }
    match t.clone().try_into_primitive::<Ad>() {
        Ok(ad) => {
            drop(t);
            Ok(Input::Tracked(ad))
        }
        Err(_) => Err(t),
    }
}

/// Both operands' autodiff primitives when both are f32 burn-flex tensors with autodiff;
/// otherwise both handed back.
#[allow(clippy::type_complexity, clippy::result_large_err)]
fn tracked_pair<const D: usize, const E: usize>(
    a: Tensor<D>,
    b: Tensor<E>,
) -> Result<(AdTensor, AdTensor), (Tensor<D>, Tensor<E>)> {
    if !a.is_autodiff() || !b.is_autodiff() {
        return Err((a, b));
    }
    let a = match input(a) {
        Ok(Input::Tracked(a)) => a,
        Ok(Input::Plain(a)) => return Err((Tensor::from_primitive::<Flex>(a), b)),
        Err(a) => return Err((a, b)),
    };
    match input(b) {
        Ok(Input::Tracked(b)) => Ok((a, b)),
        Ok(Input::Plain(b)) => Err((
            Tensor::from_primitive::<Ad>(a),
            Tensor::from_primitive::<Flex>(b),
        )),
        Err(b) => Err((Tensor::from_primitive::<Ad>(a), b)),
    }
}

/// `t`'s elements in a buffer of exactly that many elements, in order (a copy only when `t` is
/// a strided or offset view; a shared buffer is copied on the first write).
fn whole(t: FlexTensor) -> FlexTensor {
    let n = t.layout().num_elements();
    if t.layout().contiguous_offsets() == Some((0, n)) && t.bytes().len() == n * 4 {
        return t;
    }
    let shape = t.layout().shape().clone();
    let t = super::contiguous(t);
    let values = t.as_slice::<f32>().expect("contiguous f32").to_vec();
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// A plain burn-flex f32 tensor of `shape` holding `values`.
fn flex(values: Vec<f32>, shape: &[usize]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.to_vec()))
}

/// `Σ a_i b_i` with 16 independent sums (vectorises; f32 addition is not associative).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + ta.iter().zip(tb).map(|(x, y)| x * y).sum::<f32>()
}

/// `Σ a_i` with 16 independent sums.
fn sum(a: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let c = a.chunks_exact(16);
    let tail = c.remainder();
    for x in c {
        for i in 0..16 {
            acc[i] += x[i];
        }
    }
    acc.iter().sum::<f32>() + tail.iter().sum::<f32>()
}

/// `max_i a_i` (−∞ for an empty slice; NaN entries are skipped).
fn max(a: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 16];
    let c = a.chunks_exact(16);
    let tail = c.remainder();
    for x in c {
        for i in 0..16 {
            acc[i] = if x[i] > acc[i] { x[i] } else { acc[i] };
        }
    }
    acc.iter()
        .chain(tail)
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v))
}

// ---------------------------------------------------------------------------------------------
// Linear layers.
// ---------------------------------------------------------------------------------------------

/// Smallest weight (in elements) whose training products go through the fused `linear`.
pub const LINEAR_MIN_WEIGHTS: usize = 1 << 18;

/// `x · wᵀ` for autodiff f32 tensors, with its backward products
/// `∂/∂x = g · w` and `∂/∂w = gᵀ · x`; `Err((x, w))` when the kernel does not apply.
///
/// The same `gemm` products burn-flex runs, with two differences that matter at training sizes:
/// each output is written into a fresh uninitialised buffer (burn-flex zeroes a byte buffer and
/// then copies it into an aligned one, both on the calling thread, before every product), and
/// the weight's gradient comes out row-major (burn's is the transposed view of `xᵀ · g`).
///
/// # Shapes
/// - `x`: `[m, k]`; `w`: `[n, k]`; returns `[m, n]`
#[allow(clippy::type_complexity, clippy::result_large_err)]
pub(crate) fn linear(x: Tensor<2>, w: Tensor<2>) -> Result<Tensor<2>, (Tensor<2>, Tensor<2>)> {
    let ([m, k], [n, kw]) = (x.dims(), w.dims());
    if k != kw || m == 0 || n == 0 || k == 0 {
        return Err((x, w));
    }
    let (xa, wa) = tracked_pair(x, w)?;
    let (x, guard_x) = xa.into_parts();
    let (w, guard_w) = wa.into_parts();
    let (x, w) = (whole(x), whole(w));
    let (xs, ws) = (
        x.as_slice::<f32>().expect("whole f32 buffer"),
        w.as_slice::<f32>().expect("whole f32 buffer"),
    );
    // y[m, n] = x[m, k] · wᵀ: wᵀ's element (i, j) is w[j, i].
    let y = product(m, n, k, (xs, k as isize, 1), (ws, 1, k as isize));
    match LinearBackward
        .prepare::<NoCheckpointing>([guard_x, guard_w])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => Ok(Tensor::from_primitive::<Ad>(
            prep.finish((x, w), flex(y, &[m, n])),
        )),
        OpsKind::UnTracked(prep) => Ok(Tensor::from_primitive::<Ad>(prep.finish(flex(y, &[m, n])))),
    }
}

/// `a · b` for `a: [m, k]` and `b: [k, n]` given as (values, row stride, column stride), into a
/// new row-major `[m, n]` buffer, on every core for large products.
fn product(
    m: usize,
    n: usize,
    k: usize,
    a: (&[f32], isize, isize),
    b: (&[f32], isize, isize),
) -> Vec<f32> {
    let extent = |rows: usize, cols: usize, rs: isize, cs: isize| {
        (rows - 1) * rs.unsigned_abs() + (cols - 1) * cs.unsigned_abs() + 1
    };
    assert!(a.0.len() >= extent(m, k, a.1, a.2) && b.0.len() >= extent(k, n, b.1, b.2));
    let parallelism = if m.saturating_mul(n).saturating_mul(k) >= 192 * 192 * 192 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    let mut out: Vec<f32> = Vec::with_capacity(m * n);
    // SAFETY: both operands lie inside their slices (asserted above); `out` has room for
    // `m · n` values, and `gemm` writes every one of them without reading (`read_dst` false),
    // so the length is set only after they are all written.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.0.as_ptr(),
            a.2,
            a.1,
            b.0.as_ptr(),
            b.2,
            b.1,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
        out.set_len(m * n);
    }
    out
}

#[derive(Debug)]
struct LinearBackward;

impl Backward<Flex, 2> for LinearBackward {
    /// The input `x` and the weight `w`.
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let [parent_x, parent_w] = ops.parents;
        let (x, w) = ops.state;
        let g = whole(grad);
        let (m, n) = (g.layout().shape()[0], g.layout().shape()[1]);
        let k = w.layout().shape()[1];
        let (gs, xs, ws) = (
            g.as_slice::<f32>().expect("whole f32 buffer"),
            x.as_slice::<f32>().expect("whole f32 buffer"),
            w.as_slice::<f32>().expect("whole f32 buffer"),
        );
        if let Some(node) = parent_x {
            // ∂/∂x[m, k] = g[m, n] · w[n, k]
            let dx = product(m, k, n, (gs, n as isize, 1), (ws, k as isize, 1));
            grads.register::<Flex>(node.id, flex(dx, &[m, k]));
        }
        if let Some(node) = parent_w {
            // ∂/∂w[n, k] = gᵀ[n, m] · x[m, k]: gᵀ's element (j, r) is g[r, j].
            let dw = product(n, k, m, (gs, 1, n as isize), (xs, k as isize, 1));
            grads.register::<Flex>(node.id, flex(dw, &[n, k]));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Log-softmax at the targets (the token log-probabilities of SFT and GRPO).
// ---------------------------------------------------------------------------------------------

/// `log softmax(logits)[target]` per position, and optionally the entropy `−Σ_j p_j log p_j`
/// of each position's distribution (without gradient), in one parallel pass over the logits;
/// `Err(logits)` when the kernel does not apply (the caller then runs burn's ops).
///
/// With autodiff the backward pass writes `g · (onehot − p)` over the forward's probabilities
/// in place: no other `[rows, vocab]` buffer is allocated in either pass.
///
/// # Shapes
/// - `logits`: `[batch, positions, vocab]`
/// - `targets`: `batch · positions` ids, each below `vocab`
/// - returns: `[batch, positions]`, and the entropies in the same order
#[allow(clippy::result_large_err)]
pub(crate) fn log_softmax_gather(
    logits: Tensor<3>,
    targets: &[u32],
    with_entropy: bool,
) -> Result<(Tensor<2>, Option<Vec<f32>>), Tensor<3>> {
    let [b, t, v] = logits.dims();
    if b * t != targets.len() || v == 0 || targets.iter().any(|&id| id as usize >= v) {
        return Err(logits);
    }
    let targets: Arc<Vec<u32>> = Arc::new(targets.to_vec());
    match input(logits)? {
        Input::Plain(z) => {
            let (logp, entropy) = gather_forward(&z, &targets, v, with_entropy);
            let logp = Tensor::from_primitive::<Flex>(flex(logp, &[b, t]));
            Ok((logp, entropy))
        }
        Input::Tracked(z) => {
            let (z, guard) = z.into_parts();
            match GatherLogSoftmax
                .prepare::<NoCheckpointing>([guard])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    // The probabilities replace the logits in their own buffer.
                    let mut probs = whole(z);
                    let (logp, entropy) =
                        gather_forward_in_place(&mut probs, &targets, v, with_entropy);
                    let state = GatherState {
                        probs,
                        targets,
                        vocab: v,
                    };
                    let out = prep.finish(state, flex(logp, &[b, t]));
                    Ok((Tensor::from_primitive::<Ad>(out), entropy))
                }
                OpsKind::UnTracked(prep) => {
                    let (logp, entropy) = gather_forward(&z, &targets, v, with_entropy);
                    let out = prep.finish(flex(logp, &[b, t]));
                    Ok((Tensor::from_primitive::<Ad>(out), entropy))
                }
            }
        }
    }
}

/// Softmax of `src` into `dst`; returns `(log p[target], entropy)` (entropy 0 when not asked).
fn softmax_row_stats(
    src: &[f32],
    dst: &mut [f32],
    target: usize,
    with_entropy: bool,
) -> (f32, f32) {
    let m = max(src);
    dst.copy_from_slice(src);
    exp_shifted(dst, 1.0, m);
    let s = sum(dst);
    let lse = m + s.ln();
    let inv = 1.0 / s;
    for p in dst.iter_mut() {
        *p *= inv;
    }
    let entropy = if with_entropy {
        lse - dot(src, dst)
    } else {
        0.0
    };
    (src[target] - lse, entropy)
}

/// The forward pass reading the logits only (each task keeps one row of scratch).
fn gather_forward(
    z: &FlexTensor,
    targets: &[u32],
    v: usize,
    with_entropy: bool,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let z = super::contiguous(z.clone());
    let z = z.as_slice::<f32>().expect("contiguous f32");
    let stats: Vec<(f32, f32)> = z
        .par_chunks(v)
        .zip(targets.par_iter())
        .map_init(
            || vec![0f32; v],
            |scratch, (row, &t)| softmax_row_stats(row, scratch, t as usize, with_entropy),
        )
        .collect();
    split_stats(stats, with_entropy)
}

/// The forward pass leaving the probabilities in `z`'s buffer.
fn gather_forward_in_place(
    z: &mut FlexTensor,
    targets: &[u32],
    v: usize,
    with_entropy: bool,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let data = z.storage_mut::<f32>();
    let stats: Vec<(f32, f32)> = data
        .par_chunks_mut(v)
        .zip(targets.par_iter())
        .map_init(
            || vec![0f32; v],
            |scratch, (row, &t)| {
                scratch.copy_from_slice(row);
                softmax_row_stats(scratch, row, t as usize, with_entropy)
            },
        )
        .collect();
    split_stats(stats, with_entropy)
}

fn split_stats(stats: Vec<(f32, f32)>, with_entropy: bool) -> (Vec<f32>, Option<Vec<f32>>) {
    let logp = stats.iter().map(|s| s.0).collect();
    let entropy = with_entropy.then(|| stats.iter().map(|s| s.1).collect());
    (logp, entropy)
}

#[derive(Debug)]
struct GatherLogSoftmax;

#[derive(Debug, Clone)]
struct GatherState {
    /// softmax(logits), `[rows · vocab]`.
    probs: FlexTensor,
    targets: Arc<Vec<u32>>,
    vocab: usize,
}

impl Backward<Flex, 1> for GatherLogSoftmax {
    type State = GatherState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let [Some(parent)] = ops.parents else {
            return;
        };
        let GatherState {
            mut probs,
            targets,
            vocab,
        } = ops.state;
        let g = super::contiguous(grad);
        let g = g.as_slice::<f32>().expect("contiguous f32");
        // ∂ℓ_r/∂z_rj = 1[j = t_r] − p_rj, times the incoming g_r, over p in place.
        probs
            .storage_mut::<f32>()
            .par_chunks_mut(vocab)
            .zip(g.par_iter().zip(targets.par_iter()))
            .for_each(|(row, (&gr, &t))| {
                if gr == 0.0 {
                    row.fill(0.0);
                } else {
                    let neg = -gr;
                    for p in row.iter_mut() {
                        *p *= neg;
                    }
                    row[t as usize] += gr;
                }
            });
        grads.register::<Flex>(parent.id, probs);
    }
}

// ---------------------------------------------------------------------------------------------
// Attention softmax.
// ---------------------------------------------------------------------------------------------

/// `softmax(scale · scores + M)` over the last axis of autodiff scores, where `M` hides the keys
/// that `mask` marks `true` (a row with no visible key averages, as burn's masked softmax with
/// the most negative finite fill does); `Err(scores)` when the kernel does not apply.
///
/// # Shapes
/// - `scores`: `[batch, heads, queries, keys]`
/// - `mask`: `[batch or 1, 1, queries, keys]`
/// - returns: the shape of `scores`
#[allow(clippy::result_large_err)]
pub(crate) fn attention_softmax(
    scores: Tensor<4>,
    scale: f32,
    mask: Option<&Tensor<4, Bool>>,
) -> Result<Tensor<4>, Tensor<4>> {
    let [b, h, q, k] = scores.dims();
    if k == 0 {
        return Err(scores);
    }
    let mask = match mask {
        Some(m) => match mask_rows(m, b, q, k) {
            Some(rows) => Some(Arc::new(rows)),
            None => return Err(scores),
        },
        None => None,
    };
    let scores_ad = match input(scores)? {
        Input::Tracked(s) => s,
        // Plain tensors take the inference kernel (`kernels::attention_softmax`).
        Input::Plain(s) => return Err(Tensor::from_primitive::<Flex>(s)),
    };
    let (s, guard) = scores_ad.into_parts();
    let mut y = whole(s);
    let rows_per_head = q;
    {
        let data = y.storage_mut::<f32>();
        let mask = mask.as_deref();
        data.par_chunks_mut(k).enumerate().for_each(|(r, row)| {
            softmax_row(row, scale, hidden_row(mask, r, rows_per_head, h, q, k));
        });
    }
    match AttentionSoftmax
        .prepare::<NoCheckpointing>([guard])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let state = SoftmaxState {
                y: y.clone(),
                mask,
                scale,
                dims: [b, h, q, k],
            };
            Ok(Tensor::from_primitive::<Ad>(prep.finish(state, y)))
        }
        OpsKind::UnTracked(prep) => Ok(Tensor::from_primitive::<Ad>(prep.finish(y))),
    }
}

/// `mask` as bytes (1 = hidden) and its batch size, when its shape is `[batch or 1, 1, q, k]`.
fn mask_rows(mask: &Tensor<4, Bool>, b: usize, q: usize, k: usize) -> Option<(Vec<u8>, usize)> {
    let [mb, mh, mq, mk] = mask.dims();
    if (mb != 1 && mb != b) || mh != 1 || mq != q || mk != k {
        return None;
    }
    let data = mask.clone().into_data();
    let bytes = data.iter::<bool>().map(u8::from).collect();
    Some((bytes, mb))
}

/// The mask bytes of global row `r` (`((batch · heads) + head) · queries + query`).
fn hidden_row(
    mask: Option<&(Vec<u8>, usize)>,
    r: usize,
    rows_per_head: usize,
    heads: usize,
    q: usize,
    k: usize,
) -> Option<&[u8]> {
    mask.map(|(m, mb)| {
        let query = r % rows_per_head;
        let batch = r / (rows_per_head * heads);
        let mrow = if *mb == 1 { query } else { batch * q + query };
        &m[mrow * k..(mrow + 1) * k]
    })
}

#[derive(Debug)]
struct AttentionSoftmax;

#[derive(Debug, Clone)]
struct SoftmaxState {
    y: FlexTensor,
    /// Mask bytes (1 = hidden), `[mask batch · queries · keys]`, and the mask's batch size.
    mask: Option<Arc<(Vec<u8>, usize)>>,
    scale: f32,
    dims: [usize; 4],
}

impl Backward<Flex, 1> for AttentionSoftmax {
    type State = SoftmaxState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let [Some(parent)] = ops.parents else {
            return;
        };
        let SoftmaxState {
            y,
            mask,
            scale,
            dims: [_, h, q, k],
        } = ops.state;
        let y = y.as_slice::<f32>().expect("whole f32 buffer");
        let mut g = whole(grad);
        let mask = mask.as_deref();
        g.storage_mut::<f32>()
            .par_chunks_mut(k)
            .zip(y.par_chunks(k))
            .enumerate()
            .for_each(|(r, (gr, yr))| {
                let d = dot(gr, yr);
                for (g, &y) in gr.iter_mut().zip(yr) {
                    *g = scale * y * (*g - d);
                }
                // burn's masked fill passes no gradient to hidden keys (this matters only for
                // a row with no visible key, whose weights are uniform).
                if let Some(hidden) = hidden_row(mask, r, q, h, q, k) {
                    for (g, &m) in gr.iter_mut().zip(hidden) {
                        if m != 0 {
                            *g = 0.0;
                        }
                    }
                }
            });
        grads.register::<Flex>(parent.id, g);
    }
}

// ---------------------------------------------------------------------------------------------
// SwiGLU gate.
// ---------------------------------------------------------------------------------------------

/// `silu(gate) ⊙ up` for autodiff tensors; `Err((gate, up))` when the kernel does not apply.
///
/// # Shapes
/// - `gate`, `up`: the same shape; returns that shape
#[allow(clippy::type_complexity, clippy::result_large_err)]
pub(crate) fn silu_mul<const D: usize>(
    gate: Tensor<D>,
    up: Tensor<D>,
) -> Result<Tensor<D>, (Tensor<D>, Tensor<D>)> {
    if gate.dims() != up.dims() {
        return Err((gate, up));
    }
    let dims = gate.dims();
    let (a, b) = tracked_pair(gate, up)?;
    let (a, guard_a) = a.into_parts();
    let (b, guard_b) = b.into_parts();
    let (a, b) = (whole(a), whole(b));
    let (av, bv) = (
        a.as_slice::<f32>().expect("whole f32 buffer"),
        b.as_slice::<f32>().expect("whole f32 buffer"),
    );
    let mut out = av.to_vec();
    out.par_chunks_mut(CHUNK)
        .zip(bv.par_chunks(CHUNK))
        .for_each(|(o, u)| super::elementwise::silu_mul_slice(o, u));
    let out = flex(out, &dims);
    match SiluMul
        .prepare::<NoCheckpointing>([guard_a, guard_b])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => Ok(Tensor::from_primitive::<Ad>(prep.finish((a, b), out))),
        OpsKind::UnTracked(prep) => Ok(Tensor::from_primitive::<Ad>(prep.finish(out))),
    }
}

#[derive(Debug)]
struct SiluMul;

impl Backward<Flex, 2> for SiluMul {
    /// The gate and up inputs.
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let [parent_a, parent_b] = ops.parents;
        let (a, b) = ops.state;
        let shape = a.layout().shape().clone();
        let (av, bv) = (
            a.as_slice::<f32>().expect("whole f32 buffer"),
            b.as_slice::<f32>().expect("whole f32 buffer"),
        );
        let mut ga = whole(grad);
        let mut gb = vec![0f32; av.len()];
        ga.storage_mut::<f32>()
            .par_chunks_mut(CHUNK)
            .zip(gb.par_chunks_mut(CHUNK))
            .zip(av.par_chunks(CHUNK).zip(bv.par_chunks(CHUNK)))
            .for_each_init(
                || vec![0f32; CHUNK],
                |sig, ((ga, gb), (a, b))| {
                    // σ(a) = 1 / (1 + exp(−a)), through the vectorised exp.
                    let sig = &mut sig[..a.len()];
                    sig.copy_from_slice(a);
                    exp_shifted(sig, -1.0, 0.0);
                    for s in sig.iter_mut() {
                        *s = 1.0 / (1.0 + *s);
                    }
                    for i in 0..a.len() {
                        let (g, s) = (ga[i], sig[i]);
                        gb[i] = g * a[i] * s;
                        ga[i] = g * b[i] * s * (1.0 + a[i] * (1.0 - s));
                    }
                },
            );
        if let Some(node) = parent_a {
            grads.register::<Flex>(node.id, ga);
        }
        if let Some(node) = parent_b {
            grads.register::<Flex>(node.id, flex(gb, shape.as_slice()));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// RMSNorm.
// ---------------------------------------------------------------------------------------------

/// `x / sqrt(mean(x²) + eps) · w` over the last axis for autodiff f32 tensors (the arithmetic
/// of [`crate::model::RmsNorm`] in f32); `Err((x, w))` when the kernel does not apply.
///
/// # Shapes
/// - `x`: `[..., dim]`; `w`: `[dim]`; returns `x`'s shape
#[allow(clippy::type_complexity, clippy::result_large_err)]
pub(crate) fn rms_norm<const D: usize>(
    x: Tensor<D>,
    w: Tensor<1>,
    eps: f64,
) -> Result<Tensor<D>, (Tensor<D>, Tensor<1>)> {
    let dims = x.dims();
    let dim = dims[D - 1];
    if w.dims() != [dim] || dim == 0 {
        return Err((x, w));
    }
    let (xa, wa) = tracked_pair(x, w)?;
    let (x, guard_x) = xa.into_parts();
    let (w, guard_w) = wa.into_parts();
    let (x, w) = (whole(x), whole(w));
    let xv = x.as_slice::<f32>().expect("whole f32 buffer");
    let wv = w.as_slice::<f32>().expect("whole f32 buffer");
    let rows = xv.len() / dim;
    let mut out = vec![0f32; xv.len()];
    let mut rstd = vec![0f32; rows];
    let eps = eps as f32;
    let task = |((o, r), xr): ((&mut [f32], &mut f32), &[f32])| {
        // As burn computes it: mean of squares, + ε, sqrt, reciprocal; (x · r) · w.
        let ms = dot(xr, xr) / dim as f32;
        *r = 1.0 / (ms + eps).sqrt();
        for ((o, &x), &w) in o.iter_mut().zip(xr).zip(wv) {
            *o = x * *r * w;
        }
    };
    if xv.len() >= PARALLEL_MIN_ELEMENTS {
        out.par_chunks_mut(dim)
            .zip(rstd.par_iter_mut())
            .zip(xv.par_chunks(dim))
            .for_each(task);
    } else {
        out.chunks_mut(dim)
            .zip(rstd.iter_mut())
            .zip(xv.chunks(dim))
            .for_each(task);
    }
    let out = flex(out, &dims);
    match RmsNormBackward
        .prepare::<NoCheckpointing>([guard_x, guard_w])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let state = RmsState {
                x,
                w,
                rstd: Arc::new(rstd),
                dim,
            };
            Ok(Tensor::from_primitive::<Ad>(prep.finish(state, out)))
        }
        OpsKind::UnTracked(prep) => Ok(Tensor::from_primitive::<Ad>(prep.finish(out))),
    }
}

#[derive(Debug)]
struct RmsNormBackward;

#[derive(Debug, Clone)]
struct RmsState {
    x: FlexTensor,
    w: FlexTensor,
    /// `r` per row.
    rstd: Arc<Vec<f32>>,
    dim: usize,
}

/// Rows per task in the RMSNorm backward pass (each task also sums its rows' `∂/∂w`).
const NORM_ROWS_PER_TASK: usize = 64;

impl Backward<Flex, 2> for RmsNormBackward {
    type State = RmsState;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let [parent_x, parent_w] = ops.parents;
        let RmsState { x, w, rstd, dim } = ops.state;
        let shape = x.layout().shape().clone();
        let xv = x.as_slice::<f32>().expect("whole f32 buffer");
        let wv = w.as_slice::<f32>().expect("whole f32 buffer");
        let mut gx = whole(grad);
        let span = NORM_ROWS_PER_TASK * dim;
        // Each task: ∂/∂x of its rows in place over g, and its rows' share of ∂/∂w.
        let partial_w: Vec<Vec<f32>> = gx
            .storage_mut::<f32>()
            .par_chunks_mut(span)
            .zip(xv.par_chunks(span))
            .zip(rstd.par_chunks(NORM_ROWS_PER_TASK))
            .map(|((g, x), r)| {
                let mut dw = vec![0f32; dim];
                let mut gw = vec![0f32; dim];
                for ((g, x), &r) in g.chunks_mut(dim).zip(x.chunks(dim)).zip(r) {
                    for j in 0..dim {
                        gw[j] = g[j] * wv[j];
                        dw[j] += g[j] * x[j] * r;
                    }
                    // mean(g w x̂) = r · mean(g w x)
                    let c = r * dot(&gw, x) / dim as f32;
                    for j in 0..dim {
                        g[j] = r * (gw[j] - x[j] * r * c);
                    }
                }
                dw
            })
            .collect();
        if let Some(node) = parent_w {
            let mut dw = vec![0f32; dim];
            for p in &partial_w {
                for (d, v) in dw.iter_mut().zip(p) {
                    *d += v;
                }
            }
            grads.register::<Flex>(node.id, flex(dw, &[dim]));
        }
        if let Some(node) = parent_x {
            debug_assert_eq!(gx.layout().shape(), &shape);
            grads.register::<Flex>(node.id, gx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::activation::{log_softmax, silu, softmax};
    use burn::tensor::{Device, Int};
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(len: usize, scale: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
        (0..len).map(|_| rng.random_range(-scale..scale)).collect()
    }

    fn tensor<const D: usize>(values: &[f32], shape: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
    }

    fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_into_vec_as::<f32>().expect("f32")
    }

    fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= tol * (1.0 + w.abs()),
                "{what}[{i}]: {g} against burn's {w}"
            );
        }
    }

    #[test]
    fn log_softmax_gather_matches_burn_with_gradients_and_entropy() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let ad = Device::flex().autodiff();
        // 37 is not a multiple of the 16 lanes; a large spread tests the max shift.
        let (b, t, v) = (2, 3, 37);
        let z = random(b * t * v, 8.0, &mut rng);
        let targets: Vec<u32> = (0..b * t).map(|_| rng.random_range(0..v as u32)).collect();
        let weights = random(b * t, 1.0, &mut rng);

        let logits = tensor(&z, [b, t, v], &ad).require_grad();
        let (logp, entropy) = log_softmax_gather(logits.clone(), &targets, true)
            .unwrap_or_else(|_| panic!("the kernel applies"));
        let grads = (logp.clone() * tensor(&weights, [b, t], &ad))
            .sum()
            .backward();
        let grad = host(logits.grad(&grads).expect("gradient"));

        let reference = tensor(&z, [b, t, v], &ad).require_grad();
        let lp = log_softmax(reference.clone(), 2);
        let ids: Vec<i64> = targets.iter().map(|&id| i64::from(id)).collect();
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [b, t]), &ad);
        let picked = lp
            .clone()
            .gather(2, ids.unsqueeze_dim::<3>(2))
            .squeeze_dim::<2>(2);
        let ref_grads = (picked.clone() * tensor(&weights, [b, t], &ad))
            .sum()
            .backward();
        let ref_grad = host(reference.grad(&ref_grads).expect("gradient"));
        let lp = lp.detach();
        let ref_entropy = host((lp.clone().exp() * lp).sum_dim(2).neg());

        assert_close("log p", &host(logp), &host(picked), 1e-5);
        assert_close("gradient", &grad, &ref_grad, 1e-5);
        assert_close("entropy", &entropy.expect("asked for"), &ref_entropy, 1e-5);

        // Without autodiff: the same values, and the logits are left as they were.
        let plain = tensor(&z, [b, t, v], &Device::flex());
        let (logp_plain, _) = log_softmax_gather(plain.clone(), &targets, false)
            .unwrap_or_else(|_| panic!("the kernel applies"));
        assert_close(
            "plain log p",
            &host(logp_plain),
            &host(logp_of(&z, &targets, v)),
            1e-5,
        );
        assert_eq!(host(plain), z);
    }

    /// `log softmax(z)[t]` per row in f64.
    fn logp_of(z: &[f32], targets: &[u32], v: usize) -> Tensor<1> {
        let values: Vec<f32> = z
            .chunks(v)
            .zip(targets)
            .map(|(row, &t)| {
                let m = row
                    .iter()
                    .fold(f64::NEG_INFINITY, |m, &x| m.max(f64::from(x)));
                let s: f64 = row.iter().map(|&x| (f64::from(x) - m).exp()).sum();
                (f64::from(row[t as usize]) - m - s.ln()) as f32
            })
            .collect();
        let n = values.len();
        tensor(&values, [n], &Device::flex())
    }

    #[test]
    fn log_softmax_gather_refuses_out_of_range_targets() {
        let logits = Tensor::<3>::zeros([1, 2, 5], &Device::flex());
        assert!(log_softmax_gather(logits.clone(), &[0, 5], false).is_err());
        assert!(log_softmax_gather(logits, &[0], false).is_err());
    }

    #[test]
    fn attention_softmax_matches_burn_masked_softmax_with_gradients() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let ad = Device::flex().autodiff();
        let (b, h, q, k) = (2, 3, 5, 19);
        let scale = 0.125f32;
        let x = random(b * h * q * k, 20.0, &mut rng);
        let upstream = random(b * h * q * k, 1.0, &mut rng);
        // Per batch row: causal-like with left padding; query 0 of batch 1 sees no key.
        let mut hidden = vec![false; b * q * k];
        for bi in 0..b {
            for qi in 0..q {
                for ki in 0..k {
                    hidden[(bi * q + qi) * k + ki] =
                        ki > qi + 14 || (bi == 1 && (ki < 3 || qi == 0));
                }
            }
        }
        let mask = Tensor::<4, Bool>::from_data(TensorData::new(hidden, [b, 1, q, k]), &ad);

        let scores = tensor(&x, [b, h, q, k], &ad).require_grad();
        let y = attention_softmax(scores.clone(), scale, Some(&mask))
            .unwrap_or_else(|_| panic!("the kernel applies"));
        let grads = (y.clone() * tensor(&upstream, [b, h, q, k], &ad))
            .sum()
            .backward();
        let grad = host(scores.grad(&grads).expect("gradient"));

        let reference = tensor(&x, [b, h, q, k], &ad).require_grad();
        let masked = (reference.clone() * f64::from(scale))
            .mask_fill(mask.clone().expand([b, h, q, k]), f32::MIN);
        let ref_y = softmax(masked, 3);
        let ref_grads = (ref_y.clone() * tensor(&upstream, [b, h, q, k], &ad))
            .sum()
            .backward();
        let ref_grad = host(reference.grad(&ref_grads).expect("gradient"));

        assert_close("weights", &host(y), &host(ref_y), 1e-5);
        assert_close("gradient", &grad, &ref_grad, 1e-5);

        // Without a mask, and plain tensors are left to the inference kernel.
        let scores = tensor(&x, [b, h, q, k], &ad).require_grad();
        let y = attention_softmax(scores, scale, None).unwrap_or_else(|_| panic!("applies"));
        let ref_y = softmax(tensor(&x, [b, h, q, k], &ad) * f64::from(scale), 3);
        assert_close("unmasked", &host(y), &host(ref_y), 1e-5);
        assert!(attention_softmax(tensor(&x, [b, h, q, k], &Device::flex()), scale, None).is_err());
    }

    #[test]
    fn silu_mul_matches_burn_with_gradients() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let ad = Device::flex().autodiff();
        // More elements than one parallel chunk, and a tail.
        let shape = [3, 7, 1000];
        let n = 21_000;
        let (a, b, g) = (
            random(n, 9.0, &mut rng),
            random(n, 2.0, &mut rng),
            random(n, 1.0, &mut rng),
        );
        let (ta, tb) = (
            tensor(&a, shape, &ad).require_grad(),
            tensor(&b, shape, &ad).require_grad(),
        );
        let y = silu_mul(ta.clone(), tb.clone()).unwrap_or_else(|_| panic!("applies"));
        let grads = (y.clone() * tensor(&g, shape, &ad)).sum().backward();

        let (ra, rb) = (
            tensor(&a, shape, &ad).require_grad(),
            tensor(&b, shape, &ad).require_grad(),
        );
        let ry = silu(ra.clone()) * rb.clone();
        let ref_grads = (ry.clone() * tensor(&g, shape, &ad)).sum().backward();

        assert_close("output", &host(y), &host(ry), 1e-5);
        assert_close(
            "gradient of the gate",
            &host(ta.grad(&grads).expect("gradient")),
            &host(ra.grad(&ref_grads).expect("gradient")),
            1e-5,
        );
        assert_close(
            "gradient of up",
            &host(tb.grad(&grads).expect("gradient")),
            &host(rb.grad(&ref_grads).expect("gradient")),
            1e-5,
        );
    }

    #[test]
    fn rms_norm_matches_burn_with_gradients() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let ad = Device::flex().autodiff();
        // 150 rows: more than one task of 64 rows, and a partial one.
        let (rows, dim) = (150, 40);
        let eps = 1e-6;
        let (x, w, g) = (
            random(rows * dim, 3.0, &mut rng),
            random(dim, 2.0, &mut rng),
            random(rows * dim, 1.0, &mut rng),
        );
        let shape = [3, 50, dim];
        let (tx, tw) = (
            tensor(&x, shape, &ad).require_grad(),
            tensor(&w, [dim], &ad).require_grad(),
        );
        let y = rms_norm(tx.clone(), tw.clone(), eps).unwrap_or_else(|_| panic!("applies"));
        let grads = (y.clone() * tensor(&g, shape, &ad)).sum().backward();

        let (rx, rw) = (
            tensor(&x, shape, &ad).require_grad(),
            tensor(&w, [dim], &ad).require_grad(),
        );
        let ms = rx.clone().square().mean_dim(2);
        let ry = rx.clone() * (ms + eps).sqrt().recip() * rw.clone().unsqueeze::<3>();
        let ref_grads = (ry.clone() * tensor(&g, shape, &ad)).sum().backward();

        assert_close("output", &host(y), &host(ry), 1e-5);
        assert_close(
            "gradient of x",
            &host(tx.grad(&grads).expect("gradient")),
            &host(rx.grad(&ref_grads).expect("gradient")),
            1e-4,
        );
        assert_close(
            "gradient of the scale",
            &host(tw.grad(&grads).expect("gradient")),
            &host(rw.grad(&ref_grads).expect("gradient")),
            1e-4,
        );
    }

    #[test]
    fn linear_matches_burns_matmul_with_gradients() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let ad = Device::flex().autodiff();
        // Large enough for the parallel products, and a small one.
        for (m, n, k) in [(300, 257, 129), (3, 5, 7)] {
            let (x, w, g) = (
                random(m * k, 1.0, &mut rng),
                random(n * k, 1.0, &mut rng),
                random(m * n, 1.0, &mut rng),
            );
            let (tx, tw) = (
                tensor(&x, [m, k], &ad).require_grad(),
                tensor(&w, [n, k], &ad).require_grad(),
            );
            let y = linear(tx.clone(), tw.clone()).unwrap_or_else(|_| panic!("applies"));
            let grads = (y.clone() * tensor(&g, [m, n], &ad)).sum().backward();
            let (rx, rw) = (
                tensor(&x, [m, k], &ad).require_grad(),
                tensor(&w, [n, k], &ad).require_grad(),
            );
            let ry = rx.clone().matmul(rw.clone().transpose());
            let ref_grads = (ry.clone() * tensor(&g, [m, n], &ad)).sum().backward();
            assert_close("output", &host(y), &host(ry), 1e-5);
            assert_close(
                "gradient of x",
                &host(tx.grad(&grads).expect("gradient")),
                &host(rx.grad(&ref_grads).expect("gradient")),
                1e-5,
            );
            assert_close(
                "gradient of w",
                &host(tw.grad(&grads).expect("gradient")),
                &host(rw.grad(&ref_grads).expect("gradient")),
                1e-5,
            );
        }
        // Plain tensors are not for this kernel.
        let plain = Tensor::<2>::zeros([2, 3], &Device::flex());
        assert!(linear(plain.clone(), plain).is_err());
    }

    #[test]
    fn a_tensor_used_twice_collects_both_gradients() {
        // The output head is tied to the embedding: gradients registered by these operations
        // must add to the others of the same parameter.
        let ad = Device::flex().autodiff();
        let w = tensor(&[0.5, -1.0, 2.0, 0.25], [4], &ad).require_grad();
        let x = tensor(&[1.0, 2.0, 3.0, 4.0, -1.0, 0.5, 2.0, 1.0], [2, 4], &ad).require_grad();
        let y = rms_norm(x.clone(), w.clone(), 1e-6).unwrap_or_else(|_| panic!("applies"));
        let grads = (y.sum() + w.clone().sum() * 3.0).backward();
        let rx = tensor(&[1.0, 2.0, 3.0, 4.0, -1.0, 0.5, 2.0, 1.0], [2, 4], &ad);
        let rw = tensor(&[0.5, -1.0, 2.0, 0.25], [4], &ad).require_grad();
        let ms = rx.clone().square().mean_dim(1);
        let ry = rx * (ms + 1e-6).sqrt().recip() * rw.clone().unsqueeze::<2>();
        let ref_grads = (ry.sum() + rw.clone().sum() * 3.0).backward();
        assert_close(
            "scale gradient",
            &host(w.grad(&grads).expect("gradient")),
            &host(rw.grad(&ref_grads).expect("gradient")),
            1e-5,
        );
    }
}
