//! Appendix G: the model in the browser, and any OpenAI client, through one server.
//!
//! - `serve`: `reasoning_serve::start` on the chosen model; prints the URL and serves until
//!   Ctrl-C or SIGTERM (open streams finish first).

use anyhow::{Context, Result};
use clap::Args;
use reasoning_serve::{ServeConfig, start};

use crate::common::ModelArgs;

/// Serve a model over OpenAI's HTTP API, with a chat page at `/` (appendix G).
///
///     cargo xtask serve --model ../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf
///     curl http://127.0.0.1:8000/v1/chat/completions -H 'Content-Type: application/json' \
///         -d '{"messages": [{"role": "user", "content": "What is 2 + 3?"}]}'
#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Address to listen on; 127.0.0.1 keeps the server on this machine.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port (0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Choices decoded together at most (continuous batching).
    #[arg(long, default_value_t = 8)]
    pub max_batch: usize,
    /// Requests that may wait for a slot; more are answered 429.
    #[arg(long, default_value_t = 64)]
    pub max_queue: usize,
    /// New tokens per choice when a request does not say.
    #[arg(long, default_value_t = 2048)]
    pub max_tokens: usize,
    /// Most MB the batch's KV cache may take; requests wait until they fit [default: no limit
    /// beyond --max-batch].
    #[arg(long)]
    pub kv_budget_mb: Option<usize>,
}

/// Runs `cargo xtask serve`.
pub fn serve(args: ServeArgs) -> Result<()> {
    let lm = args.model.load()?;
    let name = lm.name.clone();
    let config = ServeConfig {
        host: args.host,
        port: args.port,
        max_batch: args.max_batch,
        max_queue: args.max_queue,
        default_max_tokens: args.max_tokens,
        kv_budget_bytes: args.kv_budget_mb.map(|mb| mb << 20),
        ..ServeConfig::default()
    };
    let server = start(lm, config, true).context("cannot start the server")?;
    eprintln!(
        "serving {name}: chat page at {url}/, OpenAI API at {url}/v1 (Ctrl-C stops)",
        url = server.url()
    );
    println!("{}", server.url());
    server.wait();
    Ok(())
}
