//! `bench ranks`: data-parallel training on MPI against one process, on the same machine and
//! the same global batch (docs/distributed.md).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;
use reasoning_model::{DType, Device, Model};
use serde::Serialize;
use serde_json::{Value, json};

use crate::run::{RunDir, Summary, write_json_atomic};

use super::machine_load;

/// Time training steps on `--np` MPI ranks of `--threads-per-rank` threads against one process
/// of `--np x --threads-per-rank` threads (or `--single-threads`), same global batch, side by
/// side.
///
/// Runs `train-grpo` (the headline configuration: 16 problems x 8 rollouts, 2 update workers)
/// and `pretrain-tiny`'s SFT phase (no drill or polish phase, no measurement) for `--steps`
/// steps each way, as child processes of this binary; the multi-rank side is
/// `mpirun -np N --bind-to none -x RAYON_NUM_THREADS=T`. Reports seconds per step (the run's
/// training seconds over its steps; GRPO's evaluation is cut to one problem), the speed-up,
/// the bytes each step sums over ranks (the f32 gradients: 4 bytes per parameter) and the
/// largest weight difference between the two final models. Needs a binary built with
/// `--features mpi` and Open MPI's `mpirun`. Writes a run folder with results.json. A few
/// minutes.
///
///     cargo run -p xtask --features mpi -- bench ranks
#[derive(Args, Debug, Serialize)]
pub struct RanksArgs {
    /// Training steps of each run.
    #[arg(long, default_value_t = 4)]
    pub steps: u64,
    /// MPI ranks.
    #[arg(long, default_value_t = 2)]
    pub np: usize,
    /// Compute threads of each rank.
    #[arg(long, default_value_t = 1)]
    pub threads_per_rank: usize,
    /// Compute threads of the single process [default: np x threads-per-rank, the same
    /// cores; 1 thread measures how the ranks scale instead].
    #[arg(long)]
    pub single_threads: Option<usize>,
    /// Run folder (default runs/bench-ranks-<timestamp>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// One command timed both ways.
#[derive(Debug, Serialize)]
struct Case {
    command: String,
    steps: u64,
    single_seconds_per_step: f64,
    ranks_seconds_per_step: f64,
    speedup: f64,
    parameters: usize,
    bytes_summed_per_step: usize,
    max_weight_difference: f32,
}

/// Runs `cargo xtask bench ranks`.
pub fn ranks(args: RanksArgs) -> Result<()> {
    if !cfg!(feature = "mpi") {
        bail!(
            "bench ranks launches this binary under mpirun: build it with --features mpi \
             (cargo run -p xtask --features mpi -- bench ranks)"
        );
    }
    if args.np < 2 || args.steps == 0 || args.threads_per_rank == 0 {
        bail!("--np must be at least 2, --steps and --threads-per-rank at least 1");
    }
    let single_threads = args
        .single_threads
        .unwrap_or(args.np * args.threads_per_rank);
    let run = RunDir::create("bench-ranks", args.out.as_deref(), &args)?;
    let load_before = machine_load();
    let steps = args.steps.to_string();
    let grpo: Vec<&str> = vec![
        "train-grpo",
        "--steps",
        &steps,
        "--eval-limit",
        "1",
        "--eval-every",
        "0",
        "--checkpoint-every",
        "0",
        "--sample-every",
        "0",
    ];
    let sft: Vec<&str> = vec![
        "pretrain-tiny",
        "--steps",
        &steps,
        "--drill-steps",
        "0",
        "--polish-steps",
        "0",
        "--no-measure",
    ];
    let mut cases = Vec::new();
    for (name, command, model) in [("grpo", &grpo, "model"), ("sft", &sft, "model")] {
        let single = run.file(&format!("{name}-1x{single_threads}"));
        let multi = run.file(&format!("{name}-{}x{}", args.np, args.threads_per_rank));
        eprintln!("{name}: one process ...");
        launch(None, single_threads, command, &single)?;
        eprintln!("{name}: {} ranks ...", args.np);
        launch(Some(args.np), args.threads_per_rank, command, &multi)?;
        let (a, b) = (weights(&single.join(model))?, weights(&multi.join(model))?);
        let max = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        let (ta, tb) = (seconds_per_step(&single)?, seconds_per_step(&multi)?);
        cases.push(Case {
            command: command[0].to_string(),
            steps: args.steps,
            single_seconds_per_step: ta,
            ranks_seconds_per_step: tb,
            speedup: ta / tb,
            parameters: a.len(),
            bytes_summed_per_step: 4 * a.len(),
            max_weight_difference: max,
        });
    }
    let results = json!({
        "np": args.np,
        "threads_per_rank": args.threads_per_rank,
        "single_threads": single_threads,
        "cases": cases,
        "load_before": load_before,
        "load_after": machine_load(),
    });
    write_json_atomic(&run.file("results.json"), &results)?;
    run.write_summary(
        &Summary {
            model: "models/tiny-arith".into(),
            dataset: "datasets/arith".into(),
            n: cases.len(),
            ..Summary::default()
        },
        results.clone(),
    )?;
    println!(
        "{:<14} {:>14} {:>14} {:>8} {:>14} {:>10}",
        "command",
        format!("1x{single_threads} s/step"),
        format!("{}x{} s/step", args.np, args.threads_per_rank),
        "speedup",
        "summed MB/step",
        "max |Δw|"
    );
    for c in &cases {
        println!(
            "{:<14} {:>14.2} {:>14.2} {:>7.2}x {:>14.2} {:>10.1e}",
            c.command,
            c.single_seconds_per_step,
            c.ranks_seconds_per_step,
            c.speedup,
            c.bytes_summed_per_step as f64 / 1e6,
            c.max_weight_difference
        );
    }
    run.finish();
    Ok(())
}

/// Runs this binary with `args` into `out`: as one process, or under `mpirun -np ranks`.
fn launch(ranks: Option<usize>, threads: usize, args: &[&str], out: &Path) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find this binary")?;
    let threads = threads.to_string();
    let mut cmd = match ranks {
        None => {
            let mut c = Command::new(&exe);
            c.env("RAYON_NUM_THREADS", &threads);
            c
        }
        Some(n) => {
            let mut c = Command::new("mpirun");
            c.args([
                "-np",
                &n.to_string(),
                "--oversubscribe",
                "--bind-to",
                "none",
            ])
            .args(["--mca", "mpi_yield_when_idle", "1"])
            .args(["-x", &format!("RAYON_NUM_THREADS={threads}")])
            .arg(&exe);
            c
        }
    };
    cmd.args(args).arg("--out").arg(out);
    let output = cmd
        .output()
        .with_context(|| format!("cannot run {:?}", cmd.get_program()))?;
    if !output.status.success() {
        bail!(
            "{} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Training seconds over steps, from a run's summary.json.
fn seconds_per_step(dir: &Path) -> Result<f64> {
    let path = dir.join("summary.json");
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?,
    )?;
    let steps = summary["steps"].as_f64().unwrap_or(f64::NAN);
    // train-grpo: `seconds` is its training loop; pretrain-tiny: `train_seconds`, the SFT phase.
    let seconds = summary["train_seconds"]
        .as_f64()
        .or_else(|| summary["seconds"].as_f64())
        .unwrap_or(f64::NAN);
    Ok(seconds / steps)
}

/// Every parameter of the model in `dir`, in path order.
fn weights(dir: &Path) -> Result<Vec<f32>> {
    let model = Model::load(dir, &Device::flex(), DType::F32)
        .with_context(|| format!("cannot load {}", dir.display()))?;
    let mut all = Vec::new();
    for (_, data) in reasoning_train::params::param_data(&model) {
        all.extend(
            data.try_into_vec_as::<f32>()
                .map_err(|e| anyhow::anyhow!("{e:?}"))?,
        );
    }
    Ok(all)
}
