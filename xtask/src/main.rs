//! `cargo xtask <command>`: the chapter experiments of *Build a Reasoning Model (From Scratch)*.
//!
//! Each subcommand lives in the file of its book chapter (`ch02.rs`, `ch03.rs`, ...). Logic lives
//! in the library crates; this binary parses arguments, wires the crates together, draws progress
//! bars and writes run folders (see [`run`]).

mod ch02_tokenize;
mod ch03;
mod run;

use clap::{Parser, Subcommand};

/// Chapter experiments of *Build a Reasoning Model (From Scratch)*, in Rust on burn.
#[derive(Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tokenize a text, or render it as a chat prompt, with a model's tokenizer (chapter 2).
    Tokenize(ch02_tokenize::TokenizeArgs),
    Grade(ch03::GradeArgs),
    EvaluateJson(ch03::EvaluateJsonArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Tokenize(args) => ch02_tokenize::run(args),
        Command::Grade(args) => ch03::grade(args),
        Command::EvaluateJson(args) => ch03::evaluate_json(args),
    }
}
