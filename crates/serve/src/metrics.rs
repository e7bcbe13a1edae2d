//! Counters behind `GET /metrics`, in Prometheus' text format.

use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What the server counts. Every method is cheap and thread-safe.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: AtomicU64,
    rejected: AtomicU64,
    errors: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    queue: AtomicU64,
    running: AtomicU64,
    timing: Mutex<Timing>,
}

#[derive(Debug, Default)]
struct Timing {
    ttft_sum: f64,
    ttft_count: u64,
    prefill_seconds: f64,
    prefill_tokens: u64,
    decode_seconds: f64,
    decode_tokens: u64,
}

impl Metrics {
    /// A request was accepted.
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// A request was turned away because the queue was full.
    pub fn rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// A request was answered with an error.
    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A finished request's token counts.
    pub fn tokens(&self, prompt: usize, completion: usize) {
        self.prompt_tokens
            .fetch_add(prompt as u64, Ordering::Relaxed);
        self.completion_tokens
            .fetch_add(completion as u64, Ordering::Relaxed);
    }

    /// Requests waiting and rows decoding now.
    pub fn set_queue(&self, waiting: usize, running: usize) {
        self.queue.store(waiting as u64, Ordering::Relaxed);
        self.running.store(running as u64, Ordering::Relaxed);
    }

    fn timing(&self) -> std::sync::MutexGuard<'_, Timing> {
        self.timing.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A prompt's prefill.
    pub fn prefill(&self, tokens: usize, took: Duration) {
        let mut t = self.timing();
        t.prefill_seconds += took.as_secs_f64();
        t.prefill_tokens += tokens as u64;
    }

    /// A request's first token, `took` after it arrived.
    pub fn first_token(&self, took: Duration) {
        let mut t = self.timing();
        t.ttft_sum += took.as_secs_f64();
        t.ttft_count += 1;
    }

    /// One decode step over `rows` rows.
    pub fn decode_step(&self, rows: usize, took: Duration) {
        let mut t = self.timing();
        t.decode_seconds += took.as_secs_f64();
        t.decode_tokens += rows as u64;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let t = self.timing();
        let mut out = String::new();
        let mut line = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed).to_string();
        line(
            "reasoning_requests_total",
            "counter",
            "Requests accepted.",
            get(&self.requests),
        );
        line(
            "reasoning_requests_rejected_total",
            "counter",
            "Requests refused because the queue was full.",
            get(&self.rejected),
        );
        line(
            "reasoning_request_errors_total",
            "counter",
            "Requests answered with an error.",
            get(&self.errors),
        );
        line(
            "reasoning_prompt_tokens_total",
            "counter",
            "Prompt tokens of finished requests.",
            get(&self.prompt_tokens),
        );
        line(
            "reasoning_completion_tokens_total",
            "counter",
            "Generated tokens of finished requests.",
            get(&self.completion_tokens),
        );
        line(
            "reasoning_queue_depth",
            "gauge",
            "Requests waiting for a batch slot.",
            get(&self.queue),
        );
        line(
            "reasoning_running_rows",
            "gauge",
            "Choices decoding now.",
            get(&self.running),
        );
        line(
            "reasoning_time_to_first_token_seconds_sum",
            "counter",
            "Sum of times from arrival to the first token.",
            format!("{}", t.ttft_sum),
        );
        line(
            "reasoning_time_to_first_token_seconds_count",
            "counter",
            "Requests that got a first token.",
            t.ttft_count.to_string(),
        );
        let rate = |tokens: u64, seconds: f64| {
            if seconds > 0.0 {
                tokens as f64 / seconds
            } else {
                0.0
            }
        };
        line(
            "reasoning_prefill_tokens_per_second",
            "gauge",
            "Prompt tokens per second of prefill, over the server's life.",
            format!("{:.3}", rate(t.prefill_tokens, t.prefill_seconds)),
        );
        line(
            "reasoning_decode_tokens_per_second",
            "gauge",
            "Generated tokens per second of decode steps (all rows), over the server's life.",
            format!("{:.3}", rate(t.decode_tokens, t.decode_seconds)),
        );
        out
    }
}
