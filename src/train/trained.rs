//! A trained run opened from its folder, for `layerwise eval` and `layerwise viz`: its config, its
//! checkpoint's progress and weights on a device, and its data.

use std::path::{Path, PathBuf};

use super::feed::Feed;
use super::plans::{eval_step, scratch_for, StepContext, StepIo};
use super::report;
use super::run::open_model;
use super::rundir::RunDir;
use super::split::{load_run_data, same_data, Data, Purpose};
use super::state::Progress;
use crate::checkpoint::Checkpoint;
use crate::config::{Config, Method};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuOptions, Readback};
use crate::metrics::{Accuracy, EpochRecord, StageSummary};
use crate::model::Model;

/// A run folder's model as its checkpoint left it.
pub struct TrainedRun {
    pub dir: RunDir,
    pub cfg: Config,
    pub progress: Progress,
    pub data: Data,
    pub gpu: Gpu,
    pub model: Model,
}

impl TrainedRun {
    /// Open the run in `path` on the data it trained on (refusing other data under the same name);
    /// `dataset` replaces it (its test split becomes the validation data, and its training split only
    /// shapes the model: a small dataset is fine).
    pub fn open(path: &Path, dataset: Option<&str>, gpu: &GpuOptions) -> Result<TrainedRun> {
        TrainedRun::open_from(path, dataset, None, gpu)
    }

    /// Open the run in `path` on its own data, looked for first in `data_dir` (as `train --data` does).
    pub fn open_with_data_dir(path: &Path, data_dir: Option<&Path>, gpu: &GpuOptions) -> Result<TrainedRun> {
        TrainedRun::open_from(path, None, data_dir, gpu)
    }

    fn open_from(path: &Path, dataset: Option<&str>, data_dir: Option<&Path>, gpu: &GpuOptions) -> Result<TrainedRun> {
        let dir = RunDir::existing(path)?;
        let mut cfg = Config::load(&dir.config_path())?;
        let ckpt = Checkpoint::read(&dir.checkpoint_path())?;
        let data = match dataset {
            Some(d) => {
                cfg.dataset = d.to_string();
                (cfg.val_split, cfg.val_fallback) = (0, 0);
                load_run_data(&cfg, data_dir, None, Purpose::Evaluate)?
            }
            None => {
                let recorded = dir.read_data_record()?;
                let data = load_run_data(&cfg, data_dir, recorded.as_ref(), Purpose::Evaluate)?;
                if let Some(r) = &recorded {
                    same_data(r, &data.record, false)?;
                }
                data
            }
        };
        ckpt.meta.check_progress(&dir.checkpoint_path(), &cfg, data.train.len() / cfg.batch_size)?;
        let (gpu, model) = open_model(&cfg, &data, gpu, false)?;
        ckpt.restore(&dir.checkpoint_path(), &gpu, &model)?;
        Ok(TrainedRun { dir, cfg, progress: ckpt.meta.progress, data, gpu, model })
    }

    /// Stages whose training is complete: DGL trains every stage at once, so all of them count once an
    /// epoch is done.
    fn trained_stages(&self) -> usize {
        let dgl = matches!(self.cfg.method, Method::Dgl | Method::DglAsync);
        let stages = self.model.stages.len();
        if dgl && self.progress.epoch > 0 {
            stages
        } else {
            self.progress.stage.min(stages)
        }
    }
}

/// `layerwise eval`: every trained head of a run (and their ensemble) on its validation data, or on
/// the test split of `dataset`.
pub fn eval_run(path: &Path, dataset: Option<&str>, gpu: &GpuOptions) -> Result<String> {
    let run = TrainedRun::open(path, dataset, gpu)?;
    let (cfg, gpu, model, val) = (&run.cfg, &run.gpu, &run.model, &run.data.val);
    let last = model.stages.len() - 1;
    let p = &run.progress;
    let (upto, heads): (usize, Vec<usize>) = match cfg.method {
        Method::E2e => (last, vec![last]),
        // Every stage trains from the start.
        Method::Dgl | Method::DglAsync => (last, (0..=last).collect()),
        Method::Greedy => {
            // Heads of finished stages, plus the one in training if it has run at least one epoch.
            let upto = if p.epoch > 0 { p.stage } else { p.stage.saturating_sub(1) }.min(last);
            (upto, (0..=upto).collect())
        }
    };
    let sample = val.image_len();
    // Micro-batches: what training held at once (evaluation rows are independent).
    let mut feed = Feed::new(gpu, cfg.micro_batch(), sample)?;
    let io = StepIo::new(gpu)?;
    let scratch = scratch_for(gpu, model, upto, cfg.micro_batch())?;
    let ctx = StepContext { gpu, cfg, model, io: &io, scratch: &scratch };
    let eval = eval_step(&ctx, &feed, upto, &heads)?;
    let acc = eval.run(gpu, &mut feed, &Readback::new(gpu, 64), val)?;
    let mut out = format!("{} ({} images of {}):\n", path.display(), val.len(), val.source());
    for (k, (h, a)) in heads.iter().zip(&acc.top1).enumerate() {
        let top5 = Accuracy::top5_note(acc.top5.as_ref().map(|t| t[k]));
        out.push_str(&format!("  head {h}: {a:.2}%{top5}\n"));
    }
    out.push_str(&format!("  ensemble: {:.2}%{}", acc.ensemble_top1, Accuracy::top5_note(acc.ensemble_top5)));
    Ok(out)
}

/// `layerwise viz`: rebuild a run's report from its checkpoint (stages 0..=`stage`, default: all
/// trained). Returns the path of report.html.
pub fn viz_run(path: &Path, stage: Option<usize>, gpu: &GpuOptions) -> Result<PathBuf> {
    // viz writes into the folder: not while a run does.
    let _lock = RunDir::existing(path)?.lock()?;
    let run = TrainedRun::open(path, None, gpu)?;
    let trained = run.trained_stages();
    if trained == 0 {
        return Err(Error::usage(format!("{} has not finished a stage yet: nothing to draw", path.display())));
    }
    let upto = match stage {
        Some(j) if j < trained => j,
        Some(j) => {
            return Err(Error::usage(format!(
                "stage {j} is not trained in {} (stages 0..{} are)",
                path.display(),
                trained - 1
            )))
        }
        None => trained - 1,
    };
    let dir = &run.dir;
    let records: Vec<EpochRecord> = dir.read_records()?.records.into_iter().filter(|r| r.stage <= upto).collect();
    let summaries: Vec<StageSummary> =
        dir.read_summaries().unwrap_or_default().into_iter().filter(|s| s.stage <= upto).collect();
    let input = report::report_input(&run.gpu, &run.cfg, &run.model, &run.data.val, upto, &records, &summaries)?;
    let files = report::write(&dir.path, &input)?;
    Ok(files.last().cloned().unwrap_or_else(|| dir.path.join("report.html")))
}
