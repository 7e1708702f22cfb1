//! The run folder: resolved config, data record, metrics (JSON lines and CSV), stage summaries,
//! checkpoint, report, and the lock of the process that writes it. Creating a run never touches an
//! existing one; every rewrite is atomic; one process at a time writes a folder.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::data::DataRecord;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{atomic_write, FolderLock};
use crate::metrics::{EpochRecord, StageSummary};

pub struct RunDir {
    pub path: PathBuf,
}

/// The lock file in a run folder (it holds the PID of the process that writes the run).
const LOCK_FILE: &str = ".lock";

/// The readable records of a metrics file, and what could not be read.
pub struct Records {
    pub records: Vec<EpochRecord>,
    /// Why records were lost (the file is missing, or a line from which on nothing could be read).
    pub lost: Option<String>,
}

impl RunDir {
    /// Refuse a folder that already holds a run.
    pub fn check_free(path: &Path) -> Result<()> {
        let dir = RunDir { path: path.to_path_buf() };
        if dir.config_path().exists() || dir.checkpoint_path().exists() || dir.metrics_path().exists() {
            return Err(Error::usage(format!(
                "{} already holds a run; continue it with `layerwise train --resume {}` or choose another --out",
                path.display(),
                path.display()
            )));
        }
        Ok(())
    }

    /// Start a new run in `path` (created if needed) and lock it, refusing a folder that holds a run or
    /// that another process holds. Two processes creating the same run race only for the lock, and the
    /// loser finds either the winner's lock or its run.
    pub fn create(path: &Path, cfg: &Config, data: &DataRecord) -> Result<(RunDir, FolderLock)> {
        std::fs::create_dir_all(path).at(path)?;
        let lock = FolderLock::take(path, LOCK_FILE)?;
        RunDir::check_free(path)?;
        let dir = RunDir { path: path.to_path_buf() };
        atomic_write(&dir.config_path(), cfg.to_toml().as_bytes())?;
        dir.write_data_record(data)?;
        atomic_write(&dir.csv_path(), format!("{}\n", EpochRecord::CSV_HEADER).as_bytes())?;
        atomic_write(&dir.metrics_path(), b"")?;
        Ok((dir, lock))
    }

    /// Open a run folder to resume or inspect it.
    pub fn existing(path: &Path) -> Result<RunDir> {
        let dir = RunDir { path: path.to_path_buf() };
        if !dir.config_path().exists() {
            return Err(Error::usage(format!("{} is not a run folder (no config.toml)", path.display())));
        }
        Ok(dir)
    }

    /// Take the folder's lock for as long as the returned value lives, or say which process holds it.
    pub fn lock(&self) -> Result<FolderLock> {
        FolderLock::take(&self.path, LOCK_FILE)
    }

    pub fn config_path(&self) -> PathBuf {
        self.path.join("config.toml")
    }
    pub fn checkpoint_path(&self) -> PathBuf {
        self.path.join("checkpoint.safetensors")
    }
    pub fn metrics_path(&self) -> PathBuf {
        self.path.join("metrics.jsonl")
    }
    pub fn csv_path(&self) -> PathBuf {
        self.path.join("metrics.csv")
    }
    pub fn summary_path(&self) -> PathBuf {
        self.path.join("summary.json")
    }
    pub fn data_path(&self) -> PathBuf {
        self.path.join("data.json")
    }

    pub fn write_data_record(&self, data: &DataRecord) -> Result<()> {
        let text = serde_json::to_string_pretty(data).expect("data record serialises");
        atomic_write(&self.data_path(), format!("{text}\n").as_bytes())
    }

    /// The data the run was started on (None for a run from before data records, or a lost record).
    pub fn read_data_record(&self) -> Result<Option<DataRecord>> {
        let path = self.data_path();
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| Error::data(&path, e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Append one record to both metrics files, flushed to disk.
    pub fn append_record(&self, r: &EpochRecord) -> Result<()> {
        let line = serde_json::to_string(r).expect("record serialises");
        for (path, text) in [(self.metrics_path(), line), (self.csv_path(), r.csv_row())] {
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path).at(&path)?;
            f.write_all(format!("{text}\n").as_bytes()).at(&path)?;
            f.sync_data().at(&path)?;
        }
        Ok(())
    }

    /// Every record up to the first line that cannot be read, and what was lost: nothing when the
    /// file is whole or only its last line was cut short by a kill (that record is rewritten).
    pub fn read_records(&self) -> Result<Records> {
        let path = self.metrics_path();
        let text = match std::fs::read(&path) {
            Ok(t) => String::from_utf8_lossy(&t).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Records { records: Vec::new(), lost: Some(format!("{} is missing", path.display())) })
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        let mut records = Vec::new();
        let lines = text.lines().count();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(line) {
                Ok(r) => records.push(r),
                Err(_) if i + 1 == lines && !text.ends_with('\n') => break,
                Err(e) => {
                    let lost = format!(
                        "{} line {} cannot be read ({e}); it and the lines after it are lost",
                        path.display(),
                        i + 1
                    );
                    return Ok(Records { records, lost: Some(lost) });
                }
            }
        }
        Ok(Records { records, lost: None })
    }

    /// Whether the folder holds any record of training (metrics or summaries): a folder that does
    /// cannot be resumed without its checkpoint.
    pub fn has_records(&self) -> bool {
        let non_empty = |p: PathBuf| std::fs::metadata(p).is_ok_and(|m| m.len() > 0);
        non_empty(self.metrics_path()) || non_empty(self.summary_path())
    }

    /// Replace both metrics files with exactly `records`.
    pub fn rewrite_records(&self, records: &[EpochRecord]) -> Result<()> {
        let mut jsonl = String::new();
        let mut csv = format!("{}\n", EpochRecord::CSV_HEADER);
        for r in records {
            jsonl.push_str(&serde_json::to_string(r).expect("record serialises"));
            jsonl.push('\n');
            csv.push_str(&r.csv_row());
            csv.push('\n');
        }
        atomic_write(&self.metrics_path(), jsonl.as_bytes())?;
        atomic_write(&self.csv_path(), csv.as_bytes())
    }

    pub fn write_summaries(&self, s: &[StageSummary]) -> Result<()> {
        let mut s = s.to_vec();
        s.sort_by_key(|x| x.stage);
        atomic_write(&self.summary_path(), serde_json::to_string_pretty(&s).expect("summary serialises").as_bytes())
    }

    pub fn read_summaries(&self) -> Result<Vec<StageSummary>> {
        let path = self.summary_path();
        let text = std::fs::read_to_string(&path).at(&path)?;
        serde_json::from_str(&text).map_err(|e| Error::data(&path, e.to_string()))
    }
}
