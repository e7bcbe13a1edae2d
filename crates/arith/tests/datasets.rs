//! The committed datasets/arith files are exactly what the seeded generator makes.

use std::path::PathBuf;

use reasoning_arith::task::{SplitConfig, make_splits, read_jsonl, records, to_jsonl};

#[test]
fn committed_arithmetic_splits_regenerate_byte_for_byte() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../datasets/arith");
    let splits = make_splits(&SplitConfig::default()).unwrap();
    for (name, problems) in [
        ("train", &splits.train),
        ("val", &splits.val),
        ("test", &splits.test),
    ] {
        let path = dir.join(format!("{name}.jsonl"));
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (run `cargo xtask make-datasets`)", path.display())
        });
        let fresh = to_jsonl(&records(problems, name));
        assert!(
            committed == fresh,
            "{} differs from the generator's output",
            path.display()
        );
        assert_eq!(read_jsonl(&path).unwrap().len(), problems.len());
    }
    assert_eq!(
        (splits.train.len(), splits.val.len(), splits.test.len()),
        (20_000, 200, 500)
    );
}

#[test]
fn a_malformed_line_is_reported_with_its_number() {
    let path = std::env::temp_dir().join(format!("arith-bad-{}.jsonl", std::process::id()));
    std::fs::write(&path, "{\"problem\":\"x\"}\n").unwrap();
    let err = read_jsonl(&path).unwrap_err().to_string();
    assert!(
        err.contains("line 1") && err.contains("missing field"),
        "{err}"
    );
    std::fs::remove_file(path).unwrap();
}
