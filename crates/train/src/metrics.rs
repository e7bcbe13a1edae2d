//! Metrics as CSV: one row per logged step, appended as training goes, resumable.
//!
//! The first column is the step. Empty cells mean "not measured at this step" (e.g. a
//! validation loss computed every 50 steps). On resume, rows after the checkpoint's step are
//! dropped, so the file matches the state the run continues from.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::TrainError;
use crate::fs::write_atomic;

/// An append-only CSV metrics file with a fixed header.
#[derive(Debug)]
pub struct CsvLog {
    path: PathBuf,
    columns: Vec<String>,
    file: File,
}

impl CsvLog {
    /// Creates (or truncates) `path` and writes the header.
    pub fn create(path: &Path, columns: &[&str]) -> Result<Self, TrainError> {
        let columns = check_columns(path, columns)?;
        write_atomic(path, format!("{}\n", columns.join(",")).as_bytes())?;
        Self::open_append(path, columns)
    }

    /// Reopens `path` for a run resumed after step `last_step`: keeps the header and the rows
    /// whose first column is at most `last_step`, drops the rest. Creates the file when it
    /// does not exist.
    pub fn resume(path: &Path, columns: &[&str], last_step: u64) -> Result<Self, TrainError> {
        if !path.exists() {
            return Self::create(path, columns);
        }
        let columns = check_columns(path, columns)?;
        let table = read_csv(path)?;
        if table.columns != columns {
            return Err(TrainError::bad_file(
                path,
                format!(
                    "header {:?} differs from the expected {:?}",
                    table.columns, columns
                ),
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io("read", path, e))?;
        let mut kept = String::new();
        for (i, line) in text.lines().enumerate() {
            let keep = i == 0
                || line
                    .split(',')
                    .next()
                    .and_then(|s| s.parse::<f64>().ok())
                    .is_some_and(|s| s <= last_step as f64);
            if keep {
                kept.push_str(line);
                kept.push('\n');
            }
        }
        write_atomic(path, kept.as_bytes())?;
        Self::open_append(path, columns)
    }

    fn open_append(path: &Path, columns: Vec<String>) -> Result<Self, TrainError> {
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| TrainError::io("open", path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            columns,
            file,
        })
    }

    /// Returns the column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Returns the file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one row (one value per column, `None` for an empty cell) and flushes it.
    pub fn append(&mut self, values: &[Option<f64>]) -> Result<(), TrainError> {
        if values.len() != self.columns.len() {
            return Err(TrainError::Config {
                what: "metrics row",
                message: format!(
                    "{} values for the {} columns of {}",
                    values.len(),
                    self.columns.len(),
                    self.path.display()
                ),
            });
        }
        let cells: Vec<String> = values
            .iter()
            .map(|v| v.map(|x| x.to_string()).unwrap_or_default())
            .collect();
        let line = format!("{}\n", cells.join(","));
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| TrainError::io("append to", &self.path, e))?;
        self.file
            .flush()
            .map_err(|e| TrainError::io("flush", &self.path, e))
    }
}

fn check_columns(path: &Path, columns: &[&str]) -> Result<Vec<String>, TrainError> {
    if columns.is_empty() {
        return Err(TrainError::Config {
            what: "metrics columns",
            message: format!("no columns for {}", path.display()),
        });
    }
    for c in columns {
        if c.is_empty() || c.contains([',', '\n', '"']) {
            return Err(TrainError::Config {
                what: "metrics columns",
                message: format!("column name {c:?} cannot be written to CSV"),
            });
        }
    }
    Ok(columns.iter().map(|c| c.to_string()).collect())
}

/// A parsed metrics file: column names and rows of optional numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvTable {
    /// The header.
    pub columns: Vec<String>,
    /// One entry per row, one value per column (`None` for an empty cell).
    pub rows: Vec<Vec<Option<f64>>>,
}

impl CsvTable {
    /// Returns the index of a column.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Returns the `(x, y)` pairs of the rows where both columns have a value.
    pub fn pairs(&self, x: &str, y: &str) -> Option<Vec<(f64, f64)>> {
        let (xi, yi) = (self.column_index(x)?, self.column_index(y)?);
        Some(
            self.rows
                .iter()
                .filter_map(|r| Some((r[xi]?, r[yi]?)))
                .collect(),
        )
    }
}

/// Reads a metrics CSV written by [`CsvLog`] (numbers or empty cells only).
pub fn read_csv(path: &Path) -> Result<CsvTable, TrainError> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io("read", path, e))?;
    let mut lines = text.lines();
    let header = lines
        .next()
        .ok_or_else(|| TrainError::bad_file(path, "empty file, no header"))?;
    let columns: Vec<String> = header.split(',').map(str::to_string).collect();
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != columns.len() {
            return Err(TrainError::bad_file(
                path,
                format!(
                    "line {} has {} cells, the header has {}",
                    i + 2,
                    cells.len(),
                    columns.len()
                ),
            ));
        }
        let row = cells
            .iter()
            .zip(&columns)
            .map(|(cell, col)| {
                if cell.is_empty() {
                    Ok(None)
                } else {
                    cell.parse::<f64>().map(Some).map_err(|_| {
                        TrainError::bad_file(
                            path,
                            format!("line {}, column {col:?}: {cell:?} is not a number", i + 2),
                        )
                    })
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        rows.push(row);
    }
    Ok(CsvTable { columns, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("reasoning-train-csv-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn rows_append_under_one_header_and_resume_drops_later_rows() {
        let dir = scratch("resume");
        let path = dir.join("metrics.csv");
        let mut log = CsvLog::create(&path, &["step", "loss", "val_loss"]).unwrap();
        for step in 1..=5 {
            let val = (step % 2 == 0).then_some(0.5);
            log.append(&[Some(step as f64), Some(1.0 / step as f64), val])
                .unwrap();
        }
        drop(log);
        let mut log = CsvLog::resume(&path, &["step", "loss", "val_loss"], 3).unwrap();
        log.append(&[Some(4.0), Some(0.1), None]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "step,loss,val_loss\n1,1,\n2,0.5,0.5\n3,0.3333333333333333,\n4,0.1,\n"
        );
        let table = read_csv(&path).unwrap();
        assert_eq!(table.pairs("step", "val_loss").unwrap(), vec![(2.0, 0.5)]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_row_of_the_wrong_width_is_refused() {
        let dir = scratch("width");
        let mut log = CsvLog::create(&dir.join("m.csv"), &["step", "loss"]).unwrap();
        let err = log.append(&[Some(1.0)]).unwrap_err().to_string();
        assert!(err.contains("1 values for the 2 columns"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn resume_with_a_different_header_names_both() {
        let dir = scratch("header");
        let path = dir.join("m.csv");
        CsvLog::create(&path, &["step", "loss"]).unwrap();
        let err = CsvLog::resume(&path, &["step", "reward"], 1)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"loss\"") && err.contains("\"reward\""),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_malformed_cell_names_its_line_and_column() {
        let dir = scratch("cell");
        let path = dir.join("m.csv");
        std::fs::write(&path, "step,loss\n1,0.5\n2,abc\n").unwrap();
        let err = read_csv(&path).unwrap_err().to_string();
        assert!(err.contains("line 3, column \"loss\""), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
