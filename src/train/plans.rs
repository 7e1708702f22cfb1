//! The recorded steps: a greedy/e2e training step here, the DGL steps (`dgl.rs`) and the evaluation
//! steps (`eval.rs`). Each is built once per stage (all allocation happens here) and replayed with one
//! submit per batch.

mod dgl;
mod eval;

pub use dgl::{record_dgl_body, record_dgl_forward, record_dgl_stage};
pub use eval::{
    ensemble_weight, eval_step, eval_step_prefixes, record_ensemble_add, record_eval_stages, EvalHeads, EvalStep,
};

use super::accumulate::record_accumulated_gradients;
use super::feed::Feed;
use std::ops::Range;

use crate::config::{Config, Method};
use crate::error::Result;
use crate::gpu::{Gpu, ParamArena, Plan, PlanBuilder, Tensor};
use crate::model::block::{Block, Scratch, Trace};
use crate::model::{BlockSpec, Model};
use crate::ops::{self, AugmentConfig};

/// Device-side values every step reads at run time: RNG key, SGD hyper-parameters, loss statistics.
pub struct StepIo {
    /// [seed, epoch key], written by the host when the epoch changes.
    pub rng: Tensor,
    /// [lr, momentum, weight decay, nesterov], written when the LR changes.
    pub hyper: Tensor,
    /// [sum of batch-mean losses, correct count, diverged 0/1] since the last reset (see
    /// `ops::cross_entropy`; SGD applies no update while diverged is set).
    pub stats: Tensor,
}

impl StepIo {
    pub fn new(gpu: &Gpu) -> Result<StepIo> {
        Ok(StepIo {
            rng: gpu.tensor_u32(&[2], "rng key")?,
            hyper: gpu.tensor(&[4], "sgd hyper")?,
            stats: gpu.tensor(&[3], "train stats")?,
        })
    }

    pub fn set_lr(&self, gpu: &Gpu, cfg: &Config, lr: f64) {
        let o = &cfg.optimizer;
        gpu.upload(
            &self.hyper,
            &[lr as f32, o.momentum as f32, o.weight_decay as f32, if o.nesterov { 1.0 } else { 0.0 }],
        );
    }
}

/// A new SGD for `blocks`: their momentum buffers start again from zero (PyTorch's first step then
/// sets the buffer to the gradient, as our update does from zero). Blocks that do not train hold none.
pub fn zero_momentum(gpu: &Gpu, blocks: &[&Block]) {
    for t in blocks.iter().filter_map(|b| b.training()) {
        if !t.momentum.tensors.is_empty() {
            gpu.fill(&t.momentum.all, 0.0);
        }
    }
}

/// The stages and heads that hold gradients and momentum while a run of `method` is at stage `stage`
/// (`Progress::stage`) of `stages`: greedy stage j and head j, end to end every stage and the last
/// head, DGL every block; none once the run is over.
pub fn training_parts(method: Method, stage: usize, stages: usize) -> (Range<usize>, Range<usize>) {
    if stage >= stages {
        return (0..0, 0..0);
    }
    match method {
        Method::Greedy => Trains::Stage(stage).parts(stages),
        Method::E2e => Trains::All.parts(stages),
        Method::Dgl | Method::DglAsync => (0..stages, 0..stages),
    }
}

/// Gradients and momentum for what `trains` trains only (`Model::train_only`).
pub fn hold_training(gpu: &Gpu, model: &mut Model, trains: Trains) -> Result<()> {
    let (stages, heads) = trains.parts(model.stages.len());
    model.train_only(gpu, stages, heads)
}

/// What every recorder of a stage's steps reads: the device, the config, the model, the device-side
/// step values and the scratch that the passes of one plan share. The batch feed is an argument of its
/// own: a stage's training and evaluation steps read different feeds through the same context.
#[derive(Clone, Copy)]
pub struct StepContext<'a> {
    pub gpu: &'a Gpu,
    pub cfg: &'a Config,
    pub model: &'a Model,
    pub io: &'a StepIo,
    pub scratch: &'a Scratch,
}

/// What a greedy-style training step trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trains {
    /// Stage j and head j, on the output of the frozen stages 0..j-1 (greedy).
    Stage(usize),
    /// Every stage and the last head (end to end).
    All,
}

impl Trains {
    /// The stages and heads trained, in a model of `stages` stages.
    pub fn parts(self, stages: usize) -> (Range<usize>, Range<usize>) {
        match self {
            Trains::Stage(j) => (j..j + 1, j..j + 1),
            Trains::All => (0..stages, stages - 1..stages),
        }
    }
}

pub fn augment_config(cfg: &Config, train: bool) -> AugmentConfig {
    let mut mean = [0f32; 4];
    let mut std = [1f32; 4];
    for (i, (m, s)) in cfg.augment.mean.iter().zip(&cfg.augment.std).enumerate() {
        mean[i] = *m;
        std[i] = *s;
    }
    if train {
        AugmentConfig { mean, std, pad: cfg.augment.pad, flip: cfg.augment.flip, augment: true }
    } else {
        AugmentConfig::eval(mean, std)
    }
}

/// The blocks a training step updates, and the frozen ones below them.
pub fn trained_blocks(model: &Model, trains: Trains) -> (&[Block], Vec<&Block>) {
    match trains {
        Trains::All => (&[], model.stages.iter().chain(model.heads.last()).collect()),
        Trains::Stage(j) => (&model.stages[..j], vec![&model.stages[j], &model.heads[j]]),
    }
}

/// Scratch big enough for both the training and the evaluation step of stage `j`.
pub fn scratch_for(gpu: &Gpu, model: &Model, j: usize, batch: usize) -> Result<Scratch> {
    let specs: Vec<&BlockSpec> =
        model.stages[..=j].iter().chain(&model.heads[..=j]).chain(model.heads.last()).map(|b| &b.spec).collect();
    Scratch::new(gpu, &specs, batch)
}

/// Greedy step for stage j or end-to-end step through every stage and the last head, from the feed.
/// Frozen stages run in evaluation mode (running statistics, never updated); the trained blocks run
/// forward with batch statistics, backward, and take one SGD step each.
pub fn train_step(ctx: &StepContext, feed: &Feed, trains: Trains) -> Result<Plan> {
    let mut p = PlanBuilder::new(ctx.gpu, step_label(trains));
    let grads = record_step_gradients(&mut p, ctx, feed, trains)?;
    record_sgd(&mut p, &trained_blocks(ctx.model, trains).1, &grads, ctx.io)?;
    p.finish()
}

/// What a greedy or e2e step's plans are called.
pub fn step_label(trains: Trains) -> String {
    match trains {
        Trains::All => "e2e step".to_string(),
        Trains::Stage(j) => format!("stage {j} step"),
    }
}

/// A training step up to its update: the input pipeline from the feed, the frozen stages forward, the
/// trained blocks forward and backward (as `grad_accum` micro-batches when set). Returns the gradient
/// arena of each trained block (`trained_blocks`' order) that the update is to read.
pub fn record_step_gradients(
    p: &mut PlanBuilder,
    ctx: &StepContext,
    feed: &Feed,
    trains: Trains,
) -> Result<Vec<ParamArena>> {
    let x0 = ctx.gpu.tensor(&ctx.model.spec.input.batched(feed.batch), "normalised input")?;
    ops::augment_batch(p, &feed.images, &feed.ids, &ctx.io.rng, &x0, &augment_config(ctx.cfg, true))?;
    let (model, labels, io, scratch) = (ctx.model, &feed.labels, ctx.io, ctx.scratch);
    if ctx.cfg.grad_accum > 1 {
        return record_accumulated_gradients(p, model, trains, &x0, labels, io, scratch, ctx.cfg.micro_batch());
    }
    record_body_gradients(p, model, trains, &x0, labels, io, scratch)
}

/// One SGD step of each of `trained` from its gradient arena in `grads`, with `io.hyper` (nothing
/// applied once `io.stats` flags divergence).
pub fn record_sgd(p: &mut PlanBuilder, trained: &[&Block], grads: &[ParamArena], io: &StepIo) -> Result<()> {
    for (b, g) in trained.iter().zip(grads) {
        b.sgd_from(p, g, &io.hyper, &io.stats)?;
    }
    Ok(())
}

/// The part of a training step after the input pipeline, from the normalised batch `x0` and its
/// labels (also used by the PyTorch-oracle test, which feeds its own floats).
pub fn record_train_body(
    p: &mut PlanBuilder,
    model: &Model,
    trains: Trains,
    x0: &Tensor,
    labels: &Tensor,
    io: &StepIo,
    scratch: &Scratch,
) -> Result<()> {
    let grads = record_body_gradients(p, model, trains, x0, labels, io, scratch)?;
    record_sgd(p, &trained_blocks(model, trains).1, &grads, io)
}

/// `record_train_body` up to its update: the frozen stages forward, the trained blocks' gradients.
/// Returns the trained blocks' gradient arenas (`trained_blocks`' order).
fn record_body_gradients(
    p: &mut PlanBuilder,
    model: &Model,
    trains: Trains,
    x0: &Tensor,
    labels: &Tensor,
    io: &StepIo,
    scratch: &Scratch,
) -> Result<Vec<ParamArena>> {
    let (frozen, trained) = trained_blocks(model, trains);
    let mut x = x0.clone();
    for s in frozen {
        x = s.forward_eval(p, &x, scratch, None)?;
    }
    record_trained_gradients(p, &trained, &x, labels, io, scratch, None)?;
    trained.iter().map(|b| b.grads().cloned()).collect()
}

/// The trained blocks' part of a step, from their input `x`: forward in training mode, loss into
/// `io.stats`, backward (no gradient for `x` itself), one SGD step of each with `io.hyper`.
pub fn record_trained_blocks(
    p: &mut PlanBuilder,
    trained: &[&Block],
    x: &Tensor,
    labels: &Tensor,
    io: &StepIo,
    scratch: &Scratch,
) -> Result<()> {
    record_trained_gradients(p, trained, x, labels, io, scratch, None)?;
    for b in trained {
        b.sgd(p, &io.hyper, &io.stats)?;
    }
    Ok(())
}

/// What a training pass of the trained blocks leaves: their activations and the loss gradient, which
/// the next micro-batch of the same step writes over (`record_trained_gradients`'s `reuse`).
pub struct TrainedPass {
    traces: Vec<Trace>,
    d_logits: Tensor,
}

/// Forward of the trained blocks in training mode from `x`, loss into `io.stats`, backward: each
/// block's gradients into its `grads` (no gradient for `x` itself). With `reuse`, into the
/// activations of an earlier pass at the same batch size instead of new ones.
pub fn record_trained_gradients(
    p: &mut PlanBuilder,
    trained: &[&Block],
    x: &Tensor,
    labels: &Tensor,
    io: &StepIo,
    scratch: &Scratch,
    reuse: Option<&TrainedPass>,
) -> Result<TrainedPass> {
    let gpu = p.gpu();
    let mut x = x.clone();
    let mut traces: Vec<Trace> = Vec::with_capacity(trained.len());
    for (i, b) in trained.iter().enumerate() {
        let t = b.forward_train_into(p, &x, scratch, reuse.map(|r| &r.traces[i]))?;
        x = t.output().clone();
        traces.push(t);
    }
    let d_logits = match reuse {
        Some(r) => r.d_logits.clone(),
        None => gpu.tensor(x.shape(), "d_logits")?,
    };
    ops::cross_entropy(p, &x, labels, &d_logits, &io.stats)?;
    let mut g = d_logits.clone();
    for (i, (b, t)) in trained.iter().zip(&traces).enumerate().rev() {
        // The first trained block's input comes from frozen stages (or is the image): no gradient.
        match b.backward(p, t, &g, i > 0, scratch)? {
            Some(d) => g = d,
            None => break,
        }
    }
    Ok(TrainedPass { traces, d_logits })
}
