//! Helpers shared by the command-line tests: run the built `xtask` binary.
#![allow(dead_code)]

use std::process::{Command, Output};

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
