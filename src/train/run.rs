//! One training run while it runs: opening it (new or resumed), and what every method does with it:
//! evaluate, record an epoch, write a checkpoint, summarise a stage, draw the report.

use std::time::Instant;

use super::best::BestSnapshot;
use super::display::Display;
use super::feed::Feed;
use super::plans::{EvalStep, StepIo};
use super::prefix_cache::{self, PrefixCaches};
use super::rundir::RunDir;
use super::split::{load_data, Data};
use super::state::Progress;
use super::{dgl, report, TrainOptions};
use crate::checkpoint::{self, Checkpoint, CheckpointMeta};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuOptions, Readback};
use crate::metrics::{EpochRecord, StageSummary};
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
    elapsed_before: f64,
    pub(super) last_checkpoint: Instant,
    report: bool,
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
        StageOutcome { seconds, img_per_s, head_acc, ensemble_acc, best_epoch: None, batch_age: None }
    }
}

/// The model a config builds for a dataset's images, on a device opened with `gpu`, freshly initialised.
pub(super) fn open_model(cfg: &Config, data: &Data, gpu: &GpuOptions) -> Result<(Gpu, Model)> {
    let input = Shape::Map { h: data.train.height, w: data.train.width, c: data.train.channels };
    let spec = ModelSpec::new(cfg, input, data.train.classes.len())?;
    let gpu = Gpu::new(gpu)?;
    let model = Model::new(&gpu, spec, cfg.seed)?;
    Ok((gpu, model))
}

impl Run {
    /// A new run in `opts.out`, or the one there continued from its checkpoint (`opts.resume`).
    pub(super) fn open(cfg: Config, opts: &TrainOptions) -> Result<Run> {
        let (cfg, dir, ckpt) = if opts.resume {
            let dir = RunDir::existing(&opts.out)?;
            let cfg = Config::load(&dir.config_path())?;
            let ckpt = match Checkpoint::read(&dir.checkpoint_path()) {
                Ok(c) => Some(c),
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            };
            (cfg, dir, ckpt)
        } else {
            // Refuse an occupied folder before the (slow) data loading, but create it only once the
            // data, the model and the device have been checked: a refused run leaves nothing behind.
            RunDir::check_free(&opts.out)?;
            (cfg, RunDir { path: opts.out.clone() }, None)
        };
        let data = load_data(&cfg, opts.data_dir.as_deref())?;
        let (gpu, model) = open_model(&cfg, &data, &dgl::home_options(&cfg, &opts.gpu)?)?;
        prefix_cache::check_train_cache(&cfg, &model, data.train.len())?;
        if !opts.resume {
            RunDir::create(&opts.out, &cfg)?;
        }
        let (progress, records, summaries) = match &ckpt {
            Some(c) => restore(c, &dir, &gpu, &model)?,
            None => (Progress::start(cfg.method), Vec::new(), Vec::new()),
        };
        let sample = data.train.height * data.train.width * data.train.channels;
        let run = Run {
            io: StepIo::new(&gpu)?,
            readback: Readback::new(&gpu, 64),
            train_feed: Feed::new(&gpu, cfg.batch_size, sample)?,
            eval_feed: Feed::new(&gpu, cfg.batch_size, sample)?,
            display: Display::new(opts.quiet),
            started: Instant::now(),
            elapsed_before: progress.elapsed,
            last_checkpoint: Instant::now(),
            gpu_options: opts.gpu.clone(),
            report: opts.report,
            best: None,
            cfg,
            gpu,
            model,
            data,
            dir,
            progress,
            records,
            summaries,
        };
        run.announce(ckpt.is_some());
        Ok(run)
    }

    fn announce(&self, resumed: bool) {
        let (cfg, data, gpu) = (&self.cfg, &self.data, &self.gpu);
        self.display.line(&format!(
            "{} on {} ({}): {} training images, validation on the {} ({}), {} stage(s)",
            cfg.name,
            gpu.summary.name,
            gpu.summary.backend,
            data.train.len(),
            data.val_name,
            data.val.len(),
            self.model.stages.len()
        ));
        if resumed {
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
            "{} stage {} epoch {epoch}: lr {:.4} loss {:.4} train {:.2}% | val head {:.2}% ensemble {:.2}% | {:.0} img/s, {:.1}s",
            r.method,
            r.stage,
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

    /// Save the model on the run's device and the progress, atomically.
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
        checkpoint::save(&self.dir.checkpoint_path(), &self.gpu, &self.model, extra, &meta)?;
        self.last_checkpoint = Instant::now();
        Ok(())
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

/// The progress, records and summaries of a resumed run, its model restored from `ckpt`; the metrics
/// files are cut back to what the checkpoint counted.
fn restore(
    ckpt: &Checkpoint,
    dir: &RunDir,
    gpu: &Gpu,
    model: &Model,
) -> Result<(Progress, Vec<EpochRecord>, Vec<StageSummary>)> {
    ckpt.restore(&dir.checkpoint_path(), gpu, model)?;
    let records = dir.read_records()?;
    let counted = ckpt.meta.progress.records;
    if records.len() < counted {
        return Err(Error::data(dir.metrics_path(), "holds fewer records than the checkpoint says were written"));
    }
    let records = records[..counted].to_vec();
    dir.rewrite_records(&records)?;
    Ok((ckpt.meta.progress.clone(), records, dir.read_summaries().unwrap_or_default()))
}
