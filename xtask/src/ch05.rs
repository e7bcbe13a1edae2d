//! Chapter 5: inference-time scaling with scores.
//!
//! - `best-of-n`: N sampled answers, keep the highest-scoring one (book section 5.2,
//!   `best_of_n_math500.py`).
//! - `self-refine`: draft, critique, revise, keeping revisions that score no worse (book
//!   section 5.3, `self_refinement_math500.py`).
//!
//! The strategies live in `reasoning_inference::scaling`; this file parses arguments and
//! reports.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use reasoning_inference::{
    Decoding, EvalRecord, SamplingParams, Scorer, SelfRefineConfig, best_of_n_batch,
    self_refine_batch,
};
use serde::Serialize;
use serde_json::json;

use crate::common::{
    EvalArgs, EvalRun, eval_run_dir, problem_prompts, run_evaluation, sample_streams,
};

/// A scorer on the command line.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScorerArg {
    /// No score: every revision is kept (self-refine only).
    None,
    /// The book's heuristic_score: a boxed answer, brevity.
    Heuristic,
    /// Sum of the answer's token log-probabilities.
    Logprob,
    /// Mean token log-probability (the book's avg_logprob_answer, its scripts' "logprob").
    AvgLogprob,
    /// Mean log-probability of the final answer alone, as "\n\boxed{answer}" (the book's
    /// logprob_extract in self_refinement_math500.py).
    LogprobExtract,
}

impl ScorerArg {
    fn scorer(self) -> Option<Scorer> {
        match self {
            ScorerArg::None => None,
            ScorerArg::Heuristic => Some(Scorer::Heuristic),
            ScorerArg::Logprob => Some(Scorer::Logprob),
            ScorerArg::AvgLogprob => Some(Scorer::AvgLogprob),
            ScorerArg::LogprobExtract => Some(Scorer::LogprobExtract),
        }
    }

    fn name(self) -> &'static str {
        self.scorer().map_or("none", Scorer::name)
    }
}

/// Temperature and top-p into a sampled decoding.
fn sampled(temperature: f32, top_p: f32) -> Result<Decoding> {
    let params = SamplingParams {
        temperature,
        top_p: Some(top_p).filter(|&p| p < 1.0),
        top_k: None,
        min_p: None,
    };
    params.validate()?;
    Ok(Decoding::Sample(params))
}

/// Best-of-N: sample N answers per problem and keep the one a scorer rates highest (book
/// section 5.2; the chapter-5 best-of-N table).
///
/// Scorers: `heuristic` (the book's heuristic_score), `logprob` (sum of the answer's token
/// log-probabilities) and `avg-logprob` (their mean; the book's `--scoring logprob`). The
/// answers are scored as the exact token ids generated, given the exact prompt ids. The N
/// samples share one prefill and run as one batch; sample j of problem i draws from stream
/// (seed, i, j). Writes a run folder with records.jsonl (plus `short_answers`, `scores`,
/// `best`) and summary.json. On the embedded model, n=3 over 500 problems takes a few minutes
/// on a 2-core CPU (docs/inference.md).
///
///     cargo xtask best-of-n --num-samples 3 --scorer avg-logprob --cot
#[derive(Args, Debug, Serialize)]
pub struct BestOfNArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub eval: EvalArgs,
    /// Samples per problem (book: 3).
    #[arg(long, default_value_t = 3)]
    pub num_samples: usize,
    /// How samples are rated.
    #[arg(long, value_enum, default_value_t = ScorerArg::Heuristic)]
    pub scorer: ScorerArg,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.9)]
    pub temperature: f32,
    /// Top-p threshold (1 disables it).
    #[arg(long, default_value_t = 0.9)]
    pub top_p: f32,
    /// Add the chain-of-thought suffix "Explain step by step.".
    #[arg(long)]
    pub cot: bool,
    /// Most new tokens per sample (book: 2048).
    #[arg(long, default_value_t = 2048)]
    pub max_new_tokens: usize,
    /// Problems whose samples run together in one batch.
    #[arg(long, default_value_t = 4)]
    pub batch_size: usize,
    /// Base seed of the sampling streams (book: 42).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Run folder (default runs/best-of-n-<timestamp>/); an existing one is resumed.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `cargo xtask best-of-n`.
pub fn best_of_n(args: BestOfNArgs) -> Result<()> {
    let Some(scorer) = args.scorer.scorer() else {
        anyhow::bail!("best-of-n needs a scorer: heuristic, logprob or avg-logprob");
    };
    let (problems, lm, builder) = args.eval.load(args.cot)?;
    let generation =
        lm.generation_config(args.max_new_tokens, sampled(args.temperature, args.top_p)?);
    let n = args.num_samples;
    let run = eval_run_dir("best-of-n", args.out.as_deref(), &args, &lm)?;
    let method = format!("best-of-n n={n} {} ({})", scorer.name(), builder.style);
    run_evaluation(
        EvalRun::new(&run, method, &lm, &args.eval, args.seed, args.batch_size),
        &problems,
        json!({
            "num_samples": n,
            "scorer": scorer.name(),
            "temperature": args.temperature,
            "top_p": args.top_p,
            "prompt": builder.style.name(),
        }),
        |items| {
            let prompts = problem_prompts(&builder, &lm, items)?;
            let mut streams = sample_streams(args.seed, items, n);
            let results = best_of_n_batch(&lm, &prompts, n, &generation, scorer, &mut streams)?;
            Ok(items
                .iter()
                .zip(results)
                .map(|((index, p), r)| {
                    let short: Vec<&str> = r.samples.iter().map(|s| s.extracted.as_str()).collect();
                    let best = r.best();
                    EvalRecord::graded(
                        *index,
                        p,
                        best.text.clone(),
                        best.extracted.clone(),
                        r.tokens(),
                    )
                    .with("short_answers", &short)
                    .with("scores", &r.scores)
                    .with("best", r.best)
                })
                .collect())
        },
    )?;
    Ok(())
}

/// Self-refinement: draft an answer, then K times critique and revise it, keeping a revision
/// whose score is not worse (book section 5.3; the chapter-5 self-refinement table).
///
/// Uses the book's critique and refinement prompts (each through the chat template when the
/// model has one), T=0.7 and top-p 0.9, critiques of at most 192 tokens. Scorers: `none`
/// (always keep the revision), `heuristic`, `logprob` (sum) or `avg-logprob` (mean; the book's
/// `--scoring logprob`); revisions are scored as answers to the original prompt. Problem i
/// draws from stream (seed, i, 0). Writes a run folder with records.jsonl (plus `refinement`:
/// every round's draft, critique, revision and scores) and summary.json. The drafts, critiques
/// and revisions of `--batch-size` problems run as batches (same results as one at a time);
/// docs/inference.md has the measured times.
///
///     cargo xtask self-refine --iterations 2 --scorer heuristic
#[derive(Args, Debug, Serialize)]
pub struct SelfRefineArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub eval: EvalArgs,
    /// Critique-and-revise rounds (book: 2).
    #[arg(long, default_value_t = 2)]
    pub iterations: usize,
    /// How a revision is compared with the current answer.
    #[arg(long, value_enum, default_value_t = ScorerArg::Heuristic)]
    pub scorer: ScorerArg,
    /// Sampling temperature (book: 0.7).
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f32,
    /// Top-p threshold (book: 0.9).
    #[arg(long, default_value_t = 0.9)]
    pub top_p: f32,
    /// Add the chain-of-thought suffix "Explain step by step." to the first prompt.
    #[arg(long)]
    pub cot: bool,
    /// Most new tokens of the draft and of each revision (book: 2048).
    #[arg(long, default_value_t = 2048)]
    pub max_new_tokens: usize,
    /// Most new tokens of each critique (book script: 192).
    #[arg(long, default_value_t = 192)]
    pub critique_max_new_tokens: usize,
    /// Problems refined together, stage by stage, in one batch.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Base seed (book: 42).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Run folder (default runs/self-refine-<timestamp>/); an existing one is resumed.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `cargo xtask self-refine`.
pub fn self_refine_cmd(args: SelfRefineArgs) -> Result<()> {
    let (problems, lm, builder) = args.eval.load(args.cot)?;
    let config = SelfRefineConfig {
        iterations: args.iterations,
        response: lm.generation_config(args.max_new_tokens, sampled(args.temperature, args.top_p)?),
        max_critique_tokens: args.critique_max_new_tokens,
        scorer: args.scorer.scorer(),
    };
    let run = eval_run_dir("self-refine", args.out.as_deref(), &args, &lm)?;
    let method = format!(
        "self-refine k={} {} ({})",
        args.iterations,
        args.scorer.name(),
        builder.style
    );
    run_evaluation(
        EvalRun::new(&run, method, &lm, &args.eval, args.seed, args.batch_size),
        &problems,
        json!({
            "iterations": args.iterations,
            "scorer": args.scorer.name(),
            "temperature": args.temperature,
            "top_p": args.top_p,
            "prompt": builder.style.name(),
        }),
        |items| {
            let questions: Vec<&str> = items.iter().map(|(_, p)| p.problem.as_str()).collect();
            let mut rngs = sample_streams(args.seed, items, 1);
            let results = self_refine_batch(&lm, &builder, &questions, &config, &mut rngs)?;
            Ok(items
                .iter()
                .zip(results)
                .map(|((index, p), r)| {
                    let accepted = r.steps.iter().filter(|s| s.accepted).count();
                    EvalRecord::graded(
                        *index,
                        p,
                        r.final_full.clone(),
                        r.final_extracted.clone(),
                        r.tokens,
                    )
                    .with("accepted_revisions", accepted)
                    .with("refinement", &r.steps)
                })
                .collect())
        },
    )?;
    Ok(())
}
