//! `bench serve`: what continuous batching buys. The same chat requests sent one after another
//! and then all at once to a server on 127.0.0.1, with each request's seed fixed so both runs
//! generate the same tokens (checked); generated tokens per second of wall time for each.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use reasoning_serve::client::{ChatReply, ChatSettings, Client};
use reasoning_serve::{ServeConfig, start};
use serde::Serialize;
use serde_json::json;

use crate::common::ModelArgs;
use crate::run::{RunDir, Summary, write_json_atomic};

use super::machine_load;

/// Sequential against concurrent requests to `serve` (appendix G).
///
///     cargo xtask bench serve --model ../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf
#[derive(Args, Debug, Serialize)]
pub struct ServeBenchArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub model: ModelArgs,
    /// Requests (and the server's batch size).
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Most new tokens per request.
    #[arg(long, default_value_t = 64)]
    pub max_tokens: usize,
    /// Seed of request i is seed + i.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Run folder [default: runs/bench-serve-<timestamp>].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `cargo xtask bench serve`.
pub fn serve(args: ServeBenchArgs) -> Result<()> {
    if args.clients == 0 {
        bail!("--clients must be at least 1");
    }
    let lm = args.model.load()?;
    let name = lm.name.clone();
    let run = RunDir::create("bench-serve", args.out.as_deref(), &args)?;
    let load_before = machine_load();
    let server = start(
        lm,
        ServeConfig {
            port: 0,
            max_batch: args.clients,
            max_queue: args.clients,
            ..ServeConfig::default()
        },
        false,
    )
    .context("cannot start the server")?;
    let client = Client::new(format!("{}/v1", server.url()), "default");
    let questions: Vec<String> = (0..args.clients)
        .map(|i| format!("What is {} + {}? Explain briefly.", 12 + 7 * i, 30 + 11 * i))
        .collect();
    let settings = |i: usize| ChatSettings {
        max_tokens: args.max_tokens,
        temperature: 0.8,
        top_p: 0.9,
        seed: Some(args.seed + i as u64),
        ..ChatSettings::default()
    };
    let ask = |i: usize| client.chat(&[("user", questions[i].as_str())], &settings(i));
    // Warm-up: one request, not timed.
    ask(0)?;
    let started = Instant::now();
    let alone: Vec<ChatReply> = (0..args.clients).map(ask).collect::<Result<_, _>>()?;
    let alone_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let together: Vec<ChatReply> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..args.clients).map(|i| s.spawn(move || ask(i))).collect();
        calls
            .into_iter()
            .map(|c| c.join().expect("a request thread panicked"))
            .collect::<Result<_, _>>()
    })?;
    let together_s = started.elapsed().as_secs_f64();
    server.shutdown();
    let tokens = |r: &[ChatReply]| -> usize { r.iter().filter_map(|c| c.completion_tokens).sum() };
    let identical = alone == together;
    let (seq_tps, con_tps) = (
        tokens(&alone) as f64 / alone_s,
        tokens(&together) as f64 / together_s,
    );
    let results = json!({
        "model": name,
        "clients": args.clients,
        "max_tokens": args.max_tokens,
        "sequential": {"seconds": alone_s, "tokens": tokens(&alone), "tokens_per_s": seq_tps},
        "concurrent": {"seconds": together_s, "tokens": tokens(&together), "tokens_per_s": con_tps},
        "speedup": con_tps / seq_tps,
        "identical_replies": identical,
        "load_before": load_before,
        "load_after": machine_load(),
    });
    write_json_atomic(&run.file("results.json"), &results)?;
    run.write_summary(
        &Summary {
            model: name.clone(),
            dataset: format!("{} chat requests", args.clients),
            n: args.clients,
            accuracy: None,
            seconds: Some(run.seconds()),
            seed: Some(args.seed),
        },
        results.clone(),
    )?;
    println!(
        "{name}: {} requests of up to {} tokens: one at a time {:.1} tokens/s ({:.1} s), all at \
         once {:.1} tokens/s ({:.1} s): {:.2}x; replies identical: {identical}",
        args.clients,
        args.max_tokens,
        seq_tps,
        alone_s,
        con_tps,
        together_s,
        con_tps / seq_tps
    );
    run.finish();
    Ok(())
}
