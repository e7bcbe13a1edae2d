//! Rotary position embedding (RoPE), split-halves convention.
//!
//! ```text
//! inv_freq_i = 1 / θ^(2i / d)                        i = 0 .. d/2,  d = head_dim, θ = rope_theta
//! angle(p, i) = p · inv_freq_i                       p = the token's position
//! cos(p) = [cos angle(p, 0..d/2), cos angle(p, 0..d/2)]      (the half repeated)
//! sin(p) = [sin angle(p, 0..d/2), sin angle(p, 0..d/2)]
//! rope(x, p) = x ⊙ cos(p) + rotate_half(x) ⊙ sin(p)
//! rotate_half([x₁, x₂]) = [-x₂, x₁]                  x₁, x₂ = first and second half of x
//! ```
//!
//! Dimension `i` of the first half is rotated together with dimension `i + d/2` of the second
//! half, as in HF transformers and the book (`compute_rope_params` / `apply_rope`). The original
//! paper and llama.cpp pair neighbouring dimensions (`2i`, `2i+1`) instead, and burn-nn's
//! `RotaryEncoding` does the same, which is why this module exists; GGUF files of Llama models
//! store the query/key rows permuted for that convention, and the GGUF loader undoes it.
//!
//! The angles are computed as HF does: `inv_freq` and `p · inv_freq` in f32, so the tables match
//! HF's to the last bit of the angle even at large positions.

use burn::tensor::{Device, Int, Tensor, TensorData};

/// Precomputed `cos` and `sin` tables for every position up to `max_position_embeddings`.
///
/// A constant buffer of the model (not a parameter): it is neither trained nor saved.
#[derive(burn::module::Module, Debug)]
pub struct Rope {
    /// `[max_positions, head_dim]`, f32.
    cos: Tensor<2>,
    /// `[max_positions, head_dim]`, f32.
    sin: Tensor<2>,
}

impl Rope {
    /// Builds the tables for `max_positions` positions of heads of width `head_dim`.
    ///
    /// # Panics
    /// If `head_dim` is odd (a validated [`Config`](crate::Config) never is).
    pub fn new(head_dim: usize, theta: f64, max_positions: usize, device: &Device) -> Self {
        assert!(
            head_dim.is_multiple_of(2),
            "RoPE needs an even head_dim, got {head_dim}"
        );
        let half = head_dim / 2;
        // Step 1: inverse frequencies, in f32 like HF's `_compute_default_rope_parameters`.
        let base = theta as f32;
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| 1.0 / base.powf((2 * i) as f32 / head_dim as f32))
            .collect();
        // Step 2: one angle per (position, frequency), repeated over both halves.
        let mut cos = Vec::with_capacity(max_positions * head_dim);
        let mut sin = Vec::with_capacity(max_positions * head_dim);
        for p in 0..max_positions {
            let angles: Vec<f32> = inv_freq.iter().map(|f| p as f32 * f).collect();
            for _ in 0..2 {
                cos.extend(angles.iter().map(|a| a.cos()));
                sin.extend(angles.iter().map(|a| a.sin()));
            }
        }
        let shape = [max_positions, head_dim];
        Rope {
            cos: Tensor::from_data(TensorData::new(cos, shape), device),
            sin: Tensor::from_data(TensorData::new(sin, shape), device),
        }
    }

    /// Number of positions the tables cover.
    pub fn max_positions(&self) -> usize {
        self.cos.dims()[0]
    }

    /// The tables for positions `start .. start + len`, shared by every row of the batch.
    ///
    /// # Shapes
    /// - returns `cos`, `sin`: `[1, 1, len, head_dim]`
    ///
    /// # Panics
    /// If `start + len` exceeds [`Rope::max_positions`].
    pub fn range(&self, start: usize, len: usize) -> RopeSlice {
        let max = self.max_positions();
        assert!(
            start + len <= max,
            "position {} is past the RoPE table ({max})",
            start + len - 1
        );
        let take = |t: &Tensor<2>| t.clone().narrow(0, start, len).unsqueeze::<4>();
        RopeSlice {
            cos: take(&self.cos),
            sin: take(&self.sin),
        }
    }

    /// The tables for one position per (row, token): used when rows of a batch are at
    /// different positions (left padding).
    ///
    /// # Shapes
    /// - `positions`: `[batch, len]`
    /// - returns `cos`, `sin`: `[batch, 1, len, head_dim]`
    ///
    /// # Panics
    /// If a position is past [`Rope::max_positions`].
    pub fn gather(&self, positions: Tensor<2, Int>) -> RopeSlice {
        let [batch, len] = positions.dims();
        let flat = positions.reshape([batch * len]);
        let take = |t: &Tensor<2>| {
            let d = t.dims()[1];
            t.clone()
                .select(0, flat.clone())
                .reshape([batch, 1, len, d])
        };
        RopeSlice {
            cos: take(&self.cos),
            sin: take(&self.sin),
        }
    }
}

/// `cos`/`sin` rows for the positions of one forward pass, broadcastable over heads.
#[derive(Debug, Clone)]
pub struct RopeSlice {
    cos: Tensor<4>,
    sin: Tensor<4>,
}

impl RopeSlice {
    /// Rotates queries or keys by their positions.
    ///
    /// # Shapes
    /// - `x`: `[batch, heads, seq, head_dim]`
    /// - returns: the same shape
    pub fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        crate::ops::rope(x, &self.cos, &self.sin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rope_at_position_zero_is_the_identity() {
        let device = Device::flex();
        let rope = Rope::new(8, 10_000.0, 4, &device);
        let x = Tensor::<4>::from_data(
            TensorData::new((0..16).map(|i| i as f32).collect(), [1, 2, 1, 8]),
            &device,
        );
        let y = rope.range(0, 1).apply(x.clone());
        assert!(y.all_close(x, None, Some(1e-6)));
    }

    #[test]
    fn rope_pairs_dimension_i_with_i_plus_half() {
        // A unit vector on dimension 0 rotates into dimension d/2 (split halves), not 1.
        let device = Device::flex();
        let rope = Rope::new(4, 10_000.0, 3, &device);
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 0., 0., 0.], [1, 1, 1, 4]),
            &device,
        );
        let y: Vec<f32> = rope
            .range(1, 1)
            .apply(x)
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap();
        // inv_freq_0 = 1, so the angle at position 1 is 1 radian.
        let expected = [1f32.cos(), 0.0, 1f32.sin(), 0.0];
        for (a, b) in y.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{y:?} vs {expected:?}");
        }
    }

    #[test]
    fn rope_preserves_norm_and_relative_angles() {
        // <rope(q, m), rope(k, n)> depends only on m - n.
        let device = Device::flex();
        let rope = Rope::new(8, 100.0, 32, &device);
        let q = Tensor::<4>::from_data(
            TensorData::new(
                (0..8).map(|i| (i as f32 * 0.7).sin()).collect(),
                [1, 1, 1, 8],
            ),
            &device,
        );
        let k = Tensor::<4>::from_data(
            TensorData::new(
                (0..8).map(|i| (i as f32 * 1.3).cos()).collect(),
                [1, 1, 1, 8],
            ),
            &device,
        );
        let dot = |m: usize, n: usize| {
            let a = rope.range(m, 1).apply(q.clone());
            let b = rope.range(n, 1).apply(k.clone());
            (a * b).sum().into_scalar::<f32>()
        };
        assert!((dot(5, 2) - dot(13, 10)).abs() < 1e-4);
        assert!(
            (dot(5, 2) - dot(2, 5)).abs() > 1e-3,
            "the product must depend on the sign"
        );
        let norm = |x: Tensor<4>| x.square().sum().into_scalar::<f32>();
        assert!((norm(rope.range(7, 1).apply(q.clone())) - norm(q)).abs() < 1e-5);
    }

    #[test]
    fn gathered_positions_equal_the_contiguous_range() {
        let device = Device::flex();
        let rope = Rope::new(4, 10_000.0, 8, &device);
        let x = Tensor::<4>::from_data(
            TensorData::new((0..24).map(|i| i as f32 / 10.0).collect(), [2, 1, 3, 4]),
            &device,
        );
        let positions = Tensor::<2, Int>::from_data(
            TensorData::new(vec![2i32, 3, 4, 2, 3, 4], [2, 3]),
            &device,
        );
        let a = rope.range(2, 3).apply(x.clone());
        let b = rope.gather(positions).apply(x);
        assert!(a.all_close(b, None, Some(1e-6)));
    }

    #[test]
    fn the_one_pass_kernel_equals_burns_ops_bit_for_bit() {
        let device = Device::flex();
        let rope = Rope::new(16, 10_000.0, 64, &device);
        let (b, seq, h, d) = (2, 5, 3, 16);
        let values = (0..b * seq * h * d)
            .map(|i| ((i * 7919) % 1000) as f32 / 250.0 - 2.0)
            .collect();
        // The heads-first view of a projection's output, as attention passes it.
        let x = Tensor::<4>::from_data(TensorData::new(values, [b, seq, h, d]), &device)
            .swap_dims(1, 2);
        let positions = Tensor::<2, Int>::from_data(
            TensorData::new(vec![0i32, 1, 2, 3, 4, 30, 31, 32, 33, 34], [b, seq]),
            &device,
        );
        for slice in [rope.range(7, seq), rope.gather(positions)] {
            let got = crate::kernels::rope_rotate(&x, &slice.cos, &slice.sin)
                .expect("flex f32 tensors take the kernel");
            // burn's ops, as `ops::rope` runs them without the kernel.
            let half = d / 2;
            let x1 = x.clone().narrow(3, 0, half);
            let x2 = x.clone().narrow(3, half, half);
            let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
            let want = x.clone() * slice.cos.clone() + rotated * slice.sin.clone();
            let got: Vec<f32> = got.into_data().try_to_vec().unwrap();
            let want: Vec<f32> = want.into_data().try_to_vec().unwrap();
            assert_eq!(got, want);
        }
        // Autodiff tensors keep burn's ops.
        let ad = Device::flex().autodiff();
        let xa = Tensor::<4>::from_data(x.into_data(), &ad);
        let slice = Rope::new(16, 10_000.0, 64, &ad).range(0, seq);
        assert!(crate::kernels::rope_rotate(&xa, &slice.cos, &slice.sin).is_none());
    }
}
