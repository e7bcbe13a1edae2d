//! `cargo xtask mmlu` and `cargo xtask judge` end to end on the embedded model: the run
//! folder's files and fields, resuming, and clear errors for bad input.

mod common;

use common::xtask;

use std::path::Path;

use serde_json::Value;

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Checks that a command succeeded and printed its run folder last; returns its summary.
fn finished_run(out: &std::process::Output, run: &Path, command: &str) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{command}: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().last(),
        Some(run.display().to_string().as_str())
    );
    let summary = json(&run.join("summary.json"));
    assert_eq!(summary["command"], command);
    summary
}

const QUESTIONS: &str = r#"{"subject": "arith", "question": "What is 2 + 3?", "choices": ["4", "5", "6", "7"], "answer": 1}
{"subject": "arith", "question": "What is 10 - 4?", "choices": ["6", "5", "14", "4"], "answer": 0}
{"subject": "other", "question": "Which is largest?", "choices": ["1", "2", "3", "9"], "answer": "D"}
"#;

#[test]
fn mmlu_writes_a_run_folder_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("q.jsonl");
    std::fs::write(&data, QUESTIONS).unwrap();
    for method in ["logprob", "teacher-forcing", "letter", "random"] {
        let out_dir = dir.path().join(method);
        let args = [
            "mmlu",
            "--method",
            method,
            "--data",
            data.to_str().unwrap(),
            "--subjects",
            "all",
            "--out",
            out_dir.to_str().unwrap(),
        ];
        let summary = finished_run(&xtask(&args), &out_dir, "mmlu");
        assert_eq!(summary["method"], method);
        assert_eq!(summary["n"], 3);
        for key in [
            "model",
            "dataset",
            "accuracy",
            "seconds",
            "seed",
            "per_subject",
        ] {
            assert!(
                !summary[key].is_null(),
                "{method}: summary.{key} is missing"
            );
        }
        assert_eq!(summary["per_subject"].as_array().unwrap().len(), 2);
        let records = std::fs::read_to_string(out_dir.join("records.jsonl")).unwrap();
        let records: Vec<Value> = records
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(records.len(), 3);
        assert_eq!(
            records
                .iter()
                .map(|r| r["gold"].as_str().unwrap())
                .collect::<String>(),
            "BAD"
        );
        let has_scores = matches!(method, "logprob" | "teacher-forcing");
        assert!(
            records.iter().all(|r| r["scores"].is_array() == has_scores),
            "{method}"
        );

        // The same --out again: everything is resumed, nothing is redone.
        let again = xtask(&args);
        assert!(again.status.success());
        let summary2 = json(&out_dir.join("summary.json"));
        assert_eq!(summary2["resumed_records"], 3);
        assert_eq!(summary2["accuracy"], summary["accuracy"]);
        let lines = std::fs::read_to_string(out_dir.join("records.jsonl")).unwrap();
        assert_eq!(lines.lines().count(), 3);
    }
}

#[test]
fn mmlu_can_drop_the_prompts_trailing_space() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("q.jsonl");
    std::fs::write(&data, QUESTIONS).unwrap();
    let tokens = |extra: &[&str]| -> Vec<u64> {
        let out_dir = dir.path().join(format!("run{}", extra.len()));
        let mut args = vec![
            "mmlu",
            "--data",
            data.to_str().unwrap(),
            "--subjects",
            "all",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--out", out_dir.to_str().unwrap()]);
        let summary = finished_run(&xtask(&args), &out_dir, "mmlu");
        assert_eq!(summary["no_trailing_space"], !extra.is_empty());
        let records = std::fs::read_to_string(out_dir.join("records.jsonl")).unwrap();
        records
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["prompt_tokens"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    };
    let book = tokens(&[]);
    let without = tokens(&["--no-trailing-space"]);
    let shorter: Vec<u64> = book.iter().map(|t| t - 1).collect();
    assert_eq!(
        without, shorter,
        "the space is one token of the embedded model's tokenizer"
    );
}

#[test]
fn mmlu_skips_what_does_not_fit_and_wraps_prompts_in_the_chat_template() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("q.jsonl");
    // The embedded model's context is 1,024 tokens; this question alone is longer.
    let long = format!(
        "{{\"subject\": \"arith\", \"question\": \"{}?\", \"choices\": [\"1\", \"2\", \"3\", \"4\"], \"answer\": 2}}\n",
        "1 + ".repeat(1500)
    );
    std::fs::write(&data, format!("{QUESTIONS}{long}")).unwrap();
    let run = |method: &str, extra: &[&str]| -> (Value, Vec<Value>) {
        let out_dir = dir.path().join(format!("{method}{}", extra.len()));
        let mut args = vec!["mmlu", "--method", method, "--data", data.to_str().unwrap()];
        args.extend_from_slice(&["--subjects", "all", "--out", out_dir.to_str().unwrap()]);
        args.extend_from_slice(extra);
        let summary = finished_run(&xtask(&args), &out_dir, "mmlu");
        let records = std::fs::read_to_string(out_dir.join("records.jsonl")).unwrap();
        let records = records
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (summary, records)
    };
    for method in ["logprob", "teacher-forcing", "letter"] {
        let (summary, records) = run(method, &[]);
        assert_eq!(
            (summary["n"].as_u64(), summary["skipped"].as_u64()),
            (Some(4), Some(1))
        );
        let last = &records[3];
        assert!(
            last["pred"].is_null() && !last["correct"].as_bool().unwrap(),
            "{method}"
        );
        assert!(
            last["skipped"]
                .as_str()
                .unwrap()
                .contains("context is 1024"),
            "{method}"
        );
        assert!(
            records[..3].iter().all(|r| r["skipped"].is_null()),
            "{method}"
        );
    }
    let (_, raw) = run("logprob", &[]);
    let (chat, wrapped) = run("logprob", &["--chat"]);
    assert_eq!(chat["chat"], true);
    for (r, w) in raw.iter().zip(&wrapped).take(3) {
        assert!(w["prompt_tokens"].as_u64() > r["prompt_tokens"].as_u64());
    }
}

#[test]
fn mmlu_refuses_bad_data_and_unknown_subjects() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("q.jsonl");
    let bad_answer = QUESTIONS.replace("\"answer\": 0", "\"answer\": 7");
    let cases = [
        (bad_answer.as_str(), "all", ["q.jsonl:2", "`answer`"]),
        (QUESTIONS, "astronomy", ["astronomy", "known: arith, other"]),
    ];
    for (text, subjects, expected) in cases {
        std::fs::write(&data, text).unwrap();
        let out = xtask(&[
            "mmlu",
            "--data",
            data.to_str().unwrap(),
            "--subjects",
            subjects,
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(expected.iter().all(|e| err.contains(e)), "{err}");
    }
}

#[test]
fn judge_grades_records_into_a_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("records.jsonl");
    std::fs::write(
        &input,
        "{\"index\": 1, \"problem\": \"2+3?\", \"gtruth_answer\": \"5\", \"generated_text\": \"\\\\boxed{5}\"}\n\
         {\"index\": 2, \"problem\": \"2+2?\", \"gtruth_answer\": \"4\", \"generated_text\": \"5\"}\n",
    )
    .unwrap();
    let out_dir = dir.path().join("judge");
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/tiny-arith");
    let judge = |more: &[&str]| {
        let mut args = vec![
            "judge",
            "--judge",
            model.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
        ];
        args.extend_from_slice(more);
        xtask(&args)
    };
    let out = judge(&["--max-new-tokens", "6", "--out", out_dir.to_str().unwrap()]);
    let summary = finished_run(&out, &out_dir, "judge");
    assert_eq!(summary["n"], 2);
    let histogram: u64 = summary["histogram"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(histogram + summary["unparsed"].as_u64().unwrap(), 2);
    let verdicts = std::fs::read_to_string(out_dir.join("verdicts.jsonl")).unwrap();
    assert_eq!(verdicts.lines().count(), 2);

    // Scoring by probability: no reply, every answer scored, a distribution over 1-5.
    let prob_dir = dir.path().join("judge-p");
    let out = judge(&[
        "--scoring",
        "probability",
        "--out",
        prob_dir.to_str().unwrap(),
    ]);
    let summary = finished_run(&out, &prob_dir, "judge");
    assert_eq!(
        (summary["scored"].as_u64(), summary["unparsed"].as_u64()),
        (Some(2), Some(0))
    );
    let mean = summary["mean_expected_score"].as_f64().unwrap();
    assert!((1.0..=5.0).contains(&mean), "{mean}");
    for line in std::fs::read_to_string(prob_dir.join("verdicts.jsonl"))
        .unwrap()
        .lines()
    {
        let v: Value = serde_json::from_str(line).unwrap();
        let probs: Vec<f64> = v["probs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_f64().unwrap())
            .collect();
        assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let best = (0..5).fold(0, |b, k| if probs[k] > probs[b] { k } else { b });
        assert_eq!(v["score"].as_u64(), Some(best as u64 + 1));
        let expected: f64 = probs
            .iter()
            .enumerate()
            .map(|(k, p)| (k + 1) as f64 * p)
            .sum();
        assert!((v["expected"].as_f64().unwrap() - expected).abs() < 1e-9);
        assert!(v["mass"].as_f64().unwrap() > 0.0 && v["reply"] == "");
    }
    assert!(!judge(&["--scoring", "vibes"]).status.success());

    let out = judge(&["--answer-key", "response"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("records.jsonl:1") && err.contains("`response`"),
        "{err}"
    );
}
