//! [`Collective`] on MPI (cargo feature `mpi`): data-parallel training across processes and
//! machines, launched by `mpirun` or a cluster scheduler (`srun`).
//!
//! ```text
//! mpirun -np 4 [--hostfile hosts] target/release/xtask train-grpo ...
//! ```
//!
//! Built on rsmpi (the `mpi` crate) over the system's MPI (Open MPI or MPICH, found through
//! `mpicc`; bindgen needs libclang). Sums are a reduce to rank 0 followed by a broadcast, not
//! `MPI_Allreduce`: the standard does not promise that every rank of an all-reduce gets the same
//! bits (an implementation may add in a different order on each rank), and replicas that
//! differ by one rounding drift apart over a run. Rank 0 adds in one order and every rank takes
//! its result.
//!
//! Faults: MPI's default error handler ends the whole job on a transport error, and `mpirun`
//! ends it when any rank dies. A rank that fails in our code must call
//! [`MpiCollective::abort`] (a rank that merely returned would wait forever in `MPI_Finalize`
//! for ranks blocked in a collective).

use std::sync::Mutex;

use mpi::collective::{CommunicatorCollectives, Root, SystemOperation};
use mpi::datatype::PartitionMut;
use mpi::environment::{Threading, Universe};
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::Equivalence;

use crate::TrainError;
use crate::collective::Collective;

/// Elements per MPI call: counts are C `int`s.
const CHUNK: usize = 1 << 26;

/// The MPI world of this process.
pub struct MpiCollective {
    world: SimpleCommunicator,
    rank: usize,
    size: usize,
    /// Calls are serialised: MPI was initialised with `MPI_THREAD_SERIALIZED`.
    lock: Mutex<()>,
    /// Dropped last: finalises MPI.
    _universe: Universe,
}

// SAFETY: MPI is initialised with `MPI_THREAD_SERIALIZED` (checked in `init`), which allows
// calls from any thread as long as no two run at once; every call takes `lock`.
unsafe impl Send for MpiCollective {}
// SAFETY: as above.
unsafe impl Sync for MpiCollective {}

impl std::fmt::Debug for MpiCollective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MpiCollective {{ rank: {}, size: {} }}",
            self.rank, self.size
        )
    }
}

impl MpiCollective {
    /// Initialises MPI (once per process).
    ///
    /// # Errors
    /// MPI was already initialised, or it cannot serialise calls from several threads.
    pub fn init() -> Result<Self, TrainError> {
        let fail = |message: String| TrainError::Ranks { message };
        let (universe, threading) = mpi::initialize_with_threading(Threading::Serialized)
            .ok_or_else(|| fail("MPI was already initialised in this process".into()))?;
        if matches!(threading, Threading::Single | Threading::Funneled) {
            return Err(fail(format!(
                "this MPI library gives thread level {threading:?}; serialised calls from \
                 several threads are needed"
            )));
        }
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        Ok(Self {
            world,
            rank,
            size,
            lock: Mutex::new(()),
            _universe: universe,
        })
    }

    /// Ends every rank of the job with `code` (`MPI_Abort`).
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }

    /// Ends every rank of the job with `code` (`MPI_Abort` on the world communicator), from
    /// anywhere in a process that initialised MPI (a panic hook, say).
    pub fn abort_world(code: i32) -> ! {
        SimpleCommunicator::world().abort(code)
    }

    /// Reduce to rank 0, then broadcast: every rank gets rank 0's bits.
    fn sum<T: Equivalence + Copy + Default>(&self, values: &mut [T]) {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let root = self.world.process_at_rank(0);
        for chunk in values.chunks_mut(CHUNK) {
            if self.rank == 0 {
                let mut out = vec![T::default(); chunk.len()];
                root.reduce_into_root(&*chunk, &mut out[..], SystemOperation::sum());
                chunk.copy_from_slice(&out);
            } else {
                root.reduce_into(&*chunk, SystemOperation::sum());
            }
            root.broadcast_into(chunk);
        }
    }
}

impl Collective for MpiCollective {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn sum_f32(&self, values: &mut [f32]) -> Result<(), TrainError> {
        self.sum(values);
        Ok(())
    }

    fn sum_f64(&self, values: &mut [f64]) -> Result<(), TrainError> {
        self.sum(values);
        Ok(())
    }

    fn gather(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, TrainError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let too_big = || TrainError::Ranks {
            message: format!("cannot gather {} bytes: MPI counts are 32-bit", bytes.len()),
        };
        let len = i32::try_from(bytes.len()).map_err(|_| too_big())?;
        let mut counts = vec![0i32; self.size];
        self.world.all_gather_into(&len, &mut counts[..]);
        let mut displs = Vec::with_capacity(self.size);
        let mut total = 0i64;
        for &c in &counts {
            displs.push(i32::try_from(total).map_err(|_| too_big())?);
            total += i64::from(c);
        }
        let mut buf = vec![0u8; usize::try_from(total).map_err(|_| too_big())?];
        {
            let mut partition = PartitionMut::new(&mut buf[..], &counts[..], &displs[..]);
            self.world.all_gather_varcount_into(bytes, &mut partition);
        }
        Ok(counts
            .iter()
            .zip(&displs)
            .map(|(&c, &d)| buf[d as usize..(d + c) as usize].to_vec())
            .collect())
    }
}
