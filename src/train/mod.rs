//! `layerwise train`: run folders, the epoch loop shared by every method, evaluation, metrics,
//! checkpoints and resume. The algorithms themselves read top to bottom in `greedy.rs` (greedy,
//! end-to-end) and `dgl.rs` (decoupled greedy learning, its async schedule in `replay.rs`).

mod dgl;
mod display;
pub mod feed;
mod greedy;
pub mod plans;
pub mod prefix_cache;
pub mod replay;
pub mod report;
mod rundir;
pub mod state;

use std::path::{Path, PathBuf};
use std::time::Instant;

pub use dgl::{device_options, train_dgl};
pub use greedy::{train_e2e, train_greedy};
pub use rundir::RunDir;

use crate::checkpoint::{self, Checkpoint, CheckpointMeta};
use crate::config::{Config, Method};
use crate::data::{self, Dataset};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuOptions, InFlight, Plan, Readback};
use crate::metrics::{EpochRecord, StageSummary};
use crate::model::block::Scratch;
use crate::model::{permutation, Model, ModelSpec, Shape};
use display::Display;
use feed::Feed;
use plans::{EvalStep, StepIo};
use prefix_cache::PrefixCaches;
use state::Progress;

/// How `train` runs, beside the config itself.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub out: PathBuf,
    /// Continue the run in `out` from its checkpoint.
    pub resume: bool,
    pub data_dir: Option<PathBuf>,
    pub gpu: GpuOptions,
    pub quiet: bool,
    /// Write the report (filters, feature maps, curves) at the end of every stage.
    pub report: bool,
}

/// Seed of the validation hold-out permutation (fixed: the split is part of the dataset, not the run).
pub const VAL_SPLIT_SEED: u64 = 0x5EED_0F5A;

/// The training and validation splits the config asks for.
pub struct Data {
    pub train: Dataset,
    pub val: Dataset,
    pub val_name: String,
}

pub fn load_data(cfg: &Config, data_dir: Option<&Path>) -> Result<Data> {
    let splits = data::load(&cfg.dataset, data_dir)?;
    let train = splits.train;
    let (train, val, val_name) = if cfg.val_split > 0 {
        if cfg.val_split >= train.len() {
            return Err(Error::usage(format!(
                "val_split {} leaves no training images ({} in total)",
                cfg.val_split,
                train.len()
            )));
        }
        // A seeded random hold-out, not the last N: folder datasets come sorted by class, so the last
        // N images would be the last classes only. The seed is fixed, so the split does not move with
        // the training seed.
        let n = train.len();
        let perm = permutation(n, VAL_SPLIT_SEED);
        let mut val_idx: Vec<usize> = perm[n - cfg.val_split..].iter().map(|&i| i as usize).collect();
        let mut train_idx: Vec<usize> = perm[..n - cfg.val_split].iter().map(|&i| i as usize).collect();
        val_idx.sort_unstable();
        train_idx.sort_unstable();
        let source = train.source.clone();
        let (mut rest, mut val) = (train.subset(&train_idx), train.subset(&val_idx));
        rest.source = format!("{source} [training part]");
        val.source = format!("{source} [{} held out]", cfg.val_split);
        (rest, val, format!("{} training images held out at random", cfg.val_split))
    } else {
        let test = splits.test.ok_or_else(|| {
            Error::usage(format!(
                "{} has no test split: set val_split (e.g. --set val_split=10000) to hold out validation images",
                train.source
            ))
        })?;
        (train, test, "test split".to_string())
    };
    let train = if cfg.max_train_images > 0 && cfg.max_train_images < train.len() {
        // A fixed random subset, not the first N (which for a class-sorted folder is one class).
        let mut idx: Vec<usize> =
            permutation(train.len(), VAL_SPLIT_SEED ^ 1)[..cfg.max_train_images].iter().map(|&i| i as usize).collect();
        idx.sort_unstable();
        train.subset(&idx)
    } else {
        train
    };
    let val = if cfg.max_val_images > 0 && cfg.max_val_images < val.len() {
        let k = cfg.max_val_images;
        val.subset(&(0..k).map(|i| i * val.len() / k).collect::<Vec<_>>())
    } else {
        val
    };
    if cfg.augment.mean.len() != train.channels {
        return Err(Error::usage(format!(
            "config `{}` normalises {} channel(s) but {} has {}-channel images",
            cfg.name,
            cfg.augment.mean.len(),
            train.source,
            train.channels
        )));
    }
    if cfg.batch_size > train.len() {
        return Err(Error::usage(format!(
            "batch_size {} is larger than the {} training images",
            cfg.batch_size,
            train.len()
        )));
    }
    dgl::check_buffers(cfg, train.len())?;
    Ok(Data { train, val, val_name })
}

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
    gpu_options: GpuOptions,
    io: StepIo,
    train_feed: Feed,
    eval_feed: Feed,
    readback: Readback,
    display: Display,
    started: Instant,
    elapsed_before: f64,
    last_checkpoint: Instant,
    report: bool,
}

/// Train as the config says; returns the per-stage summaries.
pub fn train(cfg: Config, opts: &TrainOptions) -> Result<Vec<StageSummary>> {
    let mut run = Run::open(cfg, opts)?;
    match run.cfg.method {
        Method::Greedy => train_greedy(&mut run)?,
        Method::E2e => train_e2e(&mut run)?,
        Method::Dgl | Method::DglAsync => train_dgl(&mut run)?,
    }
    Ok(run.summaries)
}

impl Run {
    fn open(cfg: Config, opts: &TrainOptions) -> Result<Run> {
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
        let input = Shape::Map { h: data.train.height, w: data.train.width, c: data.train.channels };
        let classes = data.train.classes.len();
        let spec = ModelSpec::new(&cfg, input, classes)?;
        let gpu = Gpu::new(&dgl::home_options(&cfg, &opts.gpu)?)?;
        let model = Model::new(&gpu, spec, cfg.seed)?;
        prefix_cache::check_train_cache(&cfg, &model, data.train.len())?;
        if !opts.resume {
            RunDir::create(&opts.out, &cfg)?;
        }
        let sample = data.train.height * data.train.width * data.train.channels;
        let train_feed = Feed::new(&gpu, cfg.batch_size, sample)?;
        let eval_feed = Feed::new(&gpu, cfg.batch_size, sample)?;
        let (progress, records, summaries) = match &ckpt {
            Some(c) => {
                c.restore(&dir.checkpoint_path(), &gpu, &model)?;
                let records = dir.read_records()?;
                if records.len() < c.meta.progress.records {
                    return Err(Error::data(
                        dir.metrics_path(),
                        "holds fewer records than the checkpoint says were written",
                    ));
                }
                let records = records[..c.meta.progress.records].to_vec();
                dir.rewrite_records(&records)?;
                (c.meta.progress.clone(), records, dir.read_summaries().unwrap_or_default())
            }
            None => (Progress::start(cfg.method), Vec::new(), Vec::new()),
        };
        let display = Display::new(opts.quiet);
        display.line(&format!(
            "{} on {} ({}): {} training images, validation on the {} ({}), {} stage(s)",
            cfg.name,
            gpu.summary.name,
            gpu.summary.backend,
            data.train.len(),
            data.val_name,
            data.val.len(),
            model.stages.len()
        ));
        if ckpt.is_some() {
            display.line(&format!(
                "resuming {} at stage {}, epoch {}, step {}",
                dir.path.display(),
                progress.stage,
                progress.epoch,
                progress.step
            ));
        }
        let elapsed_before = progress.elapsed;
        Ok(Run {
            io: StepIo::new(&gpu)?,
            readback: Readback::new(&gpu, 64),
            cfg,
            model,
            data,
            dir,
            progress,
            records,
            summaries,
            gpu_options: opts.gpu.clone(),
            train_feed,
            eval_feed,
            display,
            gpu,
            started: Instant::now(),
            elapsed_before,
            last_checkpoint: Instant::now(),
            report: opts.report,
        })
    }

    fn elapsed(&self) -> f64 {
        self.elapsed_before + self.started.elapsed().as_secs_f64()
    }

    /// The seed of everything random in epoch `epoch` of stage `stage`.
    fn epoch_key(&self, stage: usize, epoch: usize) -> u64 {
        self.cfg.seed.wrapping_mul(0x9E3779B97F4A7C15) ^ ((stage as u64) << 32 | epoch as u64)
    }

    /// One epoch of `step`: shuffle, then for every full batch upload and submit (no readback inside
    /// the loop except the periodic statistics read). Resumes mid-epoch from `self.progress.step`.
    /// Returns (mean loss, accuracy %, images/s, seconds).
    fn run_epoch(&mut self, step: &Plan, stage: usize, epoch: usize, label: &str) -> Result<(f64, f64, f64, f64)> {
        let n = self.data.train.len();
        let b = self.cfg.batch_size;
        // The last partial batch is dropped: every step has the shape its plan was recorded for.
        let steps = n / b;
        let key = self.epoch_key(stage, epoch);
        let perm = permutation(n, key);
        self.gpu.upload_u32(&self.io.rng, &[key as u32 ^ (key >> 32) as u32, (stage * 100_000 + epoch) as u32]);
        self.io.set_lr(&self.gpu, &self.cfg, self.cfg.lr_at(epoch));
        let start = self.progress.step;
        let (mut loss_sum, mut correct, mut batches) =
            (self.progress.loss_sum, self.progress.correct, self.progress.batches);
        self.gpu.upload(&self.io.stats, &[loss_sum as f32, correct as f32]);
        let t0 = Instant::now();
        let seconds_before = self.progress.epoch_seconds;
        let bar = self.display.epoch_bar(label, steps as u64, start as u64);
        let mut in_flight = InFlight::default();
        let report_every = (steps / 20).clamp(1, 200);
        for s in start..steps {
            self.train_feed.load(&self.gpu, &self.data.train, &perm[s * b..(s + 1) * b]);
            in_flight.submit(&self.gpu, &[step])?;
            batches += 1;
            let done = s + 1;
            let checkpoint_due =
                self.last_checkpoint.elapsed().as_secs_f64() > self.cfg.checkpoint_minutes * 60.0 && done < steps;
            if done % report_every == 0 || done == steps || checkpoint_due {
                let st = self.readback.read_f32(&self.gpu, &self.io.stats)?;
                (loss_sum, correct) = (st[0] as f64, st[1] as f64);
                let loss = loss_sum / batches as f64;
                if !loss.is_finite() {
                    bar.finish_and_clear();
                    return Err(Error::NonFinite(format!(
                        "{label}: the loss became {loss} at step {done}; stopped this stage. The last good checkpoint ({}) is kept; try a lower learning rate (--set optimizer.lr=...)",
                        self.dir.checkpoint_path().display()
                    )));
                }
                let secs = t0.elapsed().as_secs_f64();
                bar.update(
                    done as u64,
                    loss,
                    100.0 * correct / (batches * b) as f64,
                    ((done - start) * b) as f64 / secs.max(1e-9),
                );
                if checkpoint_due {
                    self.progress.step = done;
                    (self.progress.loss_sum, self.progress.correct, self.progress.batches) =
                        (loss_sum, correct, batches);
                    self.progress.epoch_seconds = seconds_before + secs;
                    self.checkpoint()?;
                }
            }
        }
        bar.finish_and_clear();
        let secs = t0.elapsed().as_secs_f64();
        let img_s = ((steps - start) * b) as f64 / secs.max(1e-9);
        self.progress.step = 0;
        (self.progress.loss_sum, self.progress.correct, self.progress.batches, self.progress.epoch_seconds) =
            (0.0, 0.0, 0, 0.0);
        Ok((
            loss_sum / batches.max(1) as f64,
            100.0 * correct / (batches.max(1) * b) as f64,
            img_s,
            seconds_before + secs,
        ))
    }

    /// Accuracy (%) of every evaluated head and of their ensemble on the validation split.
    fn evaluate(&mut self, eval: &EvalStep) -> Result<(Vec<f64>, f64)> {
        evaluate_with(&self.gpu, &mut self.eval_feed, &self.readback, eval, &self.data.val)
    }

    /// Accuracy (%) of heads 0..=j and their ensemble, for greedy stage `j`'s evaluation step; a
    /// cached step evaluates head j only and the frozen heads' accuracies come from its cache.
    fn evaluate_stage(&mut self, eval: &EvalStep, caches: &PrefixCaches) -> Result<(Vec<f64>, f64)> {
        let (acc, ensemble) = self.evaluate(eval)?;
        match &caches.eval {
            Some(c) => Ok((c.frozen_acc.iter().copied().chain(acc).collect(), ensemble)),
            None => Ok((acc, ensemble)),
        }
    }

    /// The frozen-prefix caches of greedy stage `j` the config asks for and the memory limit allows
    /// (`prefix_cache.rs`); evaluation without its cache recomputes the prefix every epoch.
    fn prefix_caches(&mut self, j: usize, scratch: &Scratch) -> Result<PrefixCaches> {
        self.train_feed.with_images = true;
        let mut caches = PrefixCaches { train: None, eval: None };
        // Stage 0 reads images; a stage resumed after its last epoch has nothing left to run.
        if j == 0 || self.progress.epoch >= self.cfg.epochs {
            return Ok(caches);
        }
        let limit = self.cfg.cache.limit_mib as u64 * 1024 * 1024;
        let mut used = 0;
        let flops_per_float = prefix_cache::prefix_flops_per_float(&self.model, j);
        let features_pay = prefix_cache::cache_pays(&self.model, j);
        if self.cfg.cache.train && !features_pay {
            self.display.line(&format!(
                "stage {j}: training recomputes stages 0..{} every step (at {flops_per_float:.0} FLOPs per float of their output, recomputing costs about what caching would save)",
                j - 1
            ));
        } else if self.cfg.cache.train {
            // Checked against the limit before training started (prefix_cache::check_train_cache).
            used = prefix_cache::train_cache_bytes(&self.model, j, self.data.train.len());
            self.display.line(&format!(
                "stage {j}: caching its input for {} training images ({:.0} MiB)",
                self.data.train.len(),
                prefix_cache::mib(used).ceil()
            ));
            let built = prefix_cache::build_train_cache(
                &self.gpu,
                &self.cfg,
                &self.model,
                j,
                &mut self.train_feed,
                &self.data.train,
                &self.io,
                scratch,
            );
            caches.train = Some(built.map_err(|e| match e {
                Error::OutOfMemory { what, needed_mib, limit, .. } => Error::OutOfMemory {
                    what,
                    needed_mib,
                    limit,
                    hint: "Set cache.train = false to recompute the frozen stages every step instead.".into(),
                },
                e => e,
            })?);
            self.train_feed.with_images = false;
        }
        if self.cfg.cache.eval {
            // The frozen heads' probabilities are tiny; stage j's input may not fit.
            let probs = prefix_cache::eval_probs_bytes(&self.model, self.data.val.len());
            let features = prefix_cache::eval_features_bytes(&self.model, j, self.data.val.len());
            let features_fit = used + probs + features <= limit;
            let mut with_features = features_fit && features_pay;
            if used + probs > limit {
                self.display.line(&format!(
                    "stage {j}: evaluation recomputes the frozen prefix every epoch: even the frozen heads' predictions would pass cache.limit_mib = {}",
                    self.cfg.cache.limit_mib
                ));
                return Ok(caches);
            }
            let what = if with_features {
                format!("output ({:.0} MiB) and their heads' predictions", prefix_cache::mib(features).ceil())
            } else {
                "heads' predictions".into()
            };
            self.display.line(&format!(
                "stage {j}: caching the frozen stages' {what} for {} validation images",
                self.data.val.len()
            ));
            loop {
                match prefix_cache::build_eval_cache(
                    &self.gpu,
                    &self.cfg,
                    &self.model,
                    j,
                    &mut self.eval_feed,
                    &self.data.val,
                    &self.io,
                    scratch,
                    &self.readback,
                    with_features,
                ) {
                    Ok(c) => {
                        caches.eval = Some(c);
                        break;
                    }
                    // An optional saving: a device that cannot hold it still trains, recomputing.
                    Err(Error::OutOfMemory { limit, .. }) if with_features => {
                        self.display
                            .line(&format!("stage {j}: the device refused the validation feature cache ({limit})"));
                        with_features = false;
                    }
                    Err(Error::OutOfMemory { limit, .. }) => {
                        self.display.line(&format!("stage {j}: evaluation recomputes the frozen prefix every epoch: the device refused its cache ({limit})"));
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if caches.eval.is_some() && !features_pay {
                self.display.line(&format!(
                    "stage {j}: evaluation runs stages 0..{} every epoch (at {flops_per_float:.0} FLOPs per float of their output, recomputing costs about what caching would save); the frozen heads' predictions are cached",
                    j - 1
                ));
            } else if caches.eval.is_some() && !features_fit {
                self.display.line(&format!(
                    "stage {j}: evaluation runs stages 0..{} every epoch (their validation output would take {:.0} MiB, past cache.limit_mib = {}); the frozen heads' predictions are cached",
                    j - 1,
                    prefix_cache::mib(features).ceil(),
                    self.cfg.cache.limit_mib
                ));
            }
        }
        Ok(caches)
    }

    /// Write report.html and its images for the stages trained so far.
    fn write_report(&mut self) -> Result<()> {
        if !self.report || self.progress.stage == 0 {
            return Ok(());
        }
        let upto = (self.progress.stage - 1).min(self.model.stages.len() - 1);
        let input = report::report_input(
            &self.gpu,
            &self.cfg,
            &self.model,
            &self.data.val,
            upto,
            &self.records,
            &self.summaries,
        )?;
        let files = report::write(&self.dir.path, &input)?;
        if let Some(html) = files.last() {
            self.display.line(&format!("report: {}", html.display()));
        }
        Ok(())
    }

    fn record(&mut self, r: EpochRecord) -> Result<()> {
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

    fn checkpoint(&mut self) -> Result<()> {
        self.progress.elapsed = self.elapsed();
        let meta = CheckpointMeta {
            format: checkpoint::FORMAT,
            config_name: self.cfg.name.clone(),
            adapter: self.gpu.summary.name.clone(),
            progress: self.progress.clone(),
        };
        checkpoint::save(&self.dir.checkpoint_path(), &self.gpu, &self.model, &meta)?;
        self.last_checkpoint = Instant::now();
        Ok(())
    }

    fn summarise_stage(&mut self, j: usize, seconds: f64, img_s: f64, head_acc: f64, ensemble_acc: f64) -> Result<()> {
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
}

/// `layerwise eval`: every trained head of a run (and their ensemble) on its validation data, or on
/// the test split of `dataset`.
pub fn eval_run(path: &Path, dataset: Option<&str>, gpu: &GpuOptions) -> Result<String> {
    let dir = RunDir::existing(path)?;
    let mut cfg = Config::load(&dir.config_path())?;
    let ckpt = Checkpoint::read(&dir.checkpoint_path())?;
    if let Some(d) = dataset {
        cfg.dataset = d.to_string();
        cfg.val_split = 0;
    }
    let data = load_data(&cfg, None)?;
    let input = Shape::Map { h: data.val.height, w: data.val.width, c: data.val.channels };
    let spec = ModelSpec::new(&cfg, input, data.val.classes.len())?;
    let gpu = Gpu::new(gpu)?;
    let model = Model::new(&gpu, spec, cfg.seed)?;
    ckpt.restore(&dir.checkpoint_path(), &gpu, &model)?;
    let last = model.stages.len() - 1;
    let p = &ckpt.meta.progress;
    let (upto, heads): (usize, Vec<usize>) = if cfg.method == Method::E2e {
        (last, vec![last])
    } else if matches!(cfg.method, Method::Dgl | Method::DglAsync) {
        // Every stage trains from the start.
        (last, (0..=last).collect())
    } else {
        // Heads of finished stages, plus the one in training if it has run at least one epoch.
        let upto = if p.epoch > 0 { p.stage } else { p.stage.saturating_sub(1) }.min(last);
        (upto, (0..=upto).collect())
    };
    let sample = data.val.height * data.val.width * data.val.channels;
    let feed = Feed::new(&gpu, cfg.batch_size, sample)?;
    let io = StepIo::new(&gpu)?;
    let scratch = plans::scratch_for(&gpu, &model, upto, cfg.batch_size)?;
    let eval = plans::eval_step(&gpu, &cfg, &model, upto, &heads, &feed, &io, &scratch)?;
    let mut run = EvalOnly { gpu: &gpu, feed, readback: Readback::new(&gpu, 64) };
    let (acc, ens) = run.evaluate(&eval, &data.val)?;
    let mut out = format!("{} ({} images of {}):\n", path.display(), data.val.len(), data.val.source);
    for (h, a) in heads.iter().zip(&acc) {
        out.push_str(&format!("  head {h}: {a:.2}%\n"));
    }
    out.push_str(&format!("  ensemble: {ens:.2}%"));
    Ok(out)
}

/// Evaluation without a training run around it.
struct EvalOnly<'g> {
    gpu: &'g Gpu,
    feed: Feed,
    readback: Readback,
}

impl EvalOnly<'_> {
    fn evaluate(&mut self, eval: &EvalStep, data: &Dataset) -> Result<(Vec<f64>, f64)> {
        evaluate_with(self.gpu, &mut self.feed, &self.readback, eval, data)
    }
}

/// Run `eval` over all of `data`: accuracy (%) of each evaluated head and of their ensemble.
fn evaluate_with(
    gpu: &Gpu,
    feed: &mut Feed,
    readback: &Readback,
    eval: &EvalStep,
    data: &Dataset,
) -> Result<(Vec<f64>, f64)> {
    for c in &eval.counts {
        gpu.fill(c, 0.0);
    }
    feed.run_over(gpu, data, &eval.plan)?;
    let n = data.len();
    let mut acc = Vec::new();
    for c in &eval.counts {
        acc.push(100.0 * readback.read_f32(gpu, c)?[0] as f64 / n as f64);
    }
    let ensemble = acc.pop().unwrap_or(f64::NAN);
    Ok((acc, ensemble))
}

/// `layerwise viz`: rebuild a run's report from its checkpoint (stages 0..=`stage`, default: all
/// trained). Returns the path of report.html.
pub fn viz_run(path: &Path, stage: Option<usize>, gpu: &GpuOptions) -> Result<PathBuf> {
    let dir = RunDir::existing(path)?;
    let cfg = Config::load(&dir.config_path())?;
    let ckpt = Checkpoint::read(&dir.checkpoint_path())?;
    let data = load_data(&cfg, None)?;
    let input = Shape::Map { h: data.val.height, w: data.val.width, c: data.val.channels };
    let spec = ModelSpec::new(&cfg, input, data.val.classes.len())?;
    let gpu = Gpu::new(gpu)?;
    let model = Model::new(&gpu, spec, cfg.seed)?;
    ckpt.restore(&dir.checkpoint_path(), &gpu, &model)?;
    let p = &ckpt.meta.progress;
    let dgl = matches!(cfg.method, Method::Dgl | Method::DglAsync);
    // DGL trains every stage at once: all of them count once an epoch is done.
    let trained = if dgl && p.epoch > 0 { model.stages.len() } else { p.stage.min(model.stages.len()) };
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
    let records = dir.read_records()?;
    let records: Vec<EpochRecord> = records.into_iter().filter(|r| r.stage <= upto).collect();
    let summaries: Vec<StageSummary> =
        dir.read_summaries().unwrap_or_default().into_iter().filter(|s| s.stage <= upto).collect();
    let input = report::report_input(&gpu, &cfg, &model, &data.val, upto, &records, &summaries)?;
    let files = report::write(&dir.path, &input)?;
    Ok(files.last().cloned().unwrap_or_else(|| dir.path.join("report.html")))
}
