//! Generation, sampling, batching, log-probability scoring and inference-time scaling (chapters 2, 4, 5)
