//! Atomic file and folder writes: a crash never leaves a half-written file behind.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::TrainError;

/// Writes `bytes` to `path` through a temporary sibling file, `fsync` and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    let tmp = tmp_sibling(path);
    {
        let mut f = fs::File::create(&tmp).map_err(|e| TrainError::io("create", &tmp, e))?;
        f.write_all(bytes)
            .map_err(|e| TrainError::io("write", &tmp, e))?;
        f.sync_all().map_err(|e| TrainError::io("sync", &tmp, e))?;
    }
    fs::rename(&tmp, path).map_err(|e| TrainError::io("rename into place", path, e))
}

/// Writes `value` as pretty JSON (with a final newline) to `path` atomically.
pub fn write_json_atomic(path: &Path, value: &impl serde::Serialize) -> Result<(), TrainError> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| TrainError::bad_file(path, format!("cannot serialise JSON: {e}")))?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Reads and parses a JSON file, naming the file in every error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, TrainError> {
    let bytes = fs::read(path).map_err(|e| TrainError::io("read", path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| TrainError::bad_file(path, e.to_string()))
}

/// Fills a folder atomically: `fill` writes into a fresh temporary sibling folder, which then
/// replaces `dir` (an existing `dir` is moved aside first and deleted only after the swap).
///
/// A crash at any point leaves either the old complete folder or the new complete folder at
/// `dir` (or, in the instant between the two renames, the old one under `<dir>.old`).
pub fn write_dir_atomic(
    dir: &Path,
    fill: impl FnOnce(&Path) -> Result<(), TrainError>,
) -> Result<(), TrainError> {
    let tmp = tmp_sibling(dir);
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| TrainError::io("remove stale", &tmp, e))?;
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| TrainError::io("create folder", parent, e))?;
    }
    fs::create_dir_all(&tmp).map_err(|e| TrainError::io("create folder", &tmp, e))?;
    if let Err(e) = fill(&tmp) {
        // Best effort: the temporary folder is garbage either way.
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let old = sibling(dir, "old");
    if dir.exists() {
        if old.exists() {
            fs::remove_dir_all(&old).map_err(|e| TrainError::io("remove stale", &old, e))?;
        }
        fs::rename(dir, &old).map_err(|e| TrainError::io("move aside", dir, e))?;
    }
    fs::rename(&tmp, dir).map_err(|e| TrainError::io("rename into place", dir, e))?;
    if old.exists() {
        fs::remove_dir_all(&old).map_err(|e| TrainError::io("remove", &old, e))?;
    }
    Ok(())
}

fn tmp_sibling(path: &Path) -> PathBuf {
    sibling(path, "tmp")
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".{suffix}"));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("reasoning-train-fs-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn folder_write_replaces_the_old_folder_only_when_complete() {
        let root = scratch("dir");
        let dir = root.join("ckpt");
        write_dir_atomic(&dir, |d| write_atomic(&d.join("a.txt"), b"one")).unwrap();
        let failed = write_dir_atomic(&dir, |d| {
            write_atomic(&d.join("a.txt"), b"two")?;
            Err(TrainError::Config {
                what: "test",
                message: "simulated crash".into(),
            })
        });
        assert!(failed.is_err());
        assert_eq!(
            fs::read(dir.join("a.txt")).unwrap(),
            b"one",
            "old folder kept"
        );
        assert!(!root.join("ckpt.tmp").exists(), "temporary folder removed");
        write_dir_atomic(&dir, |d| write_atomic(&d.join("b.txt"), b"three")).unwrap();
        assert!(!dir.join("a.txt").exists() && dir.join("b.txt").exists());
        assert!(!root.join("ckpt.old").exists());
        fs::remove_dir_all(root).unwrap();
    }
}
