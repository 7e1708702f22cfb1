//! One training run while it runs: opening it (new or resumed: its folder locked, its data and
//! progress checked, the device's limits checked before a new folder exists), and what every method
//! does with it: evaluate, record an epoch, write a checkpoint, summarise a stage, draw the report, and
//! stop on divergence leaving a folder that resumes.

use std::time::Instant;

use super::best::BestSnapshot;
use super::display::Display;
use super::feed::Feed;
use super::fits::{check_fits, too_large};
use super::plans::{EvalStep, StepIo};
use super::prefix_cache::{self, PrefixCaches};
use super::resume::Resumed;
use super::rundir::RunDir;
use super::split::{load_data, load_run_data, same_data, Data, Purpose};
use super::state::Progress;
use super::{dgl, memory, parallel, report, TrainOptions};
use crate::checkpoint::{self, CheckpointMeta};
use crate::config::Config;
use crate::data::DataRecord;
use crate::error::{Error, Result};
use crate::fsutil::FolderLock;
use crate::gpu::{Gpu, GpuOptions, Readback};
use crate::metrics::{Accuracy, EpochRecord, StageSummary};
use crate::model::{Model, ModelSpec, Shape};

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
    pub(super) elapsed_before: f64,
    pub(super) last_checkpoint: Instant,
    /// The progress of the last checkpoint on disk (None: none yet).
    pub(super) saved: Option<Progress>,
    pub(super) report: bool,
    /// The run folder's lock, held as long as the run.
    _lock: FolderLock,
    /// Greedy with `keep_best`: the current stage's best epoch so far (saved with every checkpoint).
    pub(super) best: Option<BestSnapshot>,
}

/// How a stage's training ended, as its summary reports it.
#[derive(Debug, Clone, Copy)]
pub(super) struct StageOutcome {
    /// Training seconds, images per second and the final (or kept) accuracies of its head and ensemble.
    pub seconds: f64,
    pub img_per_s: f64,
    pub head_acc: f64,
    pub ensemble_acc: f64,
    /// Their top-5 accuracies (more than 5 classes).
    pub head_top5: Option<f64>,
    pub ensemble_top5: Option<f64>,
    /// The epoch the stage was frozen at (`keep_best`).
    pub best_epoch: Option<usize>,
    /// dgl-async: mean age, in ticks, of the buffered batches the stage read.
    pub batch_age: Option<f64>,
}

impl StageOutcome {
    /// The outcome `record` (the stage's last or kept epoch, if any) reports, after `seconds` of training.
    pub fn of(record: Option<&EpochRecord>, seconds: f64) -> StageOutcome {
        let (head_acc, ensemble_acc, img_per_s) =
            record.map_or((f64::NAN, f64::NAN, 0.0), |r| (r.head_acc(), r.ensemble_acc, r.img_per_s));
        let (head_top5, ensemble_top5) = record.map_or((None, None), |r| (r.head_top5(), r.ensemble_top5));
        StageOutcome {
            seconds,
            img_per_s,
            head_acc,
            ensemble_acc,
            head_top5,
            ensemble_top5,
            best_epoch: None,
            batch_age: None,
        }
    }
}

/// The model a config builds for a dataset's images, on a device opened with `gpu`, freshly initialised.
/// For training (`train`), the memory its stages will need is checked first.
pub(super) fn open_model(cfg: &Config, data: &Data, gpu: &GpuOptions, train: bool) -> Result<(Gpu, Model)> {
    let (h, w, c) = data.train.image_shape();
    let spec = ModelSpec::new(cfg, Shape::Map { h, w, c }, data.train.classes().len())?;
    let gpu = Gpu::new(gpu)?;
    // Before anything is allocated: a stage that cannot fit is refused with a grad_accum that fits.
    if train {
        memory::check_memory(&gpu, cfg, &spec)?;
    }
    let model = Model::new(&gpu, spec, cfg.seed).map_err(|e| match e {
        // Parameters do not depend on the batch size.
        Error::OutOfMemory { what, needed_mib, limit, .. } => {
            Error::OutOfMemory { what, needed_mib, limit, hint: too_large().into() }
        }
        e => e,
    })?;
    Ok((gpu, model))
}

/// The data of a run: for a resumed run that recorded its data, the same data (or, with
/// `--force-data`, a warning); otherwise the data the config and `--data` say.
fn run_data(cfg: &Config, opts: &TrainOptions, recorded: Option<&DataRecord>) -> Result<(Data, Vec<String>)> {
    match recorded {
        Some(r) => {
            let data = load_run_data(cfg, opts.data_dir.as_deref(), Some(r), Purpose::Train)?;
            let warning = same_data(r, &data.record, opts.force_data)?;
            Ok((data, warning.into_iter().collect()))
        }
        None => Ok((load_data(cfg, opts.data_dir.as_deref())?, Vec::new())),
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
        let (data, mut warnings) = run_data(&cfg, opts, recorded.as_ref())?;
        let (gpu, mut model) = open_model(&cfg, &data, &dgl::home_options(&cfg, &opts.gpu)?, true)?;
        parallel::check_devices(&cfg, &opts.gpu, &model.spec)?;
        prefix_cache::check_train_cache(&cfg, &model, data.train.len())?;
        if let Some(r) = &resumed {
            r.check_progress(&dir, &cfg, data.train.len() / cfg.batch_size)?;
        }
        let sample = data.train.image_len();
        check_fits(&gpu, &cfg, &mut model, sample)?;
        let (lock, ckpt, notes) = match resumed {
            Some(r) => r.finish(&dir, &cfg, &data, recorded.as_ref())?,
            None => (RunDir::create(&opts.out, &cfg, &data.record)?.1, None, Vec::new()),
        };
        let mut run = Run {
            io: StepIo::new(&gpu)?,
            readback: Readback::new(&gpu, 64),
            train_feed: Feed::new(&gpu, cfg.device_batch(), sample)?,
            eval_feed: Feed::new(&gpu, cfg.micro_batch(), sample)?,
            display: Display::new(opts.quiet),
            started: Instant::now(),
            elapsed_before: 0.0,
            last_checkpoint: Instant::now(),
            saved: None,
            gpu_options: opts.gpu.clone(),
            report: opts.report,
            progress: Progress::start(cfg.method),
            best: None,
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
    pub(super) fn evaluate(&mut self, eval: &EvalStep) -> Result<Accuracy> {
        eval.run(&self.gpu, &mut self.eval_feed, &self.readback, &self.data.val)
    }

    /// Accuracy (%) of heads 0..=j and their ensemble, for greedy stage `j`'s evaluation step; a
    /// cached step evaluates head j only and the frozen heads' accuracies come from its cache.
    pub(super) fn evaluate_stage(&mut self, eval: &EvalStep, caches: &PrefixCaches) -> Result<Accuracy> {
        let acc = self.evaluate(eval)?;
        match &caches.eval {
            Some(c) => Ok(acc.after(&c.frozen_acc)),
            None => Ok(acc),
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

    /// Print, append to the metrics files and keep one epoch's record.
    pub(super) fn record(&mut self, r: EpochRecord) -> Result<()> {
        // dgl-async counts epochs of the data, and each stage its own.
        let epoch = match (r.stage_epochs, r.batch_age) {
            (Some(own), Some(age)) => {
                format!("{} (its own {own}/{}, batches {age:.1} ticks old)", r.epoch, self.cfg.epochs)
            }
            (Some(own), None) => format!("{} (its own {own}/{})", r.epoch, self.cfg.epochs),
            _ => format!("{}/{}", r.epoch, self.cfg.epochs),
        };
        self.display.line(&format!(
            "{} stage {} epoch {epoch}: lr {:.4} loss {:.4} train {:.2}% | val head {:.2}%{} ensemble {:.2}%{} | {:.0} img/s, {:.1}s",
            r.method,
            r.stage,
            r.lr,
            r.train_loss,
            r.train_acc,
            r.head_acc(),
            Accuracy::top5_note(r.head_top5()),
            r.ensemble_acc,
            Accuracy::top5_note(r.ensemble_top5),
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
        let extra = match &self.best {
            Some(b) => b.tensors(&self.gpu, &self.model)?,
            None => Vec::new(),
        };
        match checkpoint::save(&self.dir.checkpoint_path(), &self.gpu, &self.model, extra, &meta) {
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
    pub(super) fn summarise_stage(&mut self, j: usize, o: &StageOutcome) -> Result<()> {
        let (_, peak) = self.gpu.memory();
        let (stage, head) = (&self.model.spec.stages[j], &self.model.spec.heads[j]);
        let s = StageSummary {
            stage: j,
            description: stage.describe(),
            stage_params: stage.param_count(),
            head_params: head.param_count(),
            stage_flops: stage.flops(),
            head_flops: head.flops(),
            head_acc: o.head_acc,
            ensemble_acc: o.ensemble_acc,
            head_top5: o.head_top5,
            ensemble_top5: o.ensemble_top5,
            seconds: o.seconds,
            img_per_s: o.img_per_s,
            peak_mib: peak as f64 / (1u64 << 20) as f64,
            best_epoch: o.best_epoch,
            batch_age: o.batch_age,
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
