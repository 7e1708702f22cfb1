//! Where a cell stands, read from its run folder alone (the study keeps no state of its own): the
//! config saved there against the cell's, the checkpoint's progress, the measurements of a finished
//! run, and the record of a failure.

use std::path::{Path, PathBuf};

use super::grid::Cell;
use super::measure::Measures;
use crate::checkpoint::Checkpoint;
use crate::config::Config;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::atomic_write;
use crate::train::state::Progress;
use crate::train::RunDir;

/// The file a failed cell's error is kept in, in its run folder, until the cell succeeds.
pub const FAILURE_FILE: &str = "study-failure.txt";

/// One key whose value differs between the saved config and the cell's.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub key: String,
    /// As TOML writes them; "(absent)" when one side lacks the key.
    pub saved: String,
    pub now: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} in the run folder, {} in the study", self.key, self.saved, self.now)
    }
}

#[derive(Debug, Clone)]
pub enum State {
    /// No run folder, or one without a config: the cell starts from scratch.
    New,
    /// The run folder holds another config: its results are not this cell's.
    Changed(Vec<Difference>),
    /// Started (None: the folder holds the config but no checkpoint yet), not known to be finished.
    Started(Option<Box<Progress>>),
    /// Finished and measured.
    Done(Box<Measures>),
}

/// A cell's state and the failure recorded for it, if any.
#[derive(Debug, Clone)]
pub struct CellStatus {
    pub dir: PathBuf,
    pub state: State,
    pub failure: Option<String>,
}

impl CellStatus {
    pub fn read(dir: &Path, cell: &Cell) -> Result<CellStatus> {
        let failure = match std::fs::read_to_string(dir.join(FAILURE_FILE)) {
            Ok(t) => Some(t.trim().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(dir.join(FAILURE_FILE), e)),
        };
        let state = state(dir, cell)?;
        let failure = if matches!(state, State::Done(_)) { None } else { failure };
        Ok(CellStatus { dir: dir.to_path_buf(), state, failure })
    }

    /// One line for listings: what the study will do or has done with the cell.
    pub fn describe(&self) -> String {
        let mut s = match &self.state {
            State::New => "new".to_string(),
            State::Changed(d) => {
                format!("config changed ({})", d.iter().map(|x| x.key.as_str()).collect::<Vec<_>>().join(", "))
            }
            State::Started(None) => "started (no checkpoint yet)".to_string(),
            State::Started(Some(p)) => {
                format!("started (checkpoint at stage {}, epoch {}, step {})", p.stage, p.epoch, p.step)
            }
            State::Done(m) => format!("done: {:.2}% ({:.0} s)", m.head_acc, m.seconds),
        };
        if let Some(f) = &self.failure {
            s += &format!("; failed last time: {}", f.lines().next().unwrap_or(""));
        }
        s
    }
}

fn state(dir: &Path, cell: &Cell) -> Result<State> {
    let run = RunDir { path: dir.to_path_buf() };
    if !run.config_path().exists() {
        return Ok(State::New);
    }
    let saved = Config::load(&run.config_path())?;
    let diffs = differences(&saved, &cell.config);
    if !diffs.is_empty() {
        return Ok(State::Changed(diffs));
    }
    if !run.checkpoint_path().exists() {
        return Ok(State::Started(None));
    }
    // Measurements exist only for finished runs, so a cell that has them needs no look at its progress.
    if let Some(m) = Measures::read_valid(dir)? {
        return Ok(State::Done(Box::new(m)));
    }
    Ok(State::Started(Some(Box::new(Checkpoint::read(&run.checkpoint_path())?.meta.progress))))
}

/// Keep the error that ended a cell in its run folder (created if the cell failed before it existed).
pub fn record_failure(dir: &Path, message: &str) -> Result<()> {
    std::fs::create_dir_all(dir).at(dir)?;
    atomic_write(&dir.join(FAILURE_FILE), format!("{message}\n").as_bytes())
}

/// The cell succeeded: forget an earlier failure.
pub fn clear_failure(dir: &Path) -> Result<()> {
    match std::fs::remove_file(dir.join(FAILURE_FILE)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(dir.join(FAILURE_FILE), e)),
        _ => Ok(()),
    }
}

/// Every key whose value differs between two configs (dotted paths, array indices), in key order. Both
/// go through TOML, as the run folder's copy did, so only real differences count.
pub fn differences(saved: &Config, now: &Config) -> Vec<Difference> {
    let a = toml::Value::try_from(saved).expect("config serialises");
    let b = toml::Value::try_from(now).expect("config serialises");
    let mut out = Vec::new();
    diff_values("", Some(&a), Some(&b), &mut out);
    out
}

fn diff_values(key: &str, a: Option<&toml::Value>, b: Option<&toml::Value>, out: &mut Vec<Difference>) {
    use toml::Value::{Array, Table};
    let join = |k: &str| if key.is_empty() { k.to_string() } else { format!("{key}.{k}") };
    match (a, b) {
        (Some(Table(x)), Some(Table(y))) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                diff_values(&join(k), x.get(k), y.get(k), out);
            }
        }
        (Some(Array(x)), Some(Array(y))) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff_values(&join(&i.to_string()), Some(p), Some(q), out);
            }
        }
        (x, y) if x != y => {
            let show = |v: Option<&toml::Value>| v.map_or("(absent)".to_string(), |v| v.to_string());
            out.push(Difference { key: key.to_string(), saved: show(x), now: show(y) });
        }
        _ => {}
    }
}
