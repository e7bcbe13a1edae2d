//! `bench serve`: what continuous batching buys. The same chat requests sent one after another
//! and then all at once to a server on 127.0.0.1, with each request's seed fixed so both runs
//! generate the same tokens (checked); generated tokens per second of wall time for each. Then
//! a load test: streaming clients sending requests back to back for a while (errors, streams
//! that did not finish, tokens/s, time to first token p50 and p99).

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
    /// Every request generates exactly --max-tokens (vLLM's `ignore_eos`), so the batch does
    /// not shrink as replies end: the figure serving benchmarks usually report.
    #[arg(long)]
    pub ignore_eos: bool,
    /// Seed of request i is seed + i.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Then a load test: this many streaming clients sending requests back to back for
    /// --seconds (0: none).
    #[arg(long, default_value_t = 16)]
    pub load_clients: usize,
    /// Length of the load test in seconds.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
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
        ignore_eos: args.ignore_eos,
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
    let load = (args.load_clients > 0 && args.seconds > 0)
        .then(|| load_test(&server.url(), &questions, &args));
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
        "load": load,
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
    if let Some(l) = &load {
        println!(
            "load: {} streaming clients for {} s: {} requests, {} errors, {} incomplete streams, \
             {:.1} tokens/s, time to first token p50 {:.3} s, p99 {:.3} s",
            args.load_clients,
            args.seconds,
            l["requests"],
            l["errors"],
            l["incomplete"],
            l["tokens_per_s"].as_f64().unwrap_or(0.0),
            l["ttft_p50_s"].as_f64().unwrap_or(0.0),
            l["ttft_p99_s"].as_f64().unwrap_or(0.0)
        );
    }
    run.finish();
    Ok(())
}

/// `load_clients` threads stream chat requests back to back for `seconds`: requests, errors,
/// streams that did not end in `[DONE]`, generated tokens per second, time to first token.
fn load_test(url: &str, questions: &[String], args: &ServeBenchArgs) -> serde_json::Value {
    use std::io::BufRead;
    let endpoint = format!("{url}/v1/chat/completions");
    let deadline = Instant::now() + std::time::Duration::from_secs(args.seconds);
    let started = Instant::now();
    let per_client: Vec<(usize, usize, usize, usize, Vec<f64>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..args.load_clients)
            .map(|c| {
                let endpoint = endpoint.clone();
                s.spawn(move || {
                    let (mut requests, mut errors, mut incomplete, mut tokens) = (0, 0, 0, 0);
                    let mut ttft = Vec::new();
                    let mut k = 0u64;
                    while Instant::now() < deadline {
                        k += 1;
                        let body = json!({
                            "messages": [{"role": "user", "content": questions[c % questions.len()]}],
                            "max_tokens": args.max_tokens, "temperature": 0.8, "top_p": 0.9,
                            "seed": args.seed + 1000 * c as u64 + k,
                            "ignore_eos": args.ignore_eos,
                            "stream": true, "stream_options": {"include_usage": true},
                        });
                        let sent = Instant::now();
                        requests += 1;
                        let Ok(resp) = ureq::post(&endpoint).send_json(body) else {
                            errors += 1;
                            continue;
                        };
                        let (mut first, mut done) = (None, false);
                        for line in std::io::BufReader::new(resp.into_reader()).lines() {
                            let Ok(line) = line else { break };
                            let Some(data) = line.strip_prefix("data: ") else { continue };
                            if data == "[DONE]" {
                                done = true;
                                break;
                            }
                            let Ok(v) = serde_json::from_str::<serde_json::Value>(data) else {
                                continue;
                            };
                            if let Some(n) = v["usage"]["completion_tokens"].as_u64() {
                                tokens += n as usize;
                            }
                            let has_text = v["choices"].as_array().into_iter().flatten().any(|c| {
                                c["delta"]["content"].as_str().is_some_and(|t| !t.is_empty())
                                    || c["delta"]["reasoning_content"].is_string()
                            });
                            if has_text && first.is_none() {
                                first = Some(sent.elapsed().as_secs_f64());
                            }
                        }
                        if !done {
                            incomplete += 1;
                        }
                        ttft.extend(first);
                    }
                    (requests, errors, incomplete, tokens, ttft)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a load client panicked"))
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let mut ttft: Vec<f64> = per_client.iter().flat_map(|c| c.4.clone()).collect();
    ttft.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        if ttft.is_empty() {
            0.0
        } else {
            ttft[((ttft.len() - 1) as f64 * p).round() as usize]
        }
    };
    let tokens: usize = per_client.iter().map(|c| c.3).sum();
    json!({
        "clients": args.load_clients,
        "seconds": seconds,
        "requests": per_client.iter().map(|c| c.0).sum::<usize>(),
        "errors": per_client.iter().map(|c| c.1).sum::<usize>(),
        "incomplete": per_client.iter().map(|c| c.2).sum::<usize>(),
        "tokens": tokens,
        "tokens_per_s": tokens as f64 / seconds,
        "ttft_p50_s": pct(0.5),
        "ttft_p99_s": pct(0.99),
    })
}
