//! The key/value cache for incremental decoding.
//!
//! During generation each new token attends to the keys and values of every earlier token.
//! Recomputing them costs a full forward pass per token; the cache stores them instead, so a
//! step only projects the new token (book section 2.7, "KV cache").
//!
//! Layout: per layer one K and one V buffer of shape `[batch, kv_heads, capacity, head_dim]`,
//! allocated once (on the first write, in the model's dtype) and written in place. Each write
//! moves the buffer through `slice_assign`, which burn-flex performs in place when the buffer
//! has no other handle; the views handed to attention are dropped before the next write, so no
//! step copies the cache (see notes/burn-0.22.md, "KV-cache trap"). When a write would pass the
//! capacity, the buffers are reallocated at twice the size (or more) and the filled prefix is
//! copied over: amortised O(1) per token.
//!
//! Batched prompts of different lengths are left-padded so that every row ends at the same
//! slot: row `b` begins with `left_pad[b]` padding tokens. Those key slots are masked out for
//! every query, and row `b`'s RoPE positions count from 0 at its first real token:
//!
//! ```text
//! position(b, slot) = max(slot - left_pad[b], 0)
//! key slot j is visible to query slot i of row b  ⇔  left_pad[b] ≤ j ≤ i
//! ```
//!
//! The cache is a plain value the caller owns: nothing in the model holds state between calls.

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use crate::config::Config;

/// One layer's key and value buffers, `[batch, kv_heads, capacity, head_dim]` each.
#[derive(Debug, Clone)]
struct LayerKv {
    k: Tensor<4>,
    v: Tensor<4>,
}

/// Keys and values of every layer for the tokens seen so far, plus per-row left padding.
#[derive(Debug, Clone)]
pub struct KvCache {
    /// `None` until the first write (the dtype is the model's, known only then).
    layers: Vec<Option<LayerKv>>,
    len: usize,
    capacity: usize,
    left_pad: Vec<usize>,
    kv_heads: usize,
    head_dim: usize,
    device: Device,
}

impl KvCache {
    /// An empty cache for `batch` rows of `config`'s model, with room for `capacity` tokens
    /// before it grows. Memory is allocated on the first forward pass.
    pub fn new(config: &Config, batch: usize, capacity: usize, device: &Device) -> Self {
        Self::with_left_padding(config, vec![0; batch], capacity, device)
    }

    /// An empty cache for left-padded prompts: row `b` begins with `left_pad[b]` pad tokens,
    /// whose keys are masked out and which do not advance row `b`'s positions.
    pub fn with_left_padding(
        config: &Config,
        left_pad: Vec<usize>,
        capacity: usize,
        device: &Device,
    ) -> Self {
        KvCache {
            layers: vec![None; config.num_hidden_layers],
            len: 0,
            capacity: capacity.max(1),
            left_pad,
            kv_heads: config.num_key_value_heads,
            head_dim: config.head_dim,
            device: device.clone(),
        }
    }

    /// Number of token slots filled (padding included), the same for every row.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of layers the cache was made for.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Number of rows.
    pub fn batch(&self) -> usize {
        self.left_pad.len()
    }

    /// Slots available before the buffers grow.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Pad tokens at the start of each row.
    pub fn left_pad(&self) -> &[usize] {
        &self.left_pad
    }

    /// Whether any row is padded (masks and per-row positions are needed).
    pub fn is_padded(&self) -> bool {
        self.left_pad.iter().any(|&p| p > 0)
    }

    /// Repeats every row `n` times (`r0, r0, .., r1, r1, ..`), so `n` samples of one prompt
    /// share one prefill.
    ///
    /// # Panics
    /// If `n` is 0.
    pub fn repeat_rows(self, n: usize) -> Self {
        assert!(n > 0, "repeat_rows needs n > 0");
        let rows: Vec<usize> = (0..self.batch())
            .flat_map(|r| std::iter::repeat_n(r, n))
            .collect();
        self.select_rows(&rows)
    }

    /// Keeps only the given rows, in the given order (indices may repeat); used to drop
    /// finished sequences from a batch. An empty `rows` releases the buffers.
    ///
    /// # Panics
    /// If a row index is out of range.
    pub fn select_rows(mut self, rows: &[usize]) -> Self {
        let batch = self.batch();
        for &r in rows {
            assert!(
                r < batch,
                "row {r} is out of range for a cache of {batch} rows"
            );
        }
        let left_pad = rows.iter().map(|&r| self.left_pad[r]).collect();
        if rows.is_empty() {
            // Every row finished: release the buffers.
            self.layers.iter_mut().for_each(|kv| *kv = None);
        } else if !self.layers.iter().all(Option::is_none) {
            let index = Tensor::<1, Int>::from_data(
                TensorData::new(rows.iter().map(|&r| r as i64).collect(), [rows.len()]),
                &self.device,
            );
            for kv in self.layers.iter_mut().flatten() {
                kv.k = kv.k.clone().select(0, index.clone());
                kv.v = kv.v.clone().select(0, index.clone());
            }
        }
        self.left_pad = left_pad;
        self
    }

    /// Appends the rows of `other` after this cache's rows: how a request joins a running
    /// batch (continuous batching). The two are aligned on their last slot: the shorter one's
    /// rows move right by the difference, which becomes more left padding (keys are stored
    /// already rotated by their own positions, so moving a row's slots changes nothing it
    /// computes). An empty side (no rows) gives the other unchanged.
    ///
    /// # Panics
    /// If the caches belong to models of different shapes, or one has rows but was never
    /// written to while the other was.
    pub fn concat(self, other: KvCache) -> KvCache {
        if other.batch() == 0 {
            return self;
        }
        if self.batch() == 0 {
            return other;
        }
        assert_eq!(
            (self.layers.len(), self.kv_heads, self.head_dim),
            (other.layers.len(), other.kv_heads, other.head_dim),
            "caches of different models cannot be joined"
        );
        let len = self.len.max(other.len);
        let capacity = self.capacity.max(other.capacity).max(len);
        let shift = |cache: &KvCache| len - cache.len;
        let mut left_pad: Vec<usize> = self.left_pad.iter().map(|p| p + shift(&self)).collect();
        left_pad.extend(other.left_pad.iter().map(|p| p + shift(&other)));
        let moved = |cache: &KvCache, t: Tensor<4>| -> Tensor<4> {
            let [b, h, _, d] = t.dims();
            let by = shift(cache);
            let fresh = Tensor::<4>::zeros([b, h, capacity, d], &t.device()).cast(t.dtype());
            let filled = t.slice([0..b, 0..h, 0..cache.len, 0..d]);
            fresh.slice_assign([0..b, 0..h, by..by + cache.len, 0..d], filled)
        };
        let layers = self
            .layers
            .iter()
            .zip(&other.layers)
            .map(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => Some(LayerKv {
                    k: Tensor::cat(
                        vec![moved(&self, a.k.clone()), moved(&other, b.k.clone())],
                        0,
                    ),
                    v: Tensor::cat(
                        vec![moved(&self, a.v.clone()), moved(&other, b.v.clone())],
                        0,
                    ),
                }),
                (None, None) => None,
                _ => panic!("a written cache cannot be joined with an unwritten one"),
            })
            .collect();
        KvCache {
            layers,
            len,
            capacity,
            left_pad,
            kv_heads: self.kv_heads,
            head_dim: self.head_dim,
            device: self.device,
        }
    }

    /// Drops the leading slots that are padding in every row (after the longest-padded rows
    /// left the batch), so a long-running batch does not keep growing. Changes no result.
    pub fn trim_padding(mut self) -> KvCache {
        let drop = self
            .left_pad
            .iter()
            .copied()
            .min()
            .unwrap_or(0)
            .min(self.len);
        if drop == 0 {
            return self;
        }
        let keep = self.len - drop;
        for kv in self.layers.iter_mut().flatten() {
            let [b, h, cap, d] = kv.k.dims();
            let trim = |t: Tensor<4>| {
                let fresh = Tensor::<4>::zeros([b, h, cap, d], &t.device()).cast(t.dtype());
                fresh.slice_assign(
                    [0..b, 0..h, 0..keep, 0..d],
                    t.slice([0..b, 0..h, drop..drop + keep, 0..d]),
                )
            };
            kv.k = trim(kv.k.clone());
            kv.v = trim(kv.v.clone());
        }
        self.left_pad.iter_mut().for_each(|p| *p -= drop);
        self.len = keep;
        self
    }

    /// Writes `k_new`/`v_new` for layer `layer` at slots `len .. len + seq` and returns views
    /// of the filled prefix. Call [`KvCache::advance`] after the last layer.
    ///
    /// # Shapes
    /// - `k_new`, `v_new`: `[batch, kv_heads, seq, head_dim]`
    /// - returns: `[batch, kv_heads, len + seq, head_dim]` each
    pub(crate) fn append(
        &mut self,
        layer: usize,
        k_new: Tensor<4>,
        v_new: Tensor<4>,
    ) -> (Tensor<4>, Tensor<4>) {
        let [batch, kv_heads, seq, head_dim] = k_new.dims();
        assert_eq!(
            (batch, kv_heads, head_dim),
            (self.batch(), self.kv_heads, self.head_dim),
            "KV cache holds [batch, kv_heads, _, head_dim] = {:?}, got keys {:?}",
            [self.batch(), self.kv_heads, 0, self.head_dim],
            k_new.dims()
        );
        let end = self.len + seq;
        if end > self.capacity {
            self.grow(end);
        }
        let capacity = self.capacity;
        let kv = self.layers[layer].take().unwrap_or_else(|| {
            let shape = [batch, kv_heads, capacity, head_dim];
            let zeros = || Tensor::<4>::zeros(shape, &self.device).cast(k_new.dtype());
            LayerKv {
                k: zeros(),
                v: zeros(),
            }
        });
        let slots = [0..batch, 0..kv_heads, self.len..end, 0..head_dim];
        // Moving the buffers in (no clone) lets burn write in place.
        let k = kv.k.slice_assign(slots.clone(), k_new);
        let v = kv.v.slice_assign(slots, v_new);
        let prefix = [0..batch, 0..kv_heads, 0..end, 0..head_dim];
        let views = (k.clone().slice(prefix.clone()), v.clone().slice(prefix));
        self.layers[layer] = Some(LayerKv { k, v });
        views
    }

    /// Marks `seq` more slots as filled, once every layer has written them.
    pub(crate) fn advance(&mut self, seq: usize) {
        self.len += seq;
    }

    /// Reallocates every layer's buffers to hold at least `needed` slots (at least doubling).
    fn grow(&mut self, needed: usize) {
        let new_capacity = needed.max(self.capacity * 2);
        let len = self.len;
        for kv in self.layers.iter_mut().flatten() {
            let [b, h, _, d] = kv.k.dims();
            let enlarge = |old: Tensor<4>| {
                let fresh =
                    Tensor::<4>::zeros([b, h, new_capacity, d], &old.device()).cast(old.dtype());
                let filled = old.slice([0..b, 0..h, 0..len, 0..d]);
                fresh.slice_assign([0..b, 0..h, 0..len, 0..d], filled)
            };
            kv.k = enlarge(kv.k.clone());
            kv.v = enlarge(kv.v.clone());
        }
        self.capacity = new_capacity;
    }

    /// RoPE positions of `seq` new tokens for every row: `[batch, seq]`.
    pub(crate) fn positions(&self, seq: usize) -> Tensor<2, Int> {
        let batch = self.batch();
        let mut data = Vec::with_capacity(batch * seq);
        for &pad in &self.left_pad {
            data.extend((self.len..self.len + seq).map(|slot| slot.saturating_sub(pad) as i64));
        }
        Tensor::from_data(TensorData::new(data, [batch, seq]), &self.device)
    }

    /// The attention mask for `seq` new queries over all `len + seq` key slots, `true` where
    /// a key is hidden (in the future, or padding); `None` when nothing is hidden.
    ///
    /// Query rows are repeated `group` times (`g · seq + t`), matching attention's grouped
    /// layout of the query heads that share a K/V head.
    ///
    /// # Shapes
    /// - returns: `[batch, 1, group * seq, len + seq]`
    pub(crate) fn mask(&self, seq: usize, group: usize) -> Option<Tensor<4, Bool>> {
        if seq == 1 && !self.is_padded() {
            return None;
        }
        let mask = attention_mask(&self.left_pad, self.len, seq, group);
        Some(Tensor::from_data(mask, &self.device))
    }
}

/// Host-side mask `[batch, 1, group * seq, start + seq]`: query `t` (slot `start + t`) of row
/// `b` may see key slot `j` iff `left_pad[b] ≤ j ≤ start + t`.
pub(crate) fn attention_mask(
    left_pad: &[usize],
    start: usize,
    seq: usize,
    group: usize,
) -> TensorData {
    let keys = start + seq;
    let mut data = Vec::with_capacity(left_pad.len() * group * seq * keys);
    for &pad in left_pad {
        for _ in 0..group {
            for t in 0..seq {
                let query = start + t;
                data.extend((0..keys).map(|j| j < pad || j > query));
            }
        }
    }
    TensorData::new(data, [left_pad.len(), 1, group * seq, keys])
}
