//! Greedy training's frozen-prefix caches. While stage j trains, stages 0..j-1 and heads 0..j-1 are
//! frozen in evaluation mode, so their outputs for a given image never change during the stage:
//! - evaluation (on by default) computes once per stage, over the validation split, the frozen heads'
//!   weighted scores (probabilities or logits) and, memory permitting, stage j's input; every epoch
//!   then runs stage j and head j only (plus stages 0..j-1 when their output did not fit). The frozen
//!   heads' accuracies are constants of the stage.
//! - training (`cache.train`, augmentation off) does the same for every training image, so a step
//!   gathers its batch's features instead of running the prefix.
//!
//! Both give bit-identical results to recomputing: the same kernels run on the same batches, only
//! once. Memory: one row per image of stage j's input (plus the class scores for evaluation),
//! checked against `cache.limit_mib` before anything is allocated.

use super::feed::Feed;
use super::plans::{
    ensemble_weight, record_ensemble_add, record_eval_stages, record_trained_blocks, trained_blocks, EvalHeads,
    EvalStep, StepContext, Trains,
};
use super::source::Split;
use super::Run;
use crate::config::{Config, Method};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Plan, PlanBuilder, Readback, Tensor};
use crate::metrics::Accuracy;
use crate::model::block::Scratch;
use crate::model::Model;
use crate::ops;

/// One row per dataset image, split into chunks of at most one storage binding each.
pub struct RowCache {
    chunks: Vec<Tensor>,
    chunk_rows: usize,
}

impl RowCache {
    /// Bytes a cache of `rows` rows of `row_len` floats takes.
    pub fn bytes(rows: usize, row_len: usize) -> u64 {
        (rows * row_len * 4) as u64
    }

    /// `row`: the shape of one row (e.g. [H, W, C]).
    pub fn new(gpu: &Gpu, rows: usize, row: &[usize], what: &str) -> Result<RowCache> {
        let row_len: usize = row.iter().product();
        let max = gpu.max_buffer_size().min(gpu.max_storage_binding()) as usize;
        let chunk_rows = max / (4 * row_len.max(1));
        if chunk_rows == 0 {
            return Err(Error::OutOfMemory {
                what: format!("one {what} row"),
                needed_mib: mib((4 * row_len) as u64),
                limit: format!("{} binds at most {:.0} MiB per buffer", gpu.summary.name, mib(max as u64)),
                hint: "Set cache.train = false.".into(),
            });
        }
        RowCache::with_chunk_rows(gpu, rows, row, chunk_rows, what)
    }

    /// A cache in chunks of at most `chunk_rows` rows (tests use small chunks to cover chunk edges).
    pub fn with_chunk_rows(gpu: &Gpu, rows: usize, row: &[usize], chunk_rows: usize, what: &str) -> Result<RowCache> {
        let chunk_rows = chunk_rows.clamp(1, rows.max(1));
        let mut chunks = Vec::new();
        for start in (0..rows).step_by(chunk_rows) {
            let shape: Vec<usize> = std::iter::once(chunk_rows.min(rows - start)).chain(row.iter().copied()).collect();
            chunks.push(gpu.tensor(&shape, what)?);
        }
        Ok(RowCache { chunks, chunk_rows })
    }

    /// Store batch rows `src` ([n, ...row]) at their dataset indices `ids` (rows below `valid`).
    pub fn record_scatter(&self, p: &mut PlanBuilder, src: &Tensor, ids: &Tensor, valid: &Tensor) -> Result<()> {
        for (c, chunk) in self.chunks.iter().enumerate() {
            ops::scatter_rows(p, src, c * self.chunk_rows, ids, valid, chunk)?;
        }
        Ok(())
    }

    /// Load the rows of dataset indices `ids` into `dst` ([n, ...row]; rows from `valid` on untouched).
    pub fn record_gather(&self, p: &mut PlanBuilder, ids: &Tensor, valid: &Tensor, dst: &Tensor) -> Result<()> {
        for (c, chunk) in self.chunks.iter().enumerate() {
            ops::gather_rows(p, chunk, c * self.chunk_rows, ids, valid, dst)?;
        }
        Ok(())
    }
}

/// Floats per image of stage j's input.
fn input_len(model: &Model, j: usize) -> usize {
    model.spec.stages[j].input.len()
}

/// Bytes the training cache of stage `j` takes for `images` training images.
pub fn train_cache_bytes(model: &Model, j: usize, images: usize) -> u64 {
    RowCache::bytes(images, input_len(model, j))
}

/// Bytes the evaluation cache's features of stage `j` take for `images` validation images.
pub fn eval_features_bytes(model: &Model, j: usize, images: usize) -> u64 {
    RowCache::bytes(images, input_len(model, j))
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Refuse `cache.train` up front, before any training, when some stage's cache would not fit.
pub fn check_train_cache(cfg: &Config, model: &Model, images: usize) -> Result<()> {
    if !cfg.cache.train || cfg.method != Method::Greedy {
        return Ok(());
    }
    let limit = cfg.cache.limit_mib as u64 * 1024 * 1024;
    for j in (1..model.stages.len()).filter(|&j| cache_pays(model, j)) {
        let need = train_cache_bytes(model, j, images);
        if need > limit {
            return Err(Error::usage(format!(
                "cache.train: stage {j}'s input for {images} training images takes {:.0} MiB, more than cache.limit_mib = {}; raise cache.limit_mib (if the device has the memory) or set cache.train = false",
                mib(need).ceil(),
                cfg.cache.limit_mib
            )));
        }
    }
    Ok(())
}

/// Stage `j`'s input for every training image (j >= 1), as the training step would compute it: with
/// augmentation off (which `cache.train` requires) the training input pipeline is the evaluation one,
/// plain normalisation.
pub fn build_train_cache(ctx: &StepContext, feed: &mut Feed, j: usize, data: &Split) -> Result<RowCache> {
    assert!(j >= 1 && ctx.cfg.cache.train);
    let (gpu, model) = (ctx.gpu, ctx.model);
    let cache = RowCache::new(gpu, data.len(), &model.spec.stages[j].input.batched(1)[1..], "training feature cache")?;
    let mut p = PlanBuilder::new(gpu, format!("cache stage {j} training input"));
    let x = record_eval_stages(&mut p, ctx, feed, j, None)?;
    cache.record_scatter(&mut p, &x, &feed.ids, &feed.valid)?;
    feed.run_over(gpu, data, &p.finish()?)?;
    Ok(cache)
}

/// The greedy step of stage `j` reading its input from `cache` by the batch's dataset indices: the
/// same dispatches as `plans::train_step` after its frozen prefix.
pub fn train_step_cached(ctx: &StepContext, feed: &Feed, j: usize, cache: &RowCache) -> Result<Plan> {
    let (gpu, model) = (ctx.gpu, ctx.model);
    let x = gpu.tensor(&model.spec.stages[j].input.batched(feed.batch), "cached stage input")?;
    let mut p = PlanBuilder::new(gpu, format!("stage {j} step (cached prefix)"));
    cache.record_gather(&mut p, &feed.ids, &feed.valid, &x)?;
    let (_, trained) = trained_blocks(model, Trains::Stage(j));
    record_trained_blocks(&mut p, &trained, &x, &feed.labels, ctx.io, ctx.scratch)?;
    p.finish()
}

/// The caches of one greedy stage (none for stage 0, whose input is the images).
pub struct PrefixCaches {
    pub train: Option<RowCache>,
    pub eval: Option<EvalCache>,
}

/// The frozen heads' weighted scores for the validation split and, when they fit, stage j's
/// input: the heads are cached always (one row of `classes` floats per image), the features only
/// within the memory limit (without them, evaluation still runs stages 0..j-1, but no frozen head).
pub struct EvalCache {
    features: Option<RowCache>,
    scores: RowCache,
    /// Accuracy (%) of heads 0..j-1 (their ensemble's is not used): fixed while they are frozen.
    pub frozen_acc: Accuracy,
}

/// Below this many forward FLOPs per float of stage j's input, recomputing the frozen stages is about as
/// cheap as writing their output once and reading it back every epoch (4 bytes out, 4 in, per float
/// and epoch), and the cache would only cost memory: the case of a first stage over a 1-3 channel image
/// (a 3x3 conv from 1 channel spends 18 FLOPs per output; from 16 channels, 288).
pub const MIN_FLOPS_PER_CACHED_FLOAT: f64 = 64.0;

/// Forward FLOPs the frozen stages 0..j-1 spend per float of stage j's input.
pub fn prefix_flops_per_float(model: &Model, j: usize) -> f64 {
    let flops: u64 = model.spec.stages[..j].iter().map(|s| s.flops()).sum();
    flops as f64 / input_len(model, j).max(1) as f64
}

/// Whether caching stage j's input saves more than it costs (see `MIN_FLOPS_PER_CACHED_FLOAT`).
pub fn cache_pays(model: &Model, j: usize) -> bool {
    prefix_flops_per_float(model, j) >= MIN_FLOPS_PER_CACHED_FLOAT
}

/// Bytes of the evaluation cache's score rows for `images` validation images.
pub fn eval_scores_bytes(model: &Model, images: usize) -> u64 {
    RowCache::bytes(images, model.spec.classes)
}

/// One pass over the validation split through the frozen prefix of stage `j` (j >= 1), storing what
/// every later epoch's evaluation needs: the frozen heads' weighted scores, and stage j's input when
/// `with_features`.
pub fn build_eval_cache(
    ctx: &StepContext,
    feed: &mut Feed,
    j: usize,
    data: &Split,
    readback: &Readback,
    with_features: bool,
) -> Result<EvalCache> {
    assert!(j >= 1);
    let (gpu, model) = (ctx.gpu, ctx.model);
    let (n, classes, images) = (feed.batch, model.spec.classes, data.len());
    let features = match with_features {
        true => {
            Some(RowCache::new(gpu, images, &model.spec.stages[j].input.batched(1)[1..], "validation feature cache")?)
        }
        false => None,
    };
    let scores = RowCache::new(gpu, images, &[classes], "validation score cache")?;
    let mut p = PlanBuilder::new(gpu, format!("cache stage {j} validation input"));
    let sum = gpu.tensor(&[n, classes], "ensemble scores")?;
    let zeros = gpu.tensor(&[n, classes], "zeros")?;
    let counts = (0..j).map(|_| gpu.tensor(&[2], "correct count")).collect::<Result<Vec<_>>>()?;
    p.copy(&zeros, &sum);
    // The frozen heads' weights are normalised over every head up to stage j's, as in `eval_step`.
    let ensemble: Vec<usize> = (0..=j).collect();
    let heads =
        EvalHeads { heads: &ensemble[..j], ensemble: &ensemble, scores: &sum, counts: &counts, prefixes: false };
    let x = record_eval_stages(&mut p, ctx, feed, j, Some(&heads))?;
    if let Some(f) = &features {
        f.record_scatter(&mut p, &x, &feed.ids, &feed.valid)?;
    }
    scores.record_scatter(&mut p, &sum, &feed.ids, &feed.valid)?;
    let plan = p.finish()?;
    for c in &counts {
        gpu.fill(c, 0.0);
    }
    feed.run_over(gpu, data, &plan)?;
    let (mut top1, mut top5) = (Vec::with_capacity(j), Vec::with_capacity(j));
    for c in &counts {
        let counts = readback.read_f32(gpu, c)?;
        top1.push(100.0 * counts[0] as f64 / images as f64);
        top5.push(100.0 * counts[1] as f64 / images as f64);
    }
    let top5 = Accuracy::top5_meaningful(classes).then_some(top5);
    let frozen_acc = Accuracy { top1, top5, ..Default::default() };
    Ok(EvalCache { features, scores, frozen_acc })
}

/// Evaluation of stage `j` from `cache`: stage j's input gathered from the cache (or recomputed by
/// stages 0..j-1 when it is not cached), stage j and head j, then the ensemble from the cached
/// scores of the frozen heads. `counts` = [head j, ensemble of heads 0..=j].
pub fn eval_step_cached(ctx: &StepContext, feed: &Feed, j: usize, cache: &EvalCache) -> Result<EvalStep> {
    let (gpu, model, scratch) = (ctx.gpu, ctx.model, ctx.scratch);
    let (n, classes) = (feed.batch, model.spec.classes);
    let mut p = PlanBuilder::new(gpu, format!("eval stage {j} (cached prefix)"));
    let sum = gpu.tensor(&[n, classes], "ensemble scores")?;
    cache.scores.record_gather(&mut p, &feed.ids, &feed.valid, &sum)?;
    let x = match &cache.features {
        Some(f) => {
            let x = gpu.tensor(&model.spec.stages[j].input.batched(n), "cached stage input")?;
            f.record_gather(&mut p, &feed.ids, &feed.valid, &x)?;
            x
        }
        None => record_eval_stages(&mut p, ctx, feed, j, None)?,
    };
    let out = gpu.tensor(&model.stages[j].spec.output().batched(n), "stage output")?;
    let logits = gpu.tensor(&[n, classes], "eval logits")?;
    let counts = (0..2).map(|_| gpu.tensor(&[2], "correct count")).collect::<Result<Vec<_>>>()?;
    let y = model.stages[j].forward_eval(&mut p, &x, scratch, Some(&out))?;
    model.heads[j].forward_eval(&mut p, &y, scratch, Some(&logits))?;
    ops::count_correct(&mut p, &logits, &feed.labels, &counts[0])?;
    let ensemble: Vec<usize> = (0..=j).collect();
    record_ensemble_add(&mut p, ctx.cfg, &logits, &sum, ensemble_weight(j, &ensemble))?;
    ops::count_correct(&mut p, &sum, &feed.labels, &counts[1])?;
    Ok(EvalStep { plan: p.finish()?, counts })
}

impl Run {
    /// The frozen-prefix caches of greedy stage `j` the config asks for and the memory limit allows;
    /// evaluation without its cache recomputes the prefix every epoch.
    pub(super) fn prefix_caches(&mut self, j: usize, scratch: &Scratch) -> Result<PrefixCaches> {
        self.train_feed.with_images = true;
        let mut caches = PrefixCaches { train: None, eval: None };
        // Stage 0 reads images; a stage resumed after its last epoch has nothing left to run.
        if j == 0 || self.progress.epoch >= self.cfg.epochs {
            return Ok(caches);
        }
        let mut used = 0;
        if self.cfg.cache.train && !cache_pays(&self.model, j) {
            self.display.line(&format!(
                "stage {j}: training recomputes stages 0..{} every step (at {:.0} FLOPs per float of their output, recomputing costs about what caching would save)",
                j - 1,
                prefix_flops_per_float(&self.model, j)
            ));
        } else if self.cfg.cache.train {
            // Checked against the limit before training started (check_train_cache).
            used = train_cache_bytes(&self.model, j, self.data.train.len());
            caches.train = Some(self.train_cache(j, scratch, used)?);
        }
        if self.cfg.cache.eval {
            caches.eval = self.eval_cache(j, scratch, used)?;
        }
        Ok(caches)
    }

    /// Stage `j`'s input for every training image, taking `bytes`.
    fn train_cache(&mut self, j: usize, scratch: &Scratch, bytes: u64) -> Result<RowCache> {
        let images = self.data.train.len();
        self.display
            .line(&format!("stage {j}: caching its input for {images} training images ({:.0} MiB)", mib(bytes).ceil()));
        let ctx = StepContext { gpu: &self.gpu, cfg: &self.cfg, model: &self.model, io: &self.io, scratch };
        let cache = build_train_cache(&ctx, &mut self.train_feed, j, &self.data.train).map_err(|e| match e {
            Error::OutOfMemory { what, needed_mib, limit, .. } => Error::OutOfMemory {
                what,
                needed_mib,
                limit,
                hint: "Set cache.train = false to recompute the frozen stages every step instead.".into(),
            },
            e => e,
        })?;
        self.train_feed.with_images = false;
        Ok(cache)
    }

    /// The evaluation cache of stage `j` within what the limit leaves beside `used` bytes: the frozen
    /// heads' scores (tiny) and, where they fit and pay, stage j's validation input. None when
    /// even the scores do not fit or the device refuses them.
    fn eval_cache(&mut self, j: usize, scratch: &Scratch, used: u64) -> Result<Option<EvalCache>> {
        let (limit_mib, images) = (self.cfg.cache.limit_mib, self.data.val.len());
        let limit = limit_mib as u64 * 1024 * 1024;
        let scores = eval_scores_bytes(&self.model, images);
        let features = eval_features_bytes(&self.model, j, images);
        let (features_fit, features_pay) = (used + scores + features <= limit, cache_pays(&self.model, j));
        if used + scores > limit {
            self.display.line(&format!("stage {j}: evaluation recomputes the frozen prefix every epoch: even the frozen heads' predictions would pass cache.limit_mib = {limit_mib}"));
            return Ok(None);
        }
        let mut with_features = features_fit && features_pay;
        let what = match with_features {
            true => format!("output ({:.0} MiB) and their heads' predictions", mib(features).ceil()),
            false => "heads' predictions".into(),
        };
        self.display.line(&format!("stage {j}: caching the frozen stages' {what} for {images} validation images"));
        let ctx = StepContext { gpu: &self.gpu, cfg: &self.cfg, model: &self.model, io: &self.io, scratch };
        let cache = loop {
            match build_eval_cache(&ctx, &mut self.eval_feed, j, &self.data.val, &self.readback, with_features) {
                Ok(c) => break c,
                // An optional saving: a device that cannot hold it still trains, recomputing.
                Err(Error::OutOfMemory { limit, .. }) if with_features => {
                    self.display.line(&format!("stage {j}: the device refused the validation feature cache ({limit})"));
                    with_features = false;
                }
                Err(Error::OutOfMemory { limit, .. }) => {
                    self.display.line(&format!("stage {j}: evaluation recomputes the frozen prefix every epoch: the device refused its cache ({limit})"));
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        };
        let flops_per_float = prefix_flops_per_float(&self.model, j);
        if !features_pay {
            self.display.line(&format!(
                "stage {j}: evaluation runs stages 0..{} every epoch (at {flops_per_float:.0} FLOPs per float of their output, recomputing costs about what caching would save); the frozen heads' predictions are cached",
                j - 1
            ));
        } else if !features_fit {
            self.display.line(&format!(
                "stage {j}: evaluation runs stages 0..{} every epoch (their validation output would take {:.0} MiB, past cache.limit_mib = {limit_mib}); the frozen heads' predictions are cached",
                j - 1,
                mib(features).ceil(),
            ));
        }
        Ok(Some(cache))
    }
}
