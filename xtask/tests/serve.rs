//! `cargo xtask serve` as a process: it prints its URL, the judge and the distillation teacher
//! take that URL instead of a local model, and SIGTERM stops it cleanly.

mod common;

use common::{ok, xtask};

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

#[test]
fn the_judge_and_the_teacher_can_be_a_server() {
    let (mut server, url) = common::serve(&["--max-batch", "4"]);
    let api = format!("{url}/v1");
    let dir = tempfile::tempdir().unwrap();
    let eval = dir.path().join("eval");
    ok(&xtask(&[
        "evaluate",
        "--limit",
        "3",
        "--out",
        eval.to_str().unwrap(),
    ]));

    let judged = dir.path().join("judge");
    let stdout = ok(&xtask(&[
        "judge",
        "--judge",
        &api,
        "--input",
        eval.join("records.jsonl").to_str().unwrap(),
        "--out",
        judged.to_str().unwrap(),
    ]));
    assert!(stdout.contains(&format!("at {api}")), "{stdout}");
    let verdicts = std::fs::read_to_string(judged.join("verdicts.jsonl")).unwrap();
    assert_eq!(verdicts.lines().count(), 3);
    let err = String::from_utf8_lossy(
        &xtask(&[
            "judge",
            "--judge",
            &api,
            "--input",
            eval.join("records.jsonl").to_str().unwrap(),
            "--scoring",
            "probability",
        ])
        .stderr,
    )
    .into_owned();
    assert!(err.contains("needs a local judge model"), "{err}");

    let traces = dir.path().join("traces");
    let stdout = ok(&xtask(&[
        "distill-data",
        "--teacher",
        &api,
        "--limit",
        "3",
        "--num-samples",
        "2",
        "--out",
        traces.to_str().unwrap(),
    ]));
    assert_eq!(stdout.lines().last(), Some(traces.to_str().unwrap()));
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(traces.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["n"], 3);
    assert!(summary["model"].as_str().unwrap().contains(&api));
    // The same seed in process gives the same traces as through the server.
    let local = dir.path().join("local");
    ok(&xtask(&[
        "distill-data",
        "--limit",
        "3",
        "--num-samples",
        "2",
        "--out",
        local.to_str().unwrap(),
    ]));
    let read = |d: &std::path::Path| std::fs::read_to_string(d.join("traces.json")).unwrap();
    assert_eq!(read(&traces), read(&local));
    assert!(read(&local).matches("\"problem\"").count() >= 2);

    // SIGTERM: a graceful stop, exit status 0.
    let pid = server.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = server.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "SIGTERM did not stop the server"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
