//! Greedy training's frozen-prefix caches. While stage j trains, stages 0..j-1 and heads 0..j-1 are
//! frozen in evaluation mode, so their outputs for a given image never change during the stage:
//! - evaluation (on by default) computes once per stage, over the validation split, the frozen heads'
//!   weighted probabilities and, memory permitting, stage j's input; every epoch then runs stage j and
//!   head j only (plus stages 0..j-1 when their output did not fit). The frozen heads' accuracies are
//!   constants of the stage.
//! - training (`cache.train`, augmentation off) does the same for every training image, so a step
//!   gathers its batch's features instead of running the prefix.
//!
//! Both give bit-identical results to recomputing: the same kernels run on the same batches, only
//! once. Memory: one row per image of stage j's input (plus the class probabilities for evaluation),
//! checked against `cache.limit_mib` before anything is allocated.

// The recorders take (gpu, cfg, model, feed, io, scratch) one by one until they share a step context.
#![allow(clippy::too_many_arguments)]

use super::feed::Feed;
use super::plans::{record_eval_stages, record_trained_blocks, trained_blocks, EvalHeads, EvalStep, StepIo};
use crate::config::Config;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Plan, PlanBuilder, Tensor};
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
    if !cfg.cache.train {
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
pub fn build_train_cache(
    gpu: &Gpu,
    cfg: &Config,
    model: &Model,
    j: usize,
    feed: &mut Feed,
    data: &Dataset,
    io: &StepIo,
    scratch: &Scratch,
) -> Result<RowCache> {
    assert!(j >= 1 && cfg.cache.train);
    let cache = RowCache::new(gpu, data.len(), &model.spec.stages[j].input.batched(1)[1..], "training feature cache")?;
    let mut p = PlanBuilder::new(gpu, format!("cache stage {j} training input"));
    let x = record_eval_stages(&mut p, cfg, model, j, None, feed, io, scratch)?;
    cache.record_scatter(&mut p, &x, &feed.ids, &feed.valid)?;
    feed.run_over(gpu, data, &p.finish()?)?;
    Ok(cache)
}

/// The greedy step of stage `j` reading its input from `cache` by the batch's dataset indices: the
/// same dispatches as `plans::train_step` after its frozen prefix.
pub fn train_step_cached(
    gpu: &Gpu,
    model: &Model,
    j: usize,
    cache: &RowCache,
    feed: &Feed,
    io: &StepIo,
    scratch: &Scratch,
) -> Result<Plan> {
    let x = gpu.tensor(&model.spec.stages[j].input.batched(feed.batch), "cached stage input")?;
    let mut p = PlanBuilder::new(gpu, format!("stage {j} step (cached prefix)"));
    cache.record_gather(&mut p, &feed.ids, &feed.valid, &x)?;
    let (_, trained) = trained_blocks(model, j, false);
    record_trained_blocks(&mut p, &trained, &x, &feed.labels, io, scratch)?;
    p.finish()
}

/// The caches of one greedy stage (none for stage 0, whose input is the images).
pub struct PrefixCaches {
    pub train: Option<RowCache>,
    pub eval: Option<EvalCache>,
}

/// The frozen heads' weighted probabilities for the validation split and, when they fit, stage j's
/// input: the heads are cached always (one row of `classes` floats per image), the features only
/// within the memory limit (without them, evaluation still runs stages 0..j-1, but no frozen head).
pub struct EvalCache {
    features: Option<RowCache>,
    probs: RowCache,
    /// Accuracy (%) of heads 0..j-1: fixed while they are frozen.
    pub frozen_acc: Vec<f64>,
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

/// Bytes of the evaluation cache's probability rows for `images` validation images.
pub fn eval_probs_bytes(model: &Model, images: usize) -> u64 {
    RowCache::bytes(images, model.spec.classes)
}

/// The ensemble weights' normaliser when heads 0..=j are evaluated: the same sum `plans::eval_step`
/// takes, so cached and recomputed ensembles agree to the bit.
fn ensemble_total(j: usize) -> f64 {
    (0..=j).map(|i| 2f64.powi(i as i32)).sum()
}

/// One pass over the validation split through the frozen prefix of stage `j` (j >= 1), storing what
/// every later epoch's evaluation needs: the frozen heads' probabilities, and stage j's input when
/// `with_features`.
pub fn build_eval_cache(
    gpu: &Gpu,
    cfg: &Config,
    model: &Model,
    j: usize,
    feed: &mut Feed,
    data: &Dataset,
    io: &StepIo,
    scratch: &Scratch,
    readback: &crate::gpu::Readback,
    with_features: bool,
) -> Result<EvalCache> {
    assert!(j >= 1);
    let (n, classes, images) = (feed.batch, model.spec.classes, data.len());
    let features = match with_features {
        true => {
            Some(RowCache::new(gpu, images, &model.spec.stages[j].input.batched(1)[1..], "validation feature cache")?)
        }
        false => None,
    };
    let probs = RowCache::new(gpu, images, &[classes], "validation probability cache")?;
    let mut p = PlanBuilder::new(gpu, format!("cache stage {j} validation input"));
    let sum = gpu.tensor(&[n, classes], "ensemble probabilities")?;
    let zeros = gpu.tensor(&[n, classes], "zeros")?;
    let counts = (0..j).map(|_| gpu.tensor(&[1], "correct count")).collect::<Result<Vec<_>>>()?;
    p.copy(&zeros, &sum);
    let frozen: Vec<usize> = (0..j).collect();
    let heads = EvalHeads { heads: &frozen, total: ensemble_total(j), probs: &sum, counts: &counts, prefixes: false };
    let x = record_eval_stages(&mut p, cfg, model, j, Some(&heads), feed, io, scratch)?;
    if let Some(f) = &features {
        f.record_scatter(&mut p, &x, &feed.ids, &feed.valid)?;
    }
    probs.record_scatter(&mut p, &sum, &feed.ids, &feed.valid)?;
    let plan = p.finish()?;
    for c in &counts {
        gpu.fill(c, 0.0);
    }
    feed.run_over(gpu, data, &plan)?;
    let mut frozen_acc = Vec::with_capacity(j);
    for c in &counts {
        frozen_acc.push(100.0 * readback.read_f32(gpu, c)?[0] as f64 / images as f64);
    }
    Ok(EvalCache { features, probs, frozen_acc })
}

/// Evaluation of stage `j` from `cache`: stage j's input gathered from the cache (or recomputed by
/// stages 0..j-1 when it is not cached), stage j and head j, then the ensemble from the cached
/// probabilities of the frozen heads. `counts` = [head j, ensemble of heads 0..=j].
pub fn eval_step_cached(
    gpu: &Gpu,
    cfg: &Config,
    model: &Model,
    j: usize,
    cache: &EvalCache,
    feed: &Feed,
    io: &StepIo,
    scratch: &Scratch,
) -> Result<EvalStep> {
    let (n, classes) = (feed.batch, model.spec.classes);
    let mut p = PlanBuilder::new(gpu, format!("eval stage {j} (cached prefix)"));
    let sum = gpu.tensor(&[n, classes], "ensemble probabilities")?;
    cache.probs.record_gather(&mut p, &feed.ids, &feed.valid, &sum)?;
    let x = match &cache.features {
        Some(f) => {
            let x = gpu.tensor(&model.spec.stages[j].input.batched(n), "cached stage input")?;
            f.record_gather(&mut p, &feed.ids, &feed.valid, &x)?;
            x
        }
        None => record_eval_stages(&mut p, cfg, model, j, None, feed, io, scratch)?,
    };
    let out = gpu.tensor(&model.stages[j].spec.output().batched(n), "stage output")?;
    let logits = gpu.tensor(&[n, classes], "eval logits")?;
    let counts = (0..2).map(|_| gpu.tensor(&[1], "correct count")).collect::<Result<Vec<_>>>()?;
    let y = model.stages[j].forward_eval(&mut p, &x, scratch, Some(&out))?;
    model.heads[j].forward_eval(&mut p, &y, scratch, Some(&logits))?;
    ops::count_correct(&mut p, &logits, &feed.labels, &counts[0])?;
    ops::softmax_accumulate(&mut p, &logits, &sum, (2f64.powi(j as i32) / ensemble_total(j)) as f32)?;
    ops::count_correct(&mut p, &sum, &feed.labels, &counts[1])?;
    Ok(EvalStep { plan: p.finish()?, counts })
}
