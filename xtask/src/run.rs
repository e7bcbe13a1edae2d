//! Run folders: every experiment command writes into one folder.
//!
//! The default is `runs/<command>-<timestamp>/` (or `--out DIR`). It holds `config.json` (every
//! argument, the seed included), the command's records and metrics, and `summary.json` with at
//! least `command`, `model`, `dataset`, `n`, `accuracy` (where it applies), `seconds` and `seed`.
//! The command's last printed line is the folder's path; scripts rely on that.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{Map, Value};

/// Writes `value` as pretty JSON to `path` atomically: the workspace's one atomic write,
/// `reasoning_train::fs`, re-exported for the chapter commands.
pub use reasoning_train::fs::write_json_atomic;

/// One experiment's output folder, with its start time.
///
/// In a data-parallel job (`crate::dist`) every rank has the same `RunDir` (rank 0's path),
/// and only rank 0 writes into it or prints it.
pub struct RunDir {
    pub path: PathBuf,
    command: String,
    started: Instant,
    root: bool,
}

impl RunDir {
    /// Creates (or reopens, for resuming) the run folder and writes `config.json`.
    ///
    /// `out` is the user's `--out`; without it the folder is `runs/<command>-<UTC timestamp>`.
    pub fn create(command: &str, out: Option<&Path>, config: &impl Serialize) -> Result<Self> {
        let mut path = match out {
            Some(p) => p.to_path_buf(),
            None => PathBuf::from("runs").join(format!("{command}-{}", timestamp())),
        };
        let ranks = crate::dist::ranks();
        if ranks.size() > 1 {
            // Rank 0's folder (the timestamps of the ranks may differ by a second).
            let bytes = path.display().to_string().into_bytes();
            let chosen = reasoning_train::collective::from_root(&*ranks, &bytes)?;
            path = PathBuf::from(String::from_utf8(chosen)?);
            if ranks.rank() != 0 {
                return Ok(Self {
                    path,
                    command: command.to_string(),
                    started: Instant::now(),
                    root: false,
                });
            }
        }
        fs::create_dir_all(&path)
            .with_context(|| format!("cannot create run folder {}", path.display()))?;
        let mut config = serde_json::to_value(config)?;
        if let Value::Object(map) = &mut config {
            map.insert("command".into(), Value::from(command));
        }
        write_json_atomic(&path.join("config.json"), &config)?;
        Ok(Self {
            path,
            command: command.to_string(),
            started: Instant::now(),
            root: true,
        })
    }

    /// Returns `path/name`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Seconds since the folder was created.
    pub fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Writes `summary.json`: the required fields plus `extra` (a JSON object), atomically.
    pub fn write_summary(&self, summary: &Summary, extra: Value) -> Result<()> {
        if !self.root {
            return Ok(());
        }
        let mut map = Map::new();
        map.insert("command".into(), Value::from(self.command.clone()));
        map.insert("model".into(), Value::from(summary.model.clone()));
        map.insert("dataset".into(), Value::from(summary.dataset.clone()));
        map.insert("n".into(), Value::from(summary.n));
        map.insert(
            "accuracy".into(),
            summary.accuracy.map(Value::from).unwrap_or(Value::Null),
        );
        map.insert(
            "seconds".into(),
            Value::from(summary.seconds.unwrap_or_else(|| self.seconds())),
        );
        map.insert(
            "seed".into(),
            summary.seed.map(Value::from).unwrap_or(Value::Null),
        );
        if let Value::Object(extra) = extra {
            map.extend(extra);
        }
        write_json_atomic(&self.file("summary.json"), &Value::Object(map))?;
        Ok(())
    }

    /// Prints the folder's path: the last line every experiment command prints.
    pub fn finish(&self) {
        if !self.root {
            return;
        }
        println!("{}", self.path.display());
    }
}

/// The fields every `summary.json` carries.
#[derive(Default)]
pub struct Summary {
    pub model: String,
    pub dataset: String,
    pub n: usize,
    pub accuracy: Option<f64>,
    /// Overrides the elapsed time since the run folder was made (e.g. for resumed runs).
    pub seconds: Option<f64>,
    pub seed: Option<u64>,
}

/// UTC time as `YYYYMMDD-HHMMSS`.
fn timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Converts days since 1970-01-01 to a (year, month, day) civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_match_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_783), (2026, 11, 26));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
