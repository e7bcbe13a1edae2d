//! Data parallelism on one device: a few micro-batches computed at once, one thread each.
//!
//! A small model leaves a CPU core idle between its ops; computing two micro-batches on two
//! threads fills it (docs/performance-history.md, step 6, "Training: two micro-batches at once").
//! Each worker runs its forward and backward on a [`Module::fork`](burn::module::Module::fork) of
//! the parameters (new autodiff leaves with the same parameter ids, so the graphs stay apart and
//! the gradients line up), and the caller sums the gradients in micro-batch order, which keeps
//! the result independent of the number of workers.

/// Runs `f(i, item)` for every item, each on its own scoped thread, and returns the results in
/// item order; a single item runs on the calling thread. A panic in a worker is resumed on
/// the caller.
///
/// ```
/// let squares = reasoning_train::parallel::map_scoped(&[1, 2, 3], |i, x| (i, x * x));
/// assert_eq!(squares, vec![(0, 1), (1, 4), (2, 9)]);
/// ```
pub fn map_scoped<T: Sync, R: Send>(items: &[T], f: impl Fn(usize, &T) -> R + Sync) -> Vec<R> {
    if items.len() <= 1 {
        return items.iter().enumerate().map(|(i, t)| f(i, t)).collect();
    }
    std::thread::scope(|scope| {
        let f = &f;
        let workers: Vec<_> = items
            .iter()
            .enumerate()
            .map(|(i, t)| scope.spawn(move || f(i, t)))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}
