//! The ranks of a data-parallel training run: `mpirun -np N target/release/xtask train-grpo ...`
//! (also `distill` and `pretrain-tiny`), with the cargo feature `mpi` (docs/distributed.md).
//!
//! The trainers take a `&dyn Collective` (`reasoning_train::collective`); this module makes the
//! one of the process: MPI when an MPI launcher started it, one process otherwise. Every rank
//! runs the command; rank 0 alone prints, writes the run folder and evaluates.

use std::sync::{Arc, Mutex};

use anyhow::{Result, bail};
use reasoning_train::SingleProcess;
use reasoning_train::collective::Collective;

/// The ranks of this process between [`init`] and [`finish`].
static RANKS: Mutex<Option<Arc<dyn Collective>>> = Mutex::new(None);

/// The number of ranks an MPI launcher (Open MPI's `mpirun`, MPICH's Hydra, Slurm's `srun`)
/// started and this process's rank, read from the environment it gives each process.
fn launched_size() -> Option<(usize, usize)> {
    let read = |var: &str| std::env::var(var).ok()?.parse::<usize>().ok();
    [
        ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"),
        ("PMI_SIZE", "PMI_RANK"),
        ("SLURM_NTASKS", "SLURM_PROCID"),
    ]
    .iter()
    .find_map(|(size, rank)| Some((read(size)?, read(rank).unwrap_or(0))))
}

/// Sets up the ranks of this process: MPI when launched by an MPI launcher (with the `mpi`
/// feature), one process otherwise. Call [`finish`] when the command is done.
///
/// # Errors
/// Launched with several ranks by a binary built without the `mpi` feature (every rank would
/// train alone and write the same folder), or MPI cannot start.
pub fn init() -> Result<()> {
    let mut slot = RANKS.lock().unwrap_or_else(|e| e.into_inner());
    if slot.is_some() {
        return Ok(());
    }
    let ranks: Arc<dyn Collective> = match launched_size() {
        Some((size, _)) if size > 1 => mpi_world(size)?,
        _ => Arc::new(SingleProcess),
    };
    if ranks.size() > 1 {
        install_panic_abort();
    }
    *slot = Some(ranks);
    Ok(())
}

/// Ends the ranks of this process: MPI is finalised when the last handle is dropped.
pub fn finish() {
    let taken = RANKS.lock().unwrap_or_else(|e| e.into_inner()).take();
    drop(taken);
}

#[cfg(feature = "mpi")]
fn mpi_world(launched: usize) -> Result<Arc<dyn Collective>> {
    let world = reasoning_train::mpi::MpiCollective::init()?;
    if world.size() != launched {
        bail!(
            "the launcher started {launched} ranks but MPI's world has {}: is this binary linked \
             against the launcher's MPI library?",
            world.size()
        );
    }
    Ok(Arc::new(world))
}

#[cfg(not(feature = "mpi"))]
fn mpi_world(launched: usize) -> Result<Arc<dyn Collective>> {
    let rank = launched_size().map_or(0, |(_, r)| r);
    bail!(
        "rank {rank} of {launched}: this xtask was launched by mpirun but built without MPI, so \
         each rank would train alone and write the same run folder; build it with `cargo build \
         --release -p xtask --features mpi` (docs/distributed.md)"
    )
}

/// The ranks of this process (one process outside [`init`] .. [`finish`]).
pub fn ranks() -> Arc<dyn Collective> {
    let slot = RANKS.lock().unwrap_or_else(|e| e.into_inner());
    slot.clone().unwrap_or_else(|| Arc::new(SingleProcess))
}

/// Whether this process prints and writes: rank 0, or the only process.
pub fn is_root() -> bool {
    ranks().rank() == 0
}

/// Ends the whole job after an error on this rank (`MPI_Abort`), so that no rank waits
/// forever in a collective for it. Returns only with one rank.
pub fn abort_on_error(error: &anyhow::Error) {
    let c = ranks();
    if c.size() > 1 {
        eprintln!("Error on rank {} of {}: {error:?}", c.rank(), c.size());
        abort(1);
    }
}

/// A panic on any rank prints its message (the default hook) and then ends every rank.
fn install_panic_abort() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        if let Some((size, rank)) = launched_size() {
            eprintln!("rank {rank} of {size} panicked; ending the job");
        }
        abort(2);
    }));
}

#[cfg(feature = "mpi")]
fn abort(code: i32) -> ! {
    reasoning_train::mpi::MpiCollective::abort_world(code)
}

#[cfg(not(feature = "mpi"))]
fn abort(code: i32) -> ! {
    std::process::exit(code)
}
