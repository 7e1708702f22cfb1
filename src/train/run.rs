//! One training run while it runs: opening it (new or resumed: its folder locked, its data and
//! progress checked, the device's limits checked before a new folder exists), and what every method
//! does with it: evaluate, record an epoch, write a checkpoint, summarise a stage, draw the report, and
//! stop on divergence leaving a folder that resumes.

use std::time::Instant;

use super::display::Display;
use super::feed::Feed;
use super::fits::{check_fits, too_large};
use super::plans::{EvalStep, StepIo};
use super::prefix_cache::{self, PrefixCaches};
use super::rundir::{Records, RunDir};
use super::split::{load_data, load_run_data, same_data, Data, Purpose};
use super::state::Progress;
use super::{dgl, report, TrainOptions};
use crate::checkpoint::{self, Checkpoint, CheckpointMeta};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::fsutil::{remove_stale_temps, FolderLock};
use crate::gpu::{Gpu, GpuOptions, Readback};
use crate::metrics::{EpochRecord, StageSummary};
use crate::model::{Model, ModelSpec, Shape};

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

/// Everything one training run holds while it runs.
pub struct Run {
    pub cfg: Config,
    pub gpu: Gpu,
    pub model: Model,
    pub data: Data,
    pub dir: RunDir,
    pub progress: Progress,
    pub records: Vec<EpochRecord>,
    pub summaries: Vec<StageSummary>,
    /// How devices are opened (DGL opens one per entry of `dgl.devices`).
    pub(super) gpu_options: GpuOptions,
    pub(super) io: StepIo,
    pub(super) train_feed: Feed,
    pub(super) eval_feed: Feed,
    pub(super) readback: Readback,
    pub(super) display: Display,
    started: Instant,
    elapsed_before: f64,
    pub(super) last_checkpoint: Instant,
    /// The progress of the last checkpoint on disk (None: none yet).
    saved: Option<Progress>,
    report: bool,
    /// The run folder's lock, held as long as the run.
    _lock: FolderLock,
}

/// The model a config builds for a dataset's images, on a device opened with `gpu`, freshly initialised.
pub(super) fn open_model(cfg: &Config, data: &Data, gpu: &GpuOptions) -> Result<(Gpu, Model)> {
    let input = Shape::Map { h: data.train.height, w: data.train.width, c: data.train.channels };
    let spec = ModelSpec::new(cfg, input, data.train.classes.len())?;
    let gpu = Gpu::new(gpu)?;
    let model = Model::new(&gpu, spec, cfg.seed).map_err(|e| match e {
        // Parameters do not depend on the batch size.
        Error::OutOfMemory { what, needed_mib, limit, .. } => {
            Error::OutOfMemory { what, needed_mib, limit, hint: too_large().into() }
        }
        e => e,
    })?;
    Ok((gpu, model))
}

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
struct Resumed {
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
    fn open(opts: &TrainOptions) -> Result<(Config, RunDir, Resumed)> {
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
}

impl Run {
    /// A new run in `opts.out`, or the one there continued from its checkpoint (`opts.resume`). A new
    /// run's folder is created only once its data, model and steps have been checked: a refused run
    /// leaves nothing behind.
    pub(super) fn open(cfg: Config, opts: &TrainOptions) -> Result<Run> {
        let (cfg, dir, resumed) = match opts.resume {
            true => {
                let (cfg, dir, r) = Resumed::open(opts)?;
                (cfg, dir, Some(r))
            }
            false => {
                RunDir::check_free(&opts.out)?;
                (cfg, RunDir { path: opts.out.clone() }, None)
            }
        };
        let recorded = match &resumed {
            Some(_) => dir.read_data_record()?,
            None => None,
        };
        let notes = resumed.as_ref().map_or(Vec::new(), |r| r.notes.clone());
        let mut warnings = Vec::new();
        let data = match &recorded {
            Some(r) => {
                let data = load_run_data(&cfg, opts.data_dir.as_deref(), Some(r), Purpose::Train)?;
                warnings.extend(same_data(r, &data.record, opts.force_data)?);
                data
            }
            None => load_data(&cfg, opts.data_dir.as_deref())?,
        };
        let (gpu, model) = open_model(&cfg, &data, &dgl::home_options(&cfg, &opts.gpu)?)?;
        prefix_cache::check_train_cache(&cfg, &model, data.train.len())?;
        let ckpt = resumed.as_ref().and_then(|r| r.ckpt.as_ref());
        if let Some(c) = ckpt {
            c.meta.check_progress(&dir.checkpoint_path(), &cfg, data.train.len() / cfg.batch_size)?;
        }
        let sample = data.train.height * data.train.width * data.train.channels;
        check_fits(&gpu, &cfg, &model, sample)?;
        let (lock, ckpt) = match resumed {
            Some(r) => {
                if r.changed {
                    crate::fsutil::atomic_write(&dir.config_path(), cfg.to_toml().as_bytes())?;
                }
                if recorded.as_ref() != Some(&data.record) {
                    dir.write_data_record(&data.record)?;
                }
                (r.lock, r.ckpt)
            }
            None => (RunDir::create(&opts.out, &cfg, &data.record)?.1, None),
        };
        let mut run = Run {
            io: StepIo::new(&gpu)?,
            readback: Readback::new(&gpu, 64),
            train_feed: Feed::new(&gpu, cfg.batch_size, sample)?,
            eval_feed: Feed::new(&gpu, cfg.batch_size, sample)?,
            display: Display::new(opts.quiet),
            started: Instant::now(),
            elapsed_before: 0.0,
            last_checkpoint: Instant::now(),
            saved: None,
            gpu_options: opts.gpu.clone(),
            report: opts.report,
            progress: Progress::start(cfg.method),
            cfg,
            gpu,
            model,
            data,
            dir,
            records: Vec::new(),
            summaries: Vec::new(),
            _lock: lock,
        };
        if let Some(c) = &ckpt {
            warnings.extend(run.restore(c)?);
        }
        run.announce(opts.resume);
        for n in &notes {
            run.display.line(n);
        }
        for w in &warnings {
            run.display.warn(w);
        }
        run.redraw_stale_report()?;
        Ok(run)
    }

    /// The first line a run prints names the data it loaded.
    fn announce(&self, resumed: bool) {
        let (cfg, data, gpu) = (&self.cfg, &self.data, &self.gpu);
        self.display.line(&format!(
            "{} on {} ({}): {} from {}, {} training images, validation on the {} ({}), {} stage(s)",
            cfg.name,
            gpu.summary.name,
            gpu.summary.backend,
            data.record.kind,
            data.record.path.display(),
            data.train.len(),
            data.val_name,
            data.val.len(),
            self.model.stages.len()
        ));
        if resumed && self.saved.is_some() {
            let p = &self.progress;
            self.display.line(&format!(
                "resuming {} at stage {}, epoch {}, step {}",
                self.dir.path.display(),
                p.stage,
                p.epoch,
                p.step
            ));
        }
    }

    pub(super) fn elapsed(&self) -> f64 {
        self.elapsed_before + self.started.elapsed().as_secs_f64()
    }

    /// Accuracy (%) of every evaluated head and of their ensemble on the validation split.
    pub(super) fn evaluate(&mut self, eval: &EvalStep) -> Result<(Vec<f64>, f64)> {
        eval.run(&self.gpu, &mut self.eval_feed, &self.readback, &self.data.val)
    }

    /// Accuracy (%) of heads 0..=j and their ensemble, for greedy stage `j`'s evaluation step; a
    /// cached step evaluates head j only and the frozen heads' accuracies come from its cache.
    pub(super) fn evaluate_stage(&mut self, eval: &EvalStep, caches: &PrefixCaches) -> Result<(Vec<f64>, f64)> {
        let (acc, ensemble) = self.evaluate(eval)?;
        match &caches.eval {
            Some(c) => Ok((c.frozen_acc.iter().copied().chain(acc).collect(), ensemble)),
            None => Ok((acc, ensemble)),
        }
    }

    /// Write report.html and its images for the stages trained so far.
    pub(super) fn write_report(&mut self) -> Result<()> {
        if !self.report || self.progress.stage == 0 {
            return Ok(());
        }
        let upto = (self.progress.stage - 1).min(self.model.stages.len() - 1);
        let (cfg, val) = (&self.cfg, &self.data.val);
        let input = report::report_input(&self.gpu, cfg, &self.model, val, upto, &self.records, &self.summaries)?;
        let files = report::write(&self.dir.path, &input)?;
        if let Some(html) = files.last() {
            self.display.line(&format!("report: {}", html.display()));
        }
        Ok(())
    }

    /// Redraw the report when the one in the folder does not show every finished stage (a run killed
    /// while drawing it, or before it): written at a stage's end, it would otherwise stay stale.
    fn redraw_stale_report(&mut self) -> Result<()> {
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

    /// Print, append to the metrics files and keep one epoch's record.
    pub(super) fn record(&mut self, r: EpochRecord) -> Result<()> {
        self.display.line(&format!(
            "{} stage {} epoch {}/{}: lr {:.4} loss {:.4} train {:.2}% | val head {:.2}% ensemble {:.2}% | {:.0} img/s, {:.1}s",
            r.method,
            r.stage,
            r.epoch,
            self.cfg.epochs,
            r.lr,
            r.train_loss,
            r.train_acc,
            r.head_acc(),
            r.ensemble_acc,
            r.img_per_s,
            r.seconds
        ));
        self.dir.append_record(&r)?;
        self.records.push(r);
        self.progress.records = self.records.len();
        Ok(())
    }

    /// Save the model on the run's device and the progress, atomically. Weights that are not all finite
    /// are never saved: the run stops as diverged, the previous checkpoint kept.
    pub(super) fn checkpoint(&mut self) -> Result<()> {
        self.progress.elapsed = self.elapsed();
        let meta = CheckpointMeta {
            format: checkpoint::FORMAT,
            config_name: self.cfg.name.clone(),
            adapter: self.gpu.summary.name.clone(),
            progress: self.progress.clone(),
        };
        match checkpoint::save(&self.dir.checkpoint_path(), &self.gpu, &self.model, &meta) {
            Ok(()) => {
                self.saved = Some(self.progress.clone());
                self.last_checkpoint = Instant::now();
                Ok(())
            }
            Err(Error::NonFinite(what)) => Err(self.diverged(&format!(
                "the weights became NaN or infinite ({what}) with a finite loss: the learning rate is too high"
            ))),
            Err(e) => {
                // A failed write (a full disk, say) leaves the previous checkpoint: the metrics follow it
                // back if they can (else the resume cuts them).
                let _ = self.cut_metrics_to_saved();
                Err(e)
            }
        }
    }

    /// Cut the metrics files back to the records the last checkpoint on disk counts.
    fn cut_metrics_to_saved(&self) -> Result<()> {
        let kept = self.saved.as_ref().map_or(0, |p| p.records).min(self.records.len());
        self.dir.rewrite_records(&self.records[..kept])
    }

    /// The error that stops a diverged run (`what` happened), after cutting the metrics back to the
    /// last checkpoint, so that the command it advises (resume with a tenth of the learning rate)
    /// continues from there.
    pub(super) fn diverged(&self, what: &str) -> Error {
        let cut = match self.cut_metrics_to_saved() {
            Ok(()) => String::new(),
            Err(e) => format!(" (the metrics could not be cut back to it: {e})"),
        };
        let lr = (self.cfg.optimizer.lr / 10.0) as f32;
        let cmd = format!("layerwise train --resume {} --set optimizer.lr={lr}", self.dir.path.display());
        let next = match &self.saved {
            Some(p) => format!(
                "The last checkpoint (stage {}, epoch {}, step {}) holds the finite weights from before that, with the metrics up to it{cut}. Continue from it with a lower learning rate:\n  {cmd}",
                p.stage, p.epoch, p.step
            ),
            None => format!("No checkpoint had been written yet{cut}. Start the run again with a lower learning rate:\n  {cmd}"),
        };
        Error::NonFinite(format!("{what}. {next}"))
    }

    /// Write stage `j`'s summary (replacing an earlier one of the same stage).
    pub(super) fn summarise_stage(
        &mut self,
        j: usize,
        seconds: f64,
        img_s: f64,
        head_acc: f64,
        ensemble_acc: f64,
    ) -> Result<()> {
        let (_, peak) = self.gpu.memory();
        let (stage, head) = (&self.model.spec.stages[j], &self.model.spec.heads[j]);
        let s = StageSummary {
            stage: j,
            description: stage.describe(),
            stage_params: stage.param_count(),
            head_params: head.param_count(),
            stage_flops: stage.flops(),
            head_flops: head.flops(),
            head_acc,
            ensemble_acc,
            seconds,
            img_per_s: img_s,
            peak_mib: peak as f64 / (1u64 << 20) as f64,
        };
        self.summaries.retain(|x| x.stage != j);
        self.summaries.push(s);
        self.dir.write_summaries(&self.summaries)
    }

    /// The epochs stage `j` recorded: the last one's (head accuracy, ensemble accuracy, img/s) and the
    /// seconds of all of them (what a stage resumed after its last epoch reports).
    pub(super) fn recorded(&self, j: usize) -> (Option<&EpochRecord>, f64) {
        let seconds = self.records.iter().filter(|r| r.stage == j).map(|r| r.seconds).sum::<f64>();
        (self.records.iter().rev().find(|r| r.stage == j), seconds)
    }
}

impl Run {
    /// Continue from `ckpt`: its weights into the model, its progress, and the metrics files cut back
    /// to the records it counts (never appended twice). Metrics that cannot be read do not block a valid
    /// checkpoint: the run goes on without them. Returns what was lost, to warn about.
    fn restore(&mut self, ckpt: &Checkpoint) -> Result<Vec<String>> {
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
}
