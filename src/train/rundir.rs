//! The run folder: resolved config, metrics (JSON lines and CSV), stage summaries, checkpoint, report.
//! Creating a run never touches an existing one; every rewrite is atomic.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::atomic_write;
use crate::metrics::{EpochRecord, StageSummary};

pub struct RunDir {
    pub path: PathBuf,
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

    /// Start a new run in `path`, refusing a folder that already holds one.
    pub fn create(path: &Path, cfg: &Config) -> Result<RunDir> {
        RunDir::check_free(path)?;
        let dir = RunDir { path: path.to_path_buf() };
        std::fs::create_dir_all(path).at(path)?;
        atomic_write(&dir.config_path(), cfg.to_toml().as_bytes())?;
        atomic_write(&dir.csv_path(), format!("{}\n", EpochRecord::CSV_HEADER).as_bytes())?;
        atomic_write(&dir.metrics_path(), b"")?;
        Ok(dir)
    }

    /// Open a run folder to resume or inspect it.
    pub fn existing(path: &Path) -> Result<RunDir> {
        let dir = RunDir { path: path.to_path_buf() };
        if !dir.config_path().exists() {
            return Err(Error::usage(format!("{} is not a run folder (no config.toml)", path.display())));
        }
        Ok(dir)
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

    /// Every complete record (a line cut short by a kill is ignored).
    pub fn read_records(&self) -> Result<Vec<EpochRecord>> {
        let path = self.metrics_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(line) {
                Ok(r) => out.push(r),
                Err(_) if i + 1 == text.lines().count() && !text.ends_with('\n') => break,
                Err(e) => return Err(Error::data(&path, format!("line {}: {e}", i + 1))),
            }
        }
        Ok(out)
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
