//! Continuing a run from its folder: the folder locked and cleared of what killed processes left,
//! the config with the `--set` a resume may take, the checkpoint (or why there is none), the data as
//! recorded, the weights, progress and metrics restored (the metrics cut back to the checkpoint, never
//! appended twice), and the report redrawn when it is stale.

use super::plans::training_parts;
use super::rundir::{Records, RunDir};
use super::split::Data;
use super::{Run, TrainOptions};
use crate::checkpoint::Checkpoint;
use crate::config::Config;
use crate::data::DataRecord;
use crate::error::{Error, Result};
use crate::fsutil::{atomic_write, remove_stale_temps, FolderLock};

/// The config keys `--set` may change when resuming: the learning-rate schedule from now on (to
/// continue a diverged run with a lower LR), how often checkpoints are written, and the frozen-prefix
/// caches (which change no result, only speed and memory). Everything else would change what the
/// checkpoint's weights or the recorded metrics mean: the model, the data, the seed, the method.
pub const RESUME_SETTABLE: &[&str] = &[
    "optimizer.lr",
    "optimizer.lr_decay",
    "optimizer.lr_step",
    "checkpoint_minutes",
    "cache.eval",
    "cache.train",
    "cache.limit_mib",
];

/// The saved config of a resumed run with `sets` applied, each of which must be in `RESUME_SETTABLE`.
fn resume_config(saved: &Config, sets: &[String]) -> Result<Config> {
    for s in sets {
        let key = s.split_once('=').map_or(s.as_str(), |(k, _)| k).trim();
        if !RESUME_SETTABLE.contains(&key) {
            return Err(Error::usage(format!(
                "--set {key} cannot change when resuming: it would change what the checkpoint's weights or the recorded metrics mean. With --resume, --set takes {}",
                RESUME_SETTABLE.join(", ")
            )));
        }
    }
    saved.with_overrides(sets)
}

/// What `Run::open` found in the folder of a resumed run.
pub(super) struct Resumed {
    lock: FolderLock,
    ckpt: Option<Checkpoint>,
    /// Whether the config changed (`--set`), to be saved.
    changed: bool,
    /// Lines to print once the run is announced.
    notes: Vec<String>,
}

impl Resumed {
    /// Lock the run folder of `opts.out`, clear what killed processes left, and read its config (with
    /// `opts.resume_sets`) and checkpoint.
    pub(super) fn open(opts: &TrainOptions) -> Result<(Config, RunDir, Resumed)> {
        let dir = RunDir::existing(&opts.out)?;
        let lock = dir.lock()?;
        let mut notes: Vec<String> = remove_stale_temps(&dir.path)?
            .iter()
            .map(|f| format!("removed {}, left by a process killed while writing it", f.display()))
            .collect();
        let saved = Config::load(&dir.config_path())?;
        let cfg = resume_config(&saved, &opts.resume_sets)?;
        let changed = cfg != saved;
        if changed {
            notes.push(format!(
                "resuming with --set {} (saved in {})",
                opts.resume_sets.join(" --set "),
                dir.config_path().display()
            ));
        }
        let ckpt = match Checkpoint::read(&dir.checkpoint_path()) {
            Ok(c) => Some(c),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        if ckpt.is_none() {
            if dir.has_records() {
                return Err(Error::usage(format!(
                    "{} holds training records (metrics.jsonl, summary.json) but no checkpoint.safetensors: it was deleted or lost, and there is nothing to resume from. To train this config again, start a new run: layerwise train --config {} --out NEW_FOLDER",
                    dir.path.display(),
                    dir.config_path().display()
                )));
            }
            notes.push("no checkpoint was written yet: training starts from the beginning".into());
        }
        Ok((cfg, dir, Resumed { lock, ckpt, changed, notes }))
    }

    /// Refuse a checkpoint whose progress a run of `cfg` with `steps` steps per epoch never reaches.
    pub(super) fn check_progress(&self, dir: &RunDir, cfg: &Config, steps: usize) -> Result<()> {
        match &self.ckpt {
            Some(c) => c.meta.check_progress(&dir.checkpoint_path(), cfg, steps),
            None => Ok(()),
        }
    }

    /// Once the run is checked: save the config if `--set` changed it and the data record if it
    /// changed (a new place, forced data, or a run from before records), and hand over the lock,
    /// the checkpoint and what to print.
    pub(super) fn finish(
        self,
        dir: &RunDir,
        cfg: &Config,
        data: &Data,
        recorded: Option<&DataRecord>,
    ) -> Result<(FolderLock, Option<Checkpoint>, Vec<String>)> {
        if self.changed {
            atomic_write(&dir.config_path(), cfg.to_toml().as_bytes())?;
        }
        if recorded != Some(&data.record) {
            dir.write_data_record(&data.record)?;
        }
        Ok((self.lock, self.ckpt, self.notes))
    }
}

impl Run {
    /// Continue from `ckpt`: its weights into the model, its progress, and the metrics files cut back
    /// to the records it counts (never appended twice). Metrics that cannot be read do not block a valid
    /// checkpoint: the run goes on without them. Returns what was lost, to warn about.
    pub(super) fn restore(&mut self, ckpt: &Checkpoint) -> Result<Vec<String>> {
        // The blocks training at the checkpoint hold momentum to restore; the others hold none.
        let (stages, heads) = training_parts(self.cfg.method, ckpt.meta.progress.stage, self.model.stages.len());
        self.model.train_only(&self.gpu, stages, heads)?;
        ckpt.restore(&self.dir.checkpoint_path(), &self.gpu, &self.model)?;
        let mut lost = Vec::new();
        let mut progress = ckpt.meta.progress.clone();
        let Records { mut records, lost: unreadable } = self.dir.read_records()?;
        let counted = progress.records;
        if records.len() < counted {
            let why = unreadable.map_or(String::new(), |l| format!(" ({l})"));
            lost.push(format!(
                "{} of the {counted} epoch records the checkpoint counts are lost{why}; training continues from the checkpoint, and the report's curves lack them",
                counted - records.len()
            ));
            progress.records = records.len();
        }
        records.truncate(progress.records);
        self.dir.rewrite_records(&records)?;
        self.summaries = match self.dir.read_summaries() {
            Ok(s) => s,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                lost.push(format!("{e}: the stage summaries are lost; each is written again when its stage ends"));
                Vec::new()
            }
        };
        self.elapsed_before = progress.elapsed;
        self.saved = Some(progress.clone());
        self.progress = progress;
        self.records = records;
        Ok(lost)
    }

    /// Redraw the report when the one in the folder does not show every finished stage (a run killed
    /// while drawing it, or before it): written at a stage's end, it would otherwise stay stale.
    pub(super) fn redraw_stale_report(&mut self) -> Result<()> {
        if !self.report || self.progress.stage == 0 {
            return Ok(());
        }
        let shown = (self.progress.stage - 1).min(self.model.stages.len() - 1) + 1;
        if crate::viz::report_stages(&self.dir.path) == Some(shown) {
            return Ok(());
        }
        self.display.line(
            "the report does not show every finished stage (the run stopped before or while drawing it): drawing it",
        );
        self.write_report()
    }
}
