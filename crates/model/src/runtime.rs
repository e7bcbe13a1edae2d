//! Process set-up for speed on the CPU: the allocator settings and the thread a program
//! computes on. Neither changes a result; together they are worth 10-30% of inference speed
//! on burn-flex (`docs/performance-history.md`, steps 4, 19 and 22).
//!
//! - [`tune_allocator`]: glibc's allocator reuses freed tensor buffers instead of mapping and
//!   zeroing fresh pages for every op. Call it first thing in `main`.
//! - [`in_pool`]: runs inference on one of rayon's worker threads, where each parallel op is a
//!   fork-join instead of a job handed to the pool and waited for.
//!
//! `cargo xtask` does both: every command starts with [`tune_allocator`], and the inference
//! commands (generation, evaluation, sampling, benchmarks) run inside [`in_pool`]. The
//! trainers do not: they run micro-batches on threads of their own.
//!
//! # Example
//! ```no_run
//! use burn::tensor::{Int, Tensor, TensorData};
//! use reasoning_model::runtime::{in_pool, tune_allocator};
//! use reasoning_model::{DType, DeviceSpec, KvCache, Model, ModelError};
//!
//! fn main() -> Result<(), ModelError> {
//!     tune_allocator(); // before any thread starts
//!     in_pool(|| {
//!         let device = DeviceSpec::Cpu.device()?;
//!         let path = "SmolLM2-135M-Instruct.Q4_1.gguf".as_ref();
//!         let model = Model::load(path, &device, DType::F32)?;
//!         let prompt = TensorData::new(vec![1i64, 504, 3458, 314], [1, 4]);
//!         let prompt = Tensor::<2, Int>::from_data(prompt, &device);
//!         let mut cache = KvCache::new(model.config(), 1, 64, &device);
//!         let logits = model.forward_cached(prompt, &mut cache); // [1, vocab]
//!         let _next = logits.argmax(1); // [1, 1]: the greedy next token
//!         Ok(())
//!     })
//! }
//! ```

/// Tunes glibc's allocator for tensor work: freed buffers of every size are reused from the
/// heap, the heap is never trimmed, and every thread allocates from one arena. Call it first
/// thing in `main`, before any thread starts (threads that already have an arena keep it).
/// It does nothing when the environment variable `GLIBC_TUNABLES` is set or
/// `REASONING_MALLOC=system`, and on platforms other than Linux with glibc.
///
/// burn allocates a fresh buffer for every op's output. glibc serves requests above its mmap
/// threshold (128 KiB at first, at most 32 MiB) with a fresh `mmap`, whose pages are faulted in
/// and zeroed on first touch and unmapped again on `free`: at 512-token prefill that churn
/// (page faults, `clear_page`, `munmap`) was ~10% of the time, in an SFT step of SmolLM2 (whose
/// logits tensors are 150 MB) 7% (perf). Turning `mmap` off for allocations (`M_MMAP_MAX` = 0)
/// lets freed buffers of every size be reused from the heap instead: +3-25% prefill tokens/s,
/// the same peak memory (docs/performance.md). The trim threshold is raised to its maximum
/// (2 GiB): a training step's memory rises by ~2 GB in the forward pass and falls in the
/// backward pass, and a lower threshold handed those pages back to the kernel at every step
/// only to fault them in, zeroed, at the next (a quarter of the page faults of an SFT step at
/// 256 MiB; step 19). The process keeps its peak footprint instead. And every thread allocates
/// from the one main arena (`M_ARENA_MAX` = 1): glibc gives other threads arenas of their own,
/// made of 64 MiB heaps that cannot hold the larger buffers without `mmap`, so inference that
/// computes on a rayon worker ([`in_pool`]) lost the settings above (a batch-8 bf16 prefill
/// 296-302 against 343-347 tokens/s and 370 MB more peak memory; step 22).
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("GLIBC_TUNABLES").is_some()
            || std::env::var("REASONING_MALLOC").is_ok_and(|v| v == "system")
        {
            return;
        }
        unsafe extern "C" {
            /// glibc's `int mallopt(int param, int value)`.
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_MAX: i32 = -4;
        const M_ARENA_MAX: i32 = -8;
        // SAFETY: mallopt only changes allocator parameters, under the allocator's own lock;
        // every value is within glibc's documented ranges.
        unsafe {
            mallopt(M_MMAP_MAX, 0);
            mallopt(M_TRIM_THRESHOLD, i32::MAX);
            mallopt(M_ARENA_MAX, 1);
        }
    }
}

/// Runs `work` on one of rayon's worker threads (the pool burn-flex and the CPU fast path
/// compute on) and returns its result; with the environment variable `REASONING_POOL=outside`
/// it runs `work` on the calling thread instead.
///
/// Called from a thread outside the pool (a program's main thread), every parallel op is a
/// job injected into the pool: the calling thread queues it, sleeps on a latch while the
/// workers run it, and is woken through a futex at the end, a round trip of several
/// microseconds that a decode step of Qwen3-0.6B makes about 200 times (each product, and the
/// attention). Run on a worker, the same op is a fork-join inside the pool: the calling worker
/// takes its own share of the work and the others steal the rest. The arithmetic and the
/// split of the work are the same (the pool keeps its size), so the results are identical;
/// batch-1 decoding was 6-17% faster and a bf16 prefill 7-8% (docs/performance-history.md, step 22).
///
/// Not for the trainers, which run micro-batches on threads of their own
/// (`reasoning_train::parallel`): a worker waiting for them would leave the pool one thread
/// short.
pub fn in_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    if std::env::var("REASONING_POOL").is_ok_and(|v| v == "outside") {
        return work();
    }
    let mut out = None;
    rayon::scope(|_| out = Some(work()));
    out.expect("the scope ran its body")
}
