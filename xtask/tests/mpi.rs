//! Data-parallel training on MPI (docs/distributed.md): `mpirun -np 2` against one process with
//! the same global batch.
//!
//! - Three GRPO steps and three SFT steps (`distill`): the same metrics rows and the same
//!   weights within 1e-5.
//! - A rank killed mid-run ends the job with a non-zero exit within seconds; the last
//!   checkpoint loads, and the run resumes on one process (another number of ranks).
//! - Ranks started with different flags or weights are refused at the start, naming the rank.
//!
//! Needs the `mpi` feature and Open MPI's `mpirun`; otherwise each test says it skipped:
//!
//! ```text
//! cargo test --workspace --features xtask/mpi --test mpi
//! ```
//!
//! Without the feature, one test checks that a binary launched by `mpirun` refuses to run.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// `mpirun` with the settings of these tests, or `None` (and a message) when the test cannot
/// run here.
fn mpirun(test: &str) -> Option<Command> {
    if !cfg!(feature = "mpi") {
        eprintln!("{test}: skipped (build with --features xtask/mpi)");
        return None;
    }
    if Command::new("mpirun").arg("--version").output().is_err() {
        eprintln!("{test}: skipped (no mpirun on PATH: install Debian's openmpi-bin)");
        return None;
    }
    let mut cmd = Command::new("mpirun");
    // Each rank one thread (2 ranks fill this machine's 2 cores), unbound, yielding the core
    // while it waits in a collective; allowed as root (CI containers).
    cmd.args([
        "--oversubscribe",
        "--bind-to",
        "none",
        "-x",
        "RAYON_NUM_THREADS=1",
    ])
    .args(["--mca", "mpi_yield_when_idle", "1"])
    .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
    .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    .env_remove("REASONING_ASSETS");
    Some(cmd)
}

/// Runs `args` on `ranks` ranks (`mpirun -np ranks`), or as a plain process for 0.
fn run(ranks: usize, args: &[&str]) -> Output {
    let xtask = env!("CARGO_BIN_EXE_xtask");
    if ranks == 0 {
        return common::xtask(args);
    }
    let mut cmd = mpirun("run").expect("checked by the caller");
    cmd.args(["-np", &ranks.to_string(), xtask]).args(args);
    cmd.output().unwrap()
}

/// Steps of 4 prompts x 4 rollouts: each of 2 ranks samples 2 prompts and trains on 2 of the 4
/// micro-batches.
const GRPO: [&str; 15] = [
    "train-grpo",
    "--prompts-per-step",
    "4",
    "--num-rollouts",
    "4",
    "--micro-batch-size",
    "4",
    "--max-new-tokens",
    "32",
    "--eval-limit",
    "4",
    "--eval-every",
    "0",
    "--sample-every",
    "1",
];

/// Checks that two runs wrote the same metrics (timings aside, relative 1e-5) and final
/// weights (absolute 1e-5), and that only the root wrote.
fn same_run(single: &Path, ranks: &Path, what: &str) {
    let (header, a) = common::metrics(single);
    let (header_b, b) = common::metrics(ranks);
    assert_eq!(header, header_b);
    assert_eq!(a.len(), b.len(), "{what}: rows");
    for (row_a, row_b) in a.iter().zip(&b) {
        for (c, name) in header.iter().enumerate() {
            if name.contains("sec") {
                continue;
            }
            let (x, y) = (row_a[c], row_b[c]);
            if x.is_nan() && y.is_nan() {
                continue;
            }
            let rel = (x - y).abs() / x.abs().max(1e-3);
            assert!(rel < 1e-5, "{what}: {name}: 1 process {x}, 2 ranks {y}");
        }
    }
    let (wa, wb) = (
        common::weights(&single.join("model")),
        common::weights(&ranks.join("model")),
    );
    let mut max = 0f32;
    for (name, va) in &wa {
        for (x, y) in va.iter().zip(&wb[name]) {
            max = max.max((x - y).abs());
        }
    }
    println!("{what}: largest weight difference between 1 process and 2 ranks: {max:.2e}");
    assert!(max <= 1e-5, "{what}: weights differ by {max}");
}

#[test]
fn two_ranks_train_grpo_as_one_process() {
    if mpirun("two_ranks_train_grpo_as_one_process").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    let with_out = |out: &Path| {
        let mut args = GRPO.to_vec();
        args.extend(["--steps", "3", "--checkpoint-every", "0"]);
        args.extend(["--out", out.to_str().unwrap()]);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let a = with_out(&one);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    common::ok(&run(0, &a));
    let b = with_out(&two);
    let b: Vec<&str> = b.iter().map(String::as_str).collect();
    let out = run(2, &b);
    let stdout = common::ok(&out);
    // One rank printed: the run folder is the last line, once.
    assert_eq!(stdout.lines().last(), Some(two.to_str().unwrap()));
    assert_eq!(stdout.matches("held-out accuracy").count(), 1, "{stdout}");
    same_run(&one, &two, "train-grpo");
    // The same rollouts: the samples log is the same.
    let samples = |d: &Path| std::fs::read_to_string(d.join("samples.jsonl")).unwrap();
    assert_eq!(samples(&one), samples(&two));

    // Rank 1 starting from other weights (the trained model, same tokenizer and shapes) is
    // refused before the first step.
    let mut cmd = mpirun("two_ranks_train_grpo_as_one_process").unwrap();
    let xtask = env!("CARGO_BIN_EXE_xtask");
    let other = one.join("model");
    let mismatch = dir.path().join("mismatch");
    let mut args = GRPO.to_vec();
    args.extend(["--steps", "1", "--out", mismatch.to_str().unwrap()]);
    let output = cmd
        .args(["-np", "1", xtask])
        .args(&args)
        .args([":", "-np", "1", xtask])
        .args(&args)
        .args(["--model", other.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("model weights differs between ranks") && stderr.contains("rank 1 (hash"),
        "{stderr}"
    );
}

#[test]
fn two_ranks_distill_as_one_process() {
    if mpirun("two_ranks_distill_as_one_process").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = common::traces(dir.path(), 25);
    // 24 training examples in batches of 8: three steps of four micro-batches of 2.
    let args = |out: &Path| -> Vec<String> {
        [
            "distill",
            "--data",
            data.to_str().unwrap(),
            "--target-format",
            "qwen3",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--micro-batch-size",
            "2",
            "--val-size",
            "1",
            "--eval-limit",
            "2",
            "--eval-max-new-tokens",
            "16",
            "--out",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    let a = args(&one);
    common::ok(&run(0, &a.iter().map(String::as_str).collect::<Vec<_>>()));
    let b = args(&two);
    common::ok(&run(2, &b.iter().map(String::as_str).collect::<Vec<_>>()));
    let (_, rows) = common::metrics(&two);
    assert_eq!(rows.len(), 3, "three steps");
    same_run(&one, &two, "distill");
}

/// The pids of the processes whose environment holds `OMPI_COMM_WORLD_RANK=rank` and whose
/// command line mentions `marker`.
fn rank_pids(rank: usize, marker: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let read = |name: &str| std::fs::read(entry.path().join(name)).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&read("cmdline")).replace('\0', " ");
        let environ = String::from_utf8_lossy(&read("environ")).into_owned();
        let wanted = format!("OMPI_COMM_WORLD_RANK={rank}");
        if cmdline.contains(marker) && environ.split('\0').any(|v| v == wanted) {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn a_killed_rank_ends_the_job_and_the_run_resumes_on_one_process() {
    let Some(mut cmd) = mpirun("a_killed_rank_ends_the_job_and_the_run_resumes_on_one_process")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("killed");
    let out_s = out.to_str().unwrap();
    let mut args = GRPO.to_vec();
    args.extend(["--steps", "6", "--checkpoint-every", "1", "--out", out_s]);
    let mut child = cmd
        .args(["-np", "2", env!("CARGO_BIN_EXE_xtask")])
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first checkpoint, then kill rank 1.
    let first = out.join("checkpoints/step-000001");
    let started = Instant::now();
    while !first.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no checkpoint"
        );
        if child.try_wait().unwrap().is_some() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            panic!("the job ended before its first checkpoint: {stderr}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let pids = rank_pids(1, out_s);
    assert_eq!(pids.len(), 1, "rank 1's process: {pids:?}");
    let killed = Instant::now();
    Command::new("kill")
        .args(["-9", &pids[0].to_string()])
        .status()
        .unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "the job still runs 30 s after rank 1 was killed"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    println!(
        "the job ended {:.1} s after rank 1 was killed, with {status}",
        killed.elapsed().as_secs_f64()
    );
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("rank 1"), "mpirun names the rank: {stderr}");

    // The last checkpoint is whole: it loads as a model, and the run resumes from it on one
    // process (a different number of ranks) to the end.
    let last = reasoning_train::latest_checkpoint(&out.join("checkpoints")).unwrap();
    assert!(!common::weights(&last).is_empty());
    let stdout = common::ok(&common::xtask(&["train-grpo", "--resume", out_s]));
    assert_eq!(stdout.lines().last(), Some(out_s));
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["steps"], 6, "{summary}");
    let (header, rows) = common::metrics(&out);
    let step = header.iter().position(|h| h == "step").unwrap();
    let steps: Vec<f64> = rows.iter().map(|r| r[step]).collect();
    assert_eq!(steps, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
}

#[test]
fn ranks_with_different_flags_are_refused() {
    let Some(mut cmd) = mpirun("ranks_with_different_flags_are_refused") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mismatch");
    let xtask = env!("CARGO_BIN_EXE_xtask");
    let mut args = GRPO.to_vec();
    args.extend(["--out", out.to_str().unwrap()]);
    // MPMD: rank 0 and rank 1 get different learning rates.
    let started = Instant::now();
    let output = cmd
        .args(["-np", "1", xtask])
        .args(&args)
        .args(["--lr", "1e-4", ":", "-np", "1", xtask])
        .args(&args)
        .args(["--lr", "2e-4"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("run configuration differs between ranks"),
        "{stderr}"
    );
    assert!(stderr.contains("rank 1 (hash"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(120));
    assert!(!out.join("metrics.csv").exists() || common::metrics(&out).1.is_empty());
}

#[test]
fn a_binary_without_mpi_refuses_to_run_under_mpirun() {
    if cfg!(feature = "mpi") {
        eprintln!("a_binary_without_mpi_refuses_to_run_under_mpirun: skipped (built with mpi)");
        return;
    }
    // What Open MPI's mpirun puts in each rank's environment.
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(GRPO)
        .env("OMPI_COMM_WORLD_SIZE", "2")
        .env("OMPI_COMM_WORLD_RANK", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("rank 1 of 2") && stderr.contains("--features mpi"),
        "{stderr}"
    );
}
