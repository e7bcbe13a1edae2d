//! `cargo xtask <command>`: the chapter experiments of *Build a Reasoning Model (From Scratch)*.
//!
//! Each subcommand lives in the file of its book chapter (`ch02.rs`, `ch03.rs`, ...). Logic lives
//! in the library crates; this binary parses arguments, wires the crates together, draws progress
//! bars and writes run folders (see [`run`]).

mod appf;
mod appg;
mod bench;
mod ch02;
mod ch02_tokenize;
mod ch03;
mod ch04;
mod ch05;
mod ch06;
mod ch08;
mod common;
mod dist;
mod run;
mod tiny;

use clap::{Parser, Subcommand};
use reasoning_model::runtime::in_pool;

/// Chapter experiments of *Build a Reasoning Model (From Scratch)*, in Rust on burn.
#[derive(Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    MakeDatasets(tiny::MakeDatasetsArgs),
    PretrainTiny(tiny::PretrainTinyArgs),
    /// Tokenize a text, or render it as a chat prompt, with a model's tokenizer (chapter 2).
    Tokenize(ch02_tokenize::TokenizeArgs),
    Grade(ch03::GradeArgs),
    EvaluateJson(ch03::EvaluateJsonArgs),
    /// Continue a prompt with a model, streaming the text (chapter 2).
    Generate(ch02::GenerateArgs),
    /// Chat with a model in the terminal (chapter 2).
    Chat(ch02::ChatArgs),
    /// Write a model (the book's .pth checkpoints, GGUF, HF, hub) as an HF folder.
    Convert(ch02::ConvertArgs),
    /// Evaluate a model on a problem set with greedy decoding (chapter 3).
    Evaluate(ch03::EvaluateArgs),
    /// Self-consistency: majority vote over sampled answers (chapter 4).
    SelfConsistency(ch04::SelfConsistencyArgs),
    /// Best-of-N: keep the highest-scoring sampled answer (chapter 5).
    BestOfN(ch05::BestOfNArgs),
    /// Self-refinement: draft, critique, revise (chapter 5).
    SelfRefine(ch05::SelfRefineArgs),
    /// Train a model with GRPO on verifiable rewards (chapters 6-7).
    TrainGrpo(Box<ch06::TrainGrpoArgs>),
    /// Redraw the 2x2 GRPO metrics figure from a metrics.csv (chapters 6-7).
    PlotMetrics(ch06::PlotMetricsArgs),
    /// Sample reasoning traces from a teacher and keep the verified ones (chapter 8).
    DistillData(Box<ch08::DistillDataArgs>),
    /// Fine-tune a student on reasoning traces (chapter 8).
    Distill(Box<ch08::DistillArgs>),
    /// MMLU scored three ways: letter, logprob, teacher-forcing, or the random baseline
    /// (appendix F).
    Mmlu(Box<appf::MmluArgs>),
    /// Rank models from pairwise votes: Elo or Bradley-Terry (appendix F).
    Leaderboard(appf::LeaderboardArgs),
    /// LLM-as-a-judge: grade an evaluation's answers 1-5 with the book's rubric (appendix F).
    Judge(Box<appf::JudgeArgs>),
    /// Serve a model: OpenAI-compatible API and a browser chat (appendix G).
    Serve(appg::ServeArgs),
    /// Benchmarks: `bench generate`, `bench sample`, ..., `bench suite` (docs/performance.md).
    Bench(bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    reasoning_model::runtime::tune_allocator();
    let cli = Cli::parse();
    match cli.command {
        Command::MakeDatasets(args) => tiny::make_datasets(args),
        Command::PretrainTiny(args) => ranked(|| tiny::pretrain_tiny(args)),
        Command::Tokenize(args) => ch02_tokenize::run(args),
        Command::Grade(args) => ch03::grade(args),
        Command::EvaluateJson(args) => ch03::evaluate_json(args),
        // Inference commands compute inside rayon's pool (`runtime::in_pool`).
        Command::Generate(args) => in_pool(|| ch02::generate_cmd(args)),
        Command::Chat(args) => in_pool(|| ch02::chat(args)),
        Command::Convert(args) => ch02::convert(args),
        Command::Evaluate(args) => in_pool(|| ch03::evaluate(args)),
        Command::SelfConsistency(args) => in_pool(|| ch04::self_consistency(args)),
        Command::BestOfN(args) => in_pool(|| ch05::best_of_n(args)),
        Command::SelfRefine(args) => in_pool(|| ch05::self_refine_cmd(args)),
        // Trainers run on every rank of an `mpirun` job (`dist`).
        Command::TrainGrpo(args) => ranked(|| ch06::train_grpo(*args)),
        Command::PlotMetrics(args) => ch06::plot_metrics_cmd(args),
        Command::DistillData(args) => in_pool(|| ch08::distill_data(*args)),
        Command::Distill(args) => ranked(|| ch08::distill(*args)),
        Command::Mmlu(args) => in_pool(|| appf::mmlu(*args)),
        Command::Leaderboard(args) => appf::leaderboard(args),
        Command::Judge(args) => in_pool(|| appf::judge(*args)),
        Command::Serve(args) => appg::serve(args),
        Command::Bench(args) => bench::run(args),
    }
}

/// Runs a training command on the ranks of this process (`dist`): an error on any rank of a
/// multi-rank job ends the whole job, naming the rank.
fn ranked(command: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    dist::init()?;
    let result = command();
    if let Err(e) = &result {
        dist::abort_on_error(e);
    }
    dist::finish();
    result
}
