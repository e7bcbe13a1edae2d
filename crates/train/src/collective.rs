//! Data parallelism across processes: the one reduction a trainer needs, behind a small trait.
//!
//! Every rank holds the same model and optimizer state and sees the same global batch. A step
//! splits the batch's work into contiguous shares ([`shard`]), each rank computes the gradients
//! of its share, and one reduction sums them, so every rank takes the same AdamW step:
//!
//! ```text
//! g = Σ_r g_r          g_r = Σ_{micro-batches m of rank r} ∇ L_m
//! ```
//!
//! The loss of each micro-batch is already divided by the *global* counts (sequences, tokens,
//! groups), so the sum is the single-process gradient whatever the split: only the order of
//! the floating-point additions changes (within 1e-5 after three steps, tested under
//! `mpirun -np 2`).
//!
//! [`Collective`] is that reduction and a gather of bytes (for rollouts, statistics and the
//! start-up check that every rank runs the same configuration, [`agree`]). [`SingleProcess`]
//! is the identity: with it a trainer runs exactly as it did before ranks existed, bit for bit.
//! `crate::mpi::MpiCollective` (cargo feature `mpi`) runs it across processes and machines on
//! MPI; another backend (burn's collectives over several GPUs in one process, say) is another
//! implementation of the trait.
//!
//! Only rank 0 writes (metrics, checkpoints, plots, samples, the final model): the scaffold in
//! [`crate::run`] checks [`Collective::rank`].

use std::fmt::Debug;
use std::ops::Range;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Tensor, TensorData};

use crate::TrainError;

/// The collective operations of data-parallel training.
///
/// Every rank must call the same operations in the same order with buffers of the same length
/// (an MPI program's rule). Implementations give every rank the *same* result, bit for bit,
/// so the replicas never drift apart.
pub trait Collective: Debug + Send + Sync {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;

    /// The number of ranks.
    fn size(&self) -> usize;

    /// Replaces `values` with their element-wise sum over all ranks.
    ///
    /// # Errors
    /// The transport failed.
    fn sum_f32(&self, values: &mut [f32]) -> Result<(), TrainError>;

    /// Replaces `values` with their element-wise sum over all ranks.
    ///
    /// # Errors
    /// The transport failed.
    fn sum_f64(&self, values: &mut [f64]) -> Result<(), TrainError>;

    /// Returns every rank's `bytes`, in rank order.
    ///
    /// # Errors
    /// The transport failed.
    fn gather(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, TrainError>;
}

/// One process: every operation is the identity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SingleProcess;

impl Collective for SingleProcess {
    fn rank(&self) -> usize {
        0
    }

    fn size(&self) -> usize {
        1
    }

    fn sum_f32(&self, _: &mut [f32]) -> Result<(), TrainError> {
        Ok(())
    }

    fn sum_f64(&self, _: &mut [f64]) -> Result<(), TrainError> {
        Ok(())
    }

    fn gather(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, TrainError> {
        Ok(vec![bytes.to_vec()])
    }
}

/// The single-process collective, for struct fields that take `&dyn Collective`.
pub const SINGLE: &SingleProcess = &SingleProcess;

/// Whether this rank is the one that writes (rank 0).
pub fn is_root(c: &dyn Collective) -> bool {
    c.rank() == 0
}

/// Returns rank `rank`'s share of `len` items among `size` ranks: contiguous, in rank order,
/// sizes differing by at most one.
///
/// ```
/// use reasoning_train::collective::shard;
/// assert_eq!(shard(10, 0, 3), 0..3);
/// assert_eq!(shard(10, 1, 3), 3..6);
/// assert_eq!(shard(10, 2, 3), 6..10);
/// // Fewer items than ranks: the last ranks get them (rank 0 also evaluates and writes).
/// assert_eq!(shard(1, 0, 2), 0..0);
/// assert_eq!(shard(1, 1, 2), 0..1);
/// ```
pub fn shard(len: usize, rank: usize, size: usize) -> Range<usize> {
    let size = size.max(1);
    len * rank / size..len * (rank + 1) / size
}

/// Sums `grads` over all ranks (the single all-reduce of a data-parallel step) and returns
/// the sum; with one rank they are returned untouched.
///
/// Parameters are visited in `model`'s order and packed into one `f32` buffer, followed by a
/// flag per parameter for whether this rank has a gradient for it (one reduction in all): a rank whose share of the batch was
/// empty contributes nothing, and a parameter no rank has a gradient for stays without one
/// (as in a single process, so AdamW skips it).
///
/// # Errors
/// The transport failed.
pub fn sum_gradients<M: Module>(
    model: &M,
    grads: GradientsParams,
    c: &dyn Collective,
) -> Result<GradientsParams, TrainError> {
    if c.size() == 1 {
        return Ok(grads);
    }
    struct Pack<'a> {
        grads: &'a GradientsParams,
        values: Vec<f32>,
        present: Vec<f32>,
    }
    impl ModuleVisitor for Pack<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let n: usize = param.lazy_shape().iter().product();
            match self.grads.get::<D>(param.id) {
                Some(g) => {
                    let data = g.into_data().convert::<f32>();
                    let slice = data.as_slice::<f32>().expect("converted to f32");
                    self.values.extend_from_slice(slice);
                    self.present.push(1.0);
                }
                None => {
                    self.values.resize(self.values.len() + n, 0.0);
                    self.present.push(0.0);
                }
            }
        }
    }
    let mut pack = Pack {
        grads: &grads,
        values: Vec::new(),
        present: Vec::new(),
    };
    model.visit(&mut pack);
    let Pack {
        mut values,
        present,
        ..
    } = pack;
    // One reduction: the values, then the flags (exact in f32 for any realistic rank count).
    let n = values.len();
    values.extend_from_slice(&present);
    c.sum_f32(&mut values)?;
    let present = values.split_off(n);

    struct Unpack<'a> {
        out: GradientsParams,
        values: &'a [f32],
        present: &'a [f32],
        offset: usize,
        index: usize,
    }
    impl ModuleVisitor for Unpack<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let shape = param.lazy_shape().to_vec();
            let n: usize = shape.iter().product();
            let range = self.offset..self.offset + n;
            self.offset += n;
            let present = self.present[self.index] > 0.0;
            self.index += 1;
            if present {
                let device = param.val().inner().device();
                let data = TensorData::new(self.values[range].to_vec(), shape);
                self.out
                    .register(param.id, Tensor::<D>::from_data(data, &device));
            }
        }
    }
    let mut unpack = Unpack {
        out: GradientsParams::new(),
        values: &values,
        present: &present,
        offset: 0,
        index: 0,
    };
    model.visit(&mut unpack);
    Ok(unpack.out)
}

/// Returns rank 0's `bytes` on every rank (a broadcast, through [`Collective::gather`]).
///
/// # Errors
/// The transport failed.
pub fn from_root(c: &dyn Collective, bytes: &[u8]) -> Result<Vec<u8>, TrainError> {
    if c.size() == 1 {
        return Ok(bytes.to_vec());
    }
    let mut all = c.gather(bytes)?;
    Ok(all.swap_remove(0))
}

/// Checks that every rank holds the same `bytes` (a configuration, a model's weights, a
/// dataset), by comparing a 64-bit hash of them with rank 0's.
///
/// # Errors
/// [`TrainError::Ranks`] naming `what` and every rank that differs from rank 0.
pub fn agree(c: &dyn Collective, what: &str, bytes: &[u8]) -> Result<(), TrainError> {
    agree_hash(c, what, fnv1a(bytes))
}

/// [`agree`] for a hash the caller computed (of data too large to gather).
///
/// # Errors
/// [`TrainError::Ranks`] naming `what` and every rank that differs from rank 0.
pub fn agree_hash(c: &dyn Collective, what: &str, hash: u64) -> Result<(), TrainError> {
    if c.size() == 1 {
        return Ok(());
    }
    let all = c.gather(&hash.to_le_bytes())?;
    let hashes: Vec<u64> = all
        .iter()
        .map(|b| u64::from_le_bytes(b.as_slice().try_into().unwrap_or([0; 8])))
        .collect();
    let differ: Vec<String> = hashes
        .iter()
        .enumerate()
        .filter(|(_, h)| **h != hashes[0])
        .map(|(r, h)| format!("rank {r} (hash {h:016x})"))
        .collect();
    if differ.is_empty() {
        Ok(())
    } else {
        Err(TrainError::Ranks {
            message: format!(
                "the {what} differs between ranks: rank 0 has hash {:016x}, {}; every rank must \
                 start from the same files and flags",
                hashes[0],
                differ.join(", ")
            ),
        })
    }
}

/// A 64-bit FNV-1a hash of the values of `model`'s parameters, in visit order (what
/// [`agree_hash`] compares to check that every rank loaded the same weights).
pub fn params_hash<M: Module>(model: &M) -> u64 {
    struct Hash(u64);
    impl ModuleVisitor for Hash {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let data = param.val().inner().into_data();
            for d in param.lazy_shape().to_vec() {
                self.0 = fnv1a_continue(self.0, &(d as u64).to_le_bytes());
            }
            self.0 = fnv1a_continue(self.0, data.as_bytes());
        }
    }
    let mut h = Hash(FNV_OFFSET);
    model.visit(&mut h);
    h.0
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// The 64-bit FNV-1a hash of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_continue(FNV_OFFSET, bytes)
}

fn fnv1a_continue(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier, Mutex};

    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::Device;

    use super::*;

    /// Ranks as threads of one process: a test double of a real transport.
    #[derive(Debug)]
    struct Threads {
        rank: usize,
        size: usize,
        shared: Arc<(Barrier, Mutex<Vec<Vec<u8>>>)>,
    }

    impl Threads {
        fn group(size: usize) -> Vec<Threads> {
            let shared = Arc::new((Barrier::new(size), Mutex::new(vec![Vec::new(); size])));
            (0..size)
                .map(|rank| Threads {
                    rank,
                    size,
                    shared: shared.clone(),
                })
                .collect()
        }
    }

    impl Collective for Threads {
        fn rank(&self) -> usize {
            self.rank
        }
        fn size(&self) -> usize {
            self.size
        }
        fn sum_f32(&self, values: &mut [f32]) -> Result<(), TrainError> {
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            let all = self.gather(&bytes)?;
            for (i, v) in values.iter_mut().enumerate() {
                *v = all
                    .iter()
                    .map(|b| f32::from_le_bytes(b[4 * i..4 * i + 4].try_into().unwrap()))
                    .sum();
            }
            Ok(())
        }
        fn sum_f64(&self, values: &mut [f64]) -> Result<(), TrainError> {
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            let all = self.gather(&bytes)?;
            for (i, v) in values.iter_mut().enumerate() {
                *v = all
                    .iter()
                    .map(|b| f64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap()))
                    .sum();
            }
            Ok(())
        }
        fn gather(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, TrainError> {
            let (barrier, slots) = &*self.shared;
            slots.lock().unwrap()[self.rank] = bytes.to_vec();
            barrier.wait();
            let all = slots.lock().unwrap().clone();
            barrier.wait();
            Ok(all)
        }
    }

    #[test]
    fn shards_cover_every_item_once_in_order() {
        for len in 0..20 {
            for size in 1..6 {
                let joined: Vec<usize> = (0..size).flat_map(|r| shard(len, r, size)).collect();
                assert_eq!(
                    joined,
                    (0..len).collect::<Vec<_>>(),
                    "len {len} size {size}"
                );
            }
        }
    }

    #[test]
    fn summed_gradients_equal_the_gradient_of_the_whole_batch() {
        let device = Device::flex().autodiff();
        let model: Linear = LinearConfig::new(3, 2).init(&device);
        let x = |rows: Vec<f32>| {
            let n = rows.len() / 3;
            Tensor::<2>::from_data(TensorData::new(rows, [n, 3]), &device)
        };
        let grads_of = |rows: Vec<f32>| {
            let loss = model.forward(x(rows)).powf_scalar(2.0).sum();
            GradientsParams::from_grads(loss.backward(), &model)
        };
        let all = vec![1.0, 2.0, 3.0, -1.0, 0.5, 2.0, 0.0, 1.0, -2.0];
        let whole = grads_of(all.clone());
        // Rank 0 has two rows, rank 1 one row, rank 2 none.
        let shares = [all[..6].to_vec(), all[6..].to_vec(), Vec::new()];
        let summed: Vec<GradientsParams> = std::thread::scope(|s| {
            let handles: Vec<_> = Threads::group(3)
                .into_iter()
                .zip(shares)
                .map(|(c, rows)| {
                    let model = &model;
                    let grads_of = &grads_of;
                    s.spawn(move || {
                        let g = if rows.is_empty() {
                            GradientsParams::new()
                        } else {
                            grads_of(rows)
                        };
                        sum_gradients(model, g, &c).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let weight = |g: &GradientsParams| {
            g.get::<2>(model.weight.id)
                .unwrap()
                .into_data()
                .try_into_vec_as::<f32>()
                .unwrap()
        };
        for g in &summed {
            for (a, b) in weight(g).iter().zip(weight(&whole)) {
                assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
            }
        }
        // Every rank holds the same sum, bit for bit.
        assert_eq!(weight(&summed[0]), weight(&summed[2]));
    }

    #[test]
    fn a_rank_with_other_bytes_is_named() {
        let errors: Vec<Result<(), TrainError>> = std::thread::scope(|s| {
            let handles: Vec<_> = Threads::group(3)
                .into_iter()
                .map(|c| {
                    s.spawn(move || {
                        let config = if c.rank == 2 { "lr=2" } else { "lr=1" };
                        agree(&c, "configuration", config.as_bytes())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for e in errors {
            let message = e.unwrap_err().to_string();
            assert!(message.contains("configuration differs"), "{message}");
            assert!(message.contains("rank 2 (hash"), "{message}");
            assert!(!message.contains("rank 1 (hash"), "{message}");
        }
    }

    #[test]
    fn one_process_is_the_identity() {
        let device = Device::flex().autodiff();
        let model: Linear = LinearConfig::new(2, 2).init(&device);
        assert_eq!(from_root(SINGLE, b"abc").unwrap(), b"abc");
        assert!(agree(SINGLE, "x", b"abc").is_ok());
        let g = sum_gradients(&model, GradientsParams::new(), SINGLE).unwrap();
        assert!(g.is_empty());
        assert_eq!(params_hash(&model), params_hash(&model.clone()));
    }
}
