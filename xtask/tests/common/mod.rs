//! Helpers shared by the command-line tests: run the built `xtask` binary.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use reasoning_model::{DType, Device, Model};

/// Runs `xtask` with `args`, without `REASONING_ASSETS` (these tests need no large files).
pub fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env_remove("REASONING_ASSETS")
        .output()
        .unwrap()
}

/// Checks that a run succeeded (showing its stderr otherwise) and returns its stdout.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Starts `xtask serve --port 0 <args>` (the embedded model unless `args` name another); returns
/// the server and the base URL it printed.
pub fn serve(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["serve", "--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");
    (child, url)
}

/// Every parameter of the model saved in `dir`, as f32, loaded as the commands load models.
pub fn weights(dir: &Path) -> BTreeMap<String, Vec<f32>> {
    let model = Model::load(dir, &Device::flex(), DType::F32)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    reasoning_train::params::param_data(&model)
        .into_iter()
        .map(|(name, data)| (name, data.try_into_vec_as::<f32>().unwrap()))
        .collect()
}

/// A `metrics.csv` as header plus rows of numbers (empty cells as NaN).
pub fn metrics(dir: &Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| {
            l.split(',')
                .map(|c| c.parse().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    (header, rows)
}

/// The first `n` worked problems of the embedded task as distillation records (`traces.jsonl`
/// in `dir`): the reasoning lines as `message_thinking`, the answer line as `message_content`.
pub fn traces(dir: &Path, n: usize) -> PathBuf {
    let train = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/arith/train.jsonl");
    let path = dir.join("traces.jsonl");
    let mut f = std::fs::File::create(&path).unwrap();
    for line in std::fs::read_to_string(train).unwrap().lines().take(n) {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        let solution = r["solution"].as_str().unwrap();
        let (thinking, content) = solution.rsplit_once('\n').unwrap();
        let row = serde_json::json!({
            "problem": r["problem"], "gtruth_answer": r["answer"],
            "message_thinking": thinking, "message_content": content,
        });
        writeln!(f, "{row}").unwrap();
    }
    path
}
