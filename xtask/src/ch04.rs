//! Chapter 4: inference-time scaling by sampling and voting.
//!
//! - `self-consistency`: N sampled answers per problem, majority vote (book section 4.5,
//!   `self_consistency_math500.py`); `--num-samples 1` is plain temperature/top-p sampling
//!   (section 4.4) and `--cot` the chain-of-thought prompt (section 4.2).
//!
//! The strategy lives in `reasoning_inference::scaling`; this file parses arguments and reports.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use reasoning_inference::{
    Decoding, EvalRecord, SamplingParams, SelfConsistencyConfig, VoteRule, sample_stream,
    self_consistency_batch,
};
use serde::Serialize;
use serde_json::json;

use crate::common::{
    EvalArgs, EvalRun, ModelArgs, PromptArgs, eval_run_dir, problem_prompts, run_evaluation,
    sample_streams,
};
use crate::run::RunDir;

/// Self-consistency: sample N answers per problem and take the majority answer (book section
/// 4.5; rows 4-12 of the chapter-4 table).
///
/// Samples use temperature and top-p (`--num-samples 1` is the table's "Top-p" row); answers
/// vote by the verifier's canonical key (`0.5` and `\frac12` agree); a tie keeps the tied
/// answer seen first, as the book's script does. The samples of a problem share one prefill and
/// run as one batch (`--sequential` generates them one after another, as the book does; same
/// answers). Sample j of problem i always draws from stream (seed, i, j), so results do not
/// depend on batching and a resumed run continues identically. Writes a run folder with
/// records.jsonl (plus `short_answers`, `counts`, `majority_winners`, `final_answer`) and
/// summary.json. On the embedded model, n=5 over its 500 test problems takes a few minutes on a
/// 2-core CPU (docs/inference.md has the measured times).
///
///     cargo xtask self-consistency --num-samples 5 --cot
#[derive(Args, Debug, Serialize)]
pub struct SelfConsistencyArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub eval: EvalArgs,
    /// Samples per problem (book script default: 3).
    #[arg(long, default_value_t = 3)]
    pub num_samples: usize,
    /// Sampling temperature (book table: 0.9).
    #[arg(long, default_value_t = 0.9)]
    pub temperature: f32,
    /// Top-p threshold (book table: 0.9; 1 disables it).
    #[arg(long, default_value_t = 0.9)]
    pub top_p: f32,
    /// Keep only the k most likely tokens before top-p (off by default, as in the book).
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Keep only tokens with at least this fraction of the most likely token's probability
    /// (min-p; off by default).
    #[arg(long)]
    pub min_p: Option<f32>,
    /// Add the chain-of-thought suffix "Explain step by step." (same as --prompt cot).
    #[arg(long)]
    pub cot: bool,
    /// Stop sampling a problem once one answer has a strict majority of --num-samples.
    #[arg(long)]
    pub early_stop: bool,
    /// Most new tokens per sample (book: 2048).
    #[arg(long, default_value_t = 2048)]
    pub max_new_tokens: usize,
    /// Problems whose samples run together in one batch.
    #[arg(long, default_value_t = 4)]
    pub batch_size: usize,
    /// Generate the samples one at a time, as the book's script does.
    #[arg(long)]
    pub sequential: bool,
    /// How the answers pick the winner: `majority` (the book: a tie keeps the tied answer seen
    /// first), `logprob-tie-break` (a tie goes to the group whose samples the model is most
    /// confident in, exp(mean token log-prob)), `logprob-weighted` (each vote counts that
    /// confidence; the self-consistency paper's weighted vote), `heuristic-tie-break` (a tie
    /// goes to the group holding the best heuristic_score, as the book's
    /// self_consistency_scorer_math500.py --scoring heuristic).
    #[arg(long, value_enum, default_value_t = VoteRuleArg::Majority)]
    pub vote: VoteRuleArg,
    /// Base seed of the sampling streams (book: 42).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Run folder (default runs/self-consistency-<timestamp>/); an existing one is resumed.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `--vote` values.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VoteRuleArg {
    Majority,
    LogprobTieBreak,
    LogprobWeighted,
    HeuristicTieBreak,
}

impl From<VoteRuleArg> for VoteRule {
    fn from(arg: VoteRuleArg) -> Self {
        match arg {
            VoteRuleArg::Majority => VoteRule::Majority,
            VoteRuleArg::LogprobTieBreak => VoteRule::LogprobTieBreak,
            VoteRuleArg::LogprobWeighted => VoteRule::LogprobWeighted,
            VoteRuleArg::HeuristicTieBreak => VoteRule::HeuristicTieBreak,
        }
    }
}

/// Runs `cargo xtask self-consistency`.
pub fn self_consistency(args: SelfConsistencyArgs) -> Result<()> {
    let (problems, lm, builder) = args.eval.load(args.cot)?;
    let params = SamplingParams {
        temperature: args.temperature,
        top_p: Some(args.top_p).filter(|&p| p < 1.0),
        top_k: args.top_k,
        min_p: args.min_p,
    };
    params.validate()?;
    let n = args.num_samples;
    let config = SelfConsistencyConfig {
        num_samples: n,
        generation: lm.generation_config(args.max_new_tokens, Decoding::Sample(params)),
        early_stop: args.early_stop,
        batched: !args.sequential,
        rule: args.vote.into(),
    };
    let run = eval_run_dir("self-consistency", args.out.as_deref(), &args, &lm)?;
    let rule = VoteRule::from(args.vote);
    let method = if n == 1 {
        format!(
            "top-p sampling T={} p={} ({})",
            args.temperature, args.top_p, builder.style
        )
    } else if rule == VoteRule::Majority {
        format!(
            "self-consistency n={n} T={} p={} ({})",
            args.temperature, args.top_p, builder.style
        )
    } else {
        format!(
            "self-consistency n={n} T={} p={} {} ({})",
            args.temperature,
            args.top_p,
            rule.name(),
            builder.style
        )
    };
    run_evaluation(
        EvalRun::new(
            &run,
            method,
            &lm,
            &args.eval,
            args.seed,
            if args.sequential { 1 } else { args.batch_size },
        ),
        &problems,
        json!({
            "num_samples": n,
            "temperature": args.temperature,
            "top_p": args.top_p,
            "prompt": builder.style.name(),
            "early_stop": args.early_stop,
            "vote": rule.name(),
        }),
        |items| {
            let prompts = problem_prompts(&builder, &lm, items)?;
            let mut streams = sample_streams(args.seed, items, n);
            let results = self_consistency_batch(&lm, &prompts, &config, &mut streams)?;
            Ok(items
                .iter()
                .zip(results)
                .map(|((index, p), r)| {
                    let short: Vec<&str> = r.samples.iter().map(|s| s.extracted.as_str()).collect();
                    let counts: Vec<(&str, usize)> = r
                        .vote
                        .groups
                        .iter()
                        .map(|g| (g.answer.as_str(), g.count()))
                        .collect();
                    let winners: Vec<&str> = r
                        .vote
                        .winners
                        .iter()
                        .map(|&g| r.vote.groups[g].answer.as_str())
                        .collect();
                    EvalRecord::graded(
                        *index,
                        p,
                        r.winning_text().to_string(),
                        r.answer().to_string(),
                        r.tokens(),
                    )
                    .with("short_answers", &short)
                    .with("counts", &counts)
                    .with("majority_winners", &winners)
                    .with("final_answer", r.vote.answer())
                    .with("samples_generated", r.samples.len())
                    .with("confidences", &r.confidences)
                })
                .collect())
        },
    )?;
    Ok(())
}

/// Measure sampling throughput: N samples of one prompt generated as one batch with a shared
/// prefill versus one after another (book chapter 4 with appendix E's batching).
///
/// Both ways use the same per-sample streams, so they generate the same tokens (the result
/// says whether they did); tokens/s = generated tokens / wall time, median of `--repeats`. By
/// default each sample stops at EOS (finished samples leave the batch); `--ignore-eos` makes
/// every sample `--max-new-tokens` long. Writes a run folder with results.json. Under a minute
/// for the embedded model and about two for SmolLM2-135M on a 2-core CPU.
///
///     cargo xtask bench sample --model ../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf
#[derive(Args, Debug, Serialize)]
pub struct BenchSampleArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub prompt: PromptArgs,
    /// The problem to sample answers for.
    #[arg(long, default_value = "Compute (23 + 45) * 3 - 17.")]
    pub problem: String,
    /// Samples of the prompt.
    #[arg(long, default_value_t = 8)]
    pub num_samples: usize,
    /// Most new tokens per sample.
    #[arg(long, default_value_t = 128)]
    pub max_new_tokens: usize,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.9)]
    pub temperature: f32,
    /// Top-p threshold.
    #[arg(long, default_value_t = 0.9)]
    pub top_p: f32,
    /// Generate every sample to --max-new-tokens, ignoring EOS.
    #[arg(long)]
    pub ignore_eos: bool,
    /// Measured runs of each way (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Base seed of the sampling streams.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Run folder (default runs/bench-sample-<timestamp>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `cargo xtask bench sample`.
pub fn bench_sample(args: BenchSampleArgs) -> Result<()> {
    use std::ops::ControlFlow;
    use std::time::Instant;

    use reasoning_inference::stats::peak_rss_bytes;
    use reasoning_inference::{Control, generate, generate_batch};

    use crate::bench::{machine_load, median};

    let load_before = machine_load();
    let lm = args.model.load()?;
    let builder = args.prompt.builder(false)?;
    let prompt = builder.problem_ids(&lm.tokenizer, &args.problem)?;
    let params = SamplingParams {
        temperature: args.temperature,
        top_p: Some(args.top_p).filter(|&p| p < 1.0),
        top_k: None,
        min_p: None,
    };
    let mut config = lm.generation_config(args.max_new_tokens, Decoding::Sample(params));
    if args.ignore_eos {
        config.stop_ids.clear();
    }
    let n = args.num_samples.max(1);
    let streams = || -> Vec<_> {
        (0..n as u64)
            .map(|j| sample_stream(args.seed, 0, j))
            .collect()
    };
    // Warm-up.
    generate_batch(
        &lm.model,
        std::slice::from_ref(&prompt),
        2,
        &lm.generation_config(4, Decoding::Sample(params)),
        &mut streams()[..2].to_vec(),
        |_| Control::Continue,
    )?;

    let (mut sequential, mut batched) = (Vec::new(), Vec::new());
    let (mut seq_out, mut batch_out) = (Vec::new(), Vec::new());
    for _ in 0..args.repeats.max(1) {
        let start = Instant::now();
        let mut tokens = 0;
        seq_out.clear();
        for mut rng in streams() {
            let (g, _) = generate(&lm.model, &prompt, &config, Some(&mut rng), |_| {
                ControlFlow::Continue(())
            })?;
            tokens += g.ids.len();
            seq_out.push(g);
        }
        sequential.push((tokens, start.elapsed().as_secs_f64()));

        let start = Instant::now();
        let out = generate_batch(
            &lm.model,
            std::slice::from_ref(&prompt),
            n,
            &config,
            &mut streams(),
            |_| Control::Continue,
        )?;
        let tokens: usize = out.generations.iter().map(|g| g.ids.len()).sum();
        batched.push((tokens, start.elapsed().as_secs_f64()));
        batch_out = out.generations;
    }
    let rate = |runs: &[(usize, f64)]| {
        median(&runs.iter().map(|&(t, s)| t as f64 / s).collect::<Vec<_>>())
    };
    let (seq_rate, batch_rate) = (rate(&sequential), rate(&batched));
    let identical = seq_out == batch_out;
    let peak_mb = peak_rss_bytes().map(|b| b as f64 / (1024.0 * 1024.0));
    let results = json!({
        "model": lm.name,
        "num_samples": n,
        "prompt_tokens": prompt.len(),
        "max_new_tokens": args.max_new_tokens,
        "ignore_eos": args.ignore_eos,
        "sequential_tokens_per_s": seq_rate,
        "batched_tokens_per_s": batch_rate,
        "speedup": batch_rate / seq_rate,
        "identical_samples": identical,
        "generated_tokens": sequential.last().map(|r| r.0),
        "sequential_runs": sequential,
        "batched_runs": batched,
        "peak_rss_mb": peak_mb,
        "load_average_before": load_before,
        "load_average_after": machine_load(),
    });
    let run = RunDir::create("bench-sample", args.out.as_deref(), &args)?;
    crate::run::write_json_atomic(&run.file("results.json"), &results)?;
    run.write_summary(
        &crate::run::Summary {
            model: lm.name.clone(),
            dataset: format!("one prompt: {}", args.problem),
            n,
            accuracy: None,
            seconds: None,
            seed: Some(args.seed),
        },
        results,
    )?;
    println!(
        "{}: {n} samples of {} new tokens at most: one at a time {seq_rate:.1} tokens/s, batched \
         {batch_rate:.1} tokens/s ({:.2}x); identical samples: {identical}",
        lm.name,
        args.max_new_tokens,
        batch_rate / seq_rate
    );
    run.finish();
    Ok(())
}
