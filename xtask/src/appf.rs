//! Appendix F: evaluation. `cargo xtask leaderboard` ranks models from pairwise votes; the
//! ratings are computed by `reasoning_eval::leaderboard`, this file parses and reports.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use reasoning_eval::leaderboard::{
    EloConfig, FitConfig, Method, RatingInterval, bootstrap, bradley_terry, elo, read_votes,
};
use serde::Serialize;
use serde_json::json;

use crate::run::{RunDir, Summary, write_json_atomic};

/// Rank models from pairwise votes (appendix F): Elo as the book's `elo_ratings` (K 32,
/// start 1000, votes in order) or Bradley-Terry fitted to convergence (maximum likelihood,
/// rescaled x400/ln 10 around 1000), optionally with 95% bootstrap intervals.
///
/// Votes are a JSON array of `[winner, loser]` pairs, e.g. the book's example:
///
///     cargo xtask leaderboard --votes ../shared/datasets/arena_votes.json --method bradley-terry --bootstrap 1000
///
/// Writes leaderboard.json (ratings best first, with `low`/`high` when bootstrapped) and
/// summary.json (`n` votes, `models`, `method`, `seed`) into the run folder, prints the table
/// (or the JSON with --json), then the run folder.
#[derive(Args, Debug, Serialize)]
pub struct LeaderboardArgs {
    /// The votes: a JSON array of [winner, loser] pairs.
    #[arg(long)]
    pub votes: PathBuf,
    /// elo or bradley-terry.
    #[arg(long, default_value = "elo")]
    pub method: String,
    /// Elo's K factor.
    #[arg(long, default_value_t = 32.0)]
    pub k: f64,
    /// Elo's starting rating.
    #[arg(long, default_value_t = 1000.0)]
    pub initial: f64,
    /// Resamples for 95% bootstrap intervals (0: none).
    #[arg(long, default_value_t = 0)]
    pub bootstrap: usize,
    /// Seed of the bootstrap's resampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print the leaderboard as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Run folder [default: runs/leaderboard-<timestamp>].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `cargo xtask leaderboard`.
pub fn leaderboard(args: LeaderboardArgs) -> Result<()> {
    let method = match args.method.as_str() {
        "elo" => Method::Elo(EloConfig {
            k: args.k,
            initial: args.initial,
        }),
        "bradley-terry" => Method::BradleyTerry(FitConfig::default()),
        other => bail!("--method must be elo or bradley-terry, got {other:?}"),
    };
    let votes = read_votes(&args.votes)?;
    let run = RunDir::create("leaderboard", args.out.as_deref(), &args)?;
    let ratings: Vec<RatingInterval> = if args.bootstrap > 0 {
        let b = bootstrap(&votes, &method, args.bootstrap, args.seed)?;
        if b.dropped > 0 {
            eprintln!(
                "{} of {} bootstrap resamples dropped (no finite fit or a model missing)",
                b.dropped, args.bootstrap
            );
        }
        b.ratings
    } else {
        let point = match &method {
            Method::Elo(c) => elo(&votes, c),
            Method::BradleyTerry(c) => bradley_terry(&votes, c)?,
        };
        point
            .into_iter()
            .map(|r| RatingInterval {
                model: r.model,
                rating: r.rating,
                low: f64::NAN,
                high: f64::NAN,
            })
            .collect()
    };
    let rows: Vec<serde_json::Value> = ratings
        .iter()
        .map(|r| {
            let mut row = json!({"model": r.model, "rating": r.rating});
            if args.bootstrap > 0 {
                row["low"] = json!(r.low);
                row["high"] = json!(r.high);
            }
            row
        })
        .collect();
    write_json_atomic(&run.file("leaderboard.json"), &rows)?;
    run.write_summary(
        &Summary {
            model: ratings
                .iter()
                .map(|r| r.model.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            dataset: args.votes.display().to_string(),
            n: votes.len(),
            seed: Some(args.seed),
            ..Summary::default()
        },
        json!({"method": args.method, "models": ratings.len(), "bootstrap": args.bootstrap}),
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("\nLeaderboard ({}, {} votes)", args.method, votes.len());
        for (i, r) in ratings.iter().enumerate() {
            if args.bootstrap > 0 {
                println!(
                    "{:>2}. {:<20} {:7.1}  [{:7.1}, {:7.1}]",
                    i + 1,
                    r.model,
                    r.rating,
                    r.low,
                    r.high
                );
            } else {
                println!("{:>2}. {:<20} {:7.1}", i + 1, r.model, r.rating);
            }
        }
        println!();
    }
    run.finish();
    Ok(())
}
