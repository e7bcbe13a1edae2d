//! `cargo xtask <command>`: the chapter experiments of *Build a Reasoning Model (From Scratch)*.
//!
//! Each subcommand lives in the file of its book chapter (`ch02.rs`, `ch03.rs`, ...). Logic lives
//! in the library crates; this binary parses arguments, wires the crates together, draws progress
//! bars and writes run folders (see [`run`]).

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
enum Command {}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {}
}
