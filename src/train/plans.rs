//! The recorded steps: a greedy/e2e training step, the DGL steps and the evaluation steps. Each is
//! built once per stage (all allocation happens here) and replayed with one submit per batch.

use super::accumulate::record_accumulated_gradients;
use super::feed::Feed;
use super::source::Split;
use std::ops::Range;

use crate::config::{Config, Ensemble, Method};
use crate::error::Result;
use crate::gpu::{Gpu, ParamArena, Plan, PlanBuilder, Readback, Tensor};
use crate::metrics::Accuracy;
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
        Method::Greedy => (stage..stage + 1, stage..stage + 1),
        Method::E2e => (0..stages, stages - 1..stages),
        Method::Dgl | Method::DglAsync => (0..stages, 0..stages),
    }
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
    let (frozen, trained) = trained_blocks(model, trains);
    if ctx.cfg.grad_accum > 1 {
        return record_accumulated_gradients(p, model, trains, &x0, labels, io, scratch, ctx.cfg.micro_batch());
    }
    let mut x = x0;
    for s in frozen {
        x = s.forward_eval(p, &x, scratch, None)?;
    }
    record_trained_gradients(p, &trained, &x, labels, io, scratch, None)?;
    trained.iter().map(|b| b.training().map(|t| t.grads.clone()).ok_or_else(|| not_training(b))).collect()
}

/// The error of recording an update for a block that holds no gradients (a bug, not bad input).
fn not_training(b: &Block) -> crate::error::Error {
    crate::error::Error::gpu(format!("{} is trained but holds no gradients (Model::train_only)", b.spec.name))
}

/// One SGD step of each of `trained` from its gradient arena in `grads`, with `io.hyper` (nothing
/// applied once `io.stats` flags divergence).
pub fn record_sgd(p: &mut PlanBuilder, trained: &[&Block], grads: &[ParamArena], io: &StepIo) -> Result<()> {
    for (b, g) in trained.iter().zip(grads) {
        if b.params.tensors.is_empty() {
            continue;
        }
        let t = b.training().ok_or_else(|| not_training(b))?;
        ops::sgd_update(p, &b.params, g, &t.momentum, &io.hyper, &io.stats)?;
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
    let (frozen, trained) = trained_blocks(model, trains);
    let mut x = x0.clone();
    for s in frozen {
        x = s.forward_eval(p, &x, scratch, None)?;
    }
    record_trained_blocks(p, &trained, &x, labels, io, scratch)
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

/// One decoupled-greedy step of stage `j` on `x` ([n, ..stage j's input], the normalised images or a
/// detached stage j-1 output): stage j forward in training mode, head j, cross-entropy accumulated into
/// the stage's own `io.stats`, backward through head j and stage j only (nothing flows back into what
/// produced `x`), one SGD step of each with `io.hyper`. The same dispatches, in the same order, as
/// `record_train_body` for stage j without its frozen prefix. Returns stage j's output, computed before
/// the update: what stage j+1 trains on (PyTorch's `out.detach()`).
pub fn record_dgl_stage(
    p: &mut PlanBuilder,
    model: &Model,
    j: usize,
    x: &Tensor,
    labels: &Tensor,
    io: &StepIo,
    scratch: &Scratch,
) -> Result<Tensor> {
    let gpu = p.gpu();
    let (stage, head) = (&model.stages[j], &model.heads[j]);
    let ts = stage.forward_train(p, x, scratch)?;
    let th = head.forward_train(p, ts.output(), scratch)?;
    let d_logits = gpu.tensor(th.output().shape(), "d_logits")?;
    ops::cross_entropy(p, th.output(), labels, &d_logits, &io.stats)?;
    let g = head.backward(p, &th, &d_logits, true, scratch)?.expect("an input gradient was asked for");
    stage.backward(p, &ts, &g, false, scratch)?;
    stage.sgd(p, &io.hyper, &io.stats)?;
    head.sgd(p, &io.hyper, &io.stats)?;
    Ok(ts.output().clone())
}

/// A dgl-async step of stage `j` once it has trained all its epochs, on `x` as `record_dgl_stage`'s,
/// with the stage's own step values in `ctx.io`: stage j and head j forward in evaluation mode (running
/// statistics, nothing updated), stage j's output into `out` (where its training step leaves it, so the
/// same copies pass it on), head j's loss and correct count into `ctx.io.stats`.
pub fn record_dgl_forward(
    p: &mut PlanBuilder,
    ctx: &StepContext,
    j: usize,
    x: &Tensor,
    labels: &Tensor,
    out: &Tensor,
) -> Result<()> {
    let (gpu, model) = (p.gpu(), ctx.model);
    let (n, classes) = (x.shape()[0], model.spec.classes);
    let y = model.stages[j].forward_eval(p, x, ctx.scratch, Some(out))?;
    let logits = gpu.tensor(&[n, classes], "forward-only logits")?;
    model.heads[j].forward_eval(p, &y, ctx.scratch, Some(&logits))?;
    // The loss kernel also writes the gradient, which nothing reads here.
    let d_logits = gpu.tensor(&[n, classes], "unused d_logits")?;
    ops::cross_entropy(p, &logits, labels, &d_logits, &ctx.io.stats)
}

/// Synchronous DGL over every stage from the normalised batch `x0` ([n, H, W, C]): stage j trains on
/// stage j-1's output of this same step with its own `ios[j]` (SGD hyper-parameters, loss statistics).
pub fn record_dgl_body(
    p: &mut PlanBuilder,
    model: &Model,
    x0: &Tensor,
    labels: &Tensor,
    ios: &[StepIo],
    scratch: &Scratch,
) -> Result<()> {
    assert_eq!(ios.len(), model.stages.len(), "one StepIo per stage");
    let mut x = x0.clone();
    for (j, io) in ios.iter().enumerate() {
        x = record_dgl_stage(p, model, j, &x, labels, io, scratch)?;
    }
    Ok(())
}

/// Add one head's `logits` ([n, classes]) with `weight` into the ensemble's `scores`: its softmax
/// probabilities or its raw logits, as the config's `ensemble` says.
pub fn record_ensemble_add(
    p: &mut PlanBuilder,
    cfg: &Config,
    logits: &Tensor,
    scores: &Tensor,
    weight: f32,
) -> Result<()> {
    match cfg.ensemble {
        Ensemble::Softmax => ops::softmax_accumulate(p, logits, scores, weight),
        Ensemble::Logits => ops::logits_accumulate(p, logits, scores, weight),
    }
}

/// Weight of head `h` in the ensemble normalised over `heads`: 2^h / sum of 2^i over `heads` (deeper
/// heads count more, as in paper 1). Every evaluation path takes its weights from here, so cached and
/// recomputed ensembles agree to the bit.
pub fn ensemble_weight(h: usize, heads: &[usize]) -> f32 {
    let total: f64 = heads.iter().map(|&i| 2f64.powi(i as i32)).sum();
    (2f64.powi(h as i32) / total) as f32
}

/// A replayable evaluation step over stages 0..=upto: the chosen heads' correct counts and their
/// ensemble's.
pub struct EvalStep {
    pub plan: Plan,
    /// Correct counts, [2] each (top 1, top 5): one per evaluated head, then the ensemble.
    pub counts: Vec<Tensor>,
}

impl EvalStep {
    /// Run over all of `data`, a batch at a time through `feed`: accuracy (%) of each evaluated head
    /// and of their ensemble (the last count), top 1 and (more than 5 classes) top 5.
    pub fn run(&self, gpu: &Gpu, feed: &mut Feed, readback: &Readback, data: &Split) -> Result<Accuracy> {
        for c in &self.counts {
            gpu.fill(c, 0.0);
        }
        feed.run_over(gpu, data, &self.plan)?;
        let n = data.len() as f64;
        let (mut top1, mut top5) = (Vec::new(), Vec::new());
        for c in &self.counts {
            let counts = readback.read_f32(gpu, c)?;
            top1.push(100.0 * counts[0] as f64 / n);
            top5.push(100.0 * counts[1] as f64 / n);
        }
        let ensemble_top1 = top1.pop().unwrap_or(f64::NAN);
        let ensemble_top5 = top5.pop().unwrap_or(f64::NAN);
        Ok(match Accuracy::top5_meaningful(data.classes().len()) {
            true => Accuracy { top1, ensemble_top1, top5: Some(top5), ensemble_top5: Some(ensemble_top5) },
            false => Accuracy { top1, ensemble_top1, top5: None, ensemble_top5: None },
        })
    }
}

/// `heads`: which heads to evaluate (all up to `upto` for greedy; the last only for e2e).
pub fn eval_step(ctx: &StepContext, feed: &Feed, upto: usize, heads: &[usize]) -> Result<EvalStep> {
    record_eval(ctx, feed, upto, heads, false)
}

/// Evaluation of every stage's head at once (DGL trains them together), counting the ensemble of
/// heads 0..=j after each head j: `counts` = [head 0, .., head S-1, ensemble 0..=0, .., ensemble 0..=S-1].
/// The 2^j weights are normalised over all heads, which leaves every prefix's argmax unchanged.
pub fn eval_step_prefixes(ctx: &StepContext, feed: &Feed) -> Result<EvalStep> {
    let last = ctx.model.stages.len() - 1;
    let heads: Vec<usize> = (0..=last).collect();
    record_eval(ctx, feed, last, &heads, true)
}

fn record_eval(ctx: &StepContext, feed: &Feed, upto: usize, heads: &[usize], prefixes: bool) -> Result<EvalStep> {
    let (gpu, n, classes) = (ctx.gpu, feed.batch, ctx.model.spec.classes);
    let mut p = PlanBuilder::new(gpu, format!("eval to stage {upto}"));
    let scores = gpu.tensor(&[n, classes], "ensemble scores")?;
    let zeros = gpu.tensor(&[n, classes], "zeros")?;
    let n_counts = if prefixes { 2 * heads.len() } else { heads.len() + 1 };
    let counts = (0..n_counts).map(|_| gpu.tensor(&[2], "correct count")).collect::<Result<Vec<_>>>()?;
    p.copy(&zeros, &scores);
    let evaluated = EvalHeads { heads, ensemble: heads, scores: &scores, counts: &counts, prefixes };
    record_eval_stages(&mut p, ctx, feed, upto + 1, Some(&evaluated))?;
    if !prefixes {
        ops::count_correct(&mut p, &scores, &feed.labels, &counts[counts.len() - 1])?;
    }
    Ok(EvalStep { plan: p.finish()?, counts })
}

/// Which heads an evaluation plan runs after their stages, and where their results go.
pub struct EvalHeads<'a> {
    /// Stages whose head is evaluated, in order.
    pub heads: &'a [usize],
    /// The heads the ensemble weights are normalised over (`ensemble_weight`).
    pub ensemble: &'a [usize],
    /// Each evaluated head's weighted scores (probabilities or logits, as `ensemble` in the config) are
    /// added here.
    pub scores: &'a Tensor,
    /// counts[k]: correct count of heads[k]; with `prefixes`, counts[heads.len() + k] is the count of
    /// the ensemble of heads[..=k].
    pub counts: &'a [Tensor],
    pub prefixes: bool,
}

/// The input pipeline (evaluation mode) and stages 0..`stages` forward, each stage into its own tensor
/// (the heads reuse the scratch buffers), with `heads` (if any) evaluated after their stages. Returns
/// the last stage's output.
pub fn record_eval_stages(
    p: &mut PlanBuilder,
    ctx: &StepContext,
    feed: &Feed,
    stages: usize,
    heads: Option<&EvalHeads>,
) -> Result<Tensor> {
    let (gpu, model, scratch) = (p.gpu(), ctx.model, ctx.scratch);
    let n = feed.batch;
    let x0 = gpu.tensor(&model.spec.input.batched(n), "eval input")?;
    ops::augment_batch(p, &feed.images, &feed.ids, &ctx.io.rng, &x0, &augment_config(ctx.cfg, false))?;
    let logits = gpu.tensor(&[n, model.spec.classes], "eval logits")?;
    let mut x = x0;
    for s in 0..stages {
        let out = gpu.tensor(&model.stages[s].spec.output().batched(n), "stage output")?;
        x = model.stages[s].forward_eval(p, &x, scratch, Some(&out))?;
        let Some(heads) = heads else { continue };
        if let Some(k) = heads.heads.iter().position(|&h| h == s) {
            model.heads[s].forward_eval(p, &x, scratch, Some(&logits))?;
            ops::count_correct(p, &logits, &feed.labels, &heads.counts[k])?;
            record_ensemble_add(p, ctx.cfg, &logits, heads.scores, ensemble_weight(s, heads.ensemble))?;
            if heads.prefixes {
                ops::count_correct(p, heads.scores, &feed.labels, &heads.counts[heads.heads.len() + k])?;
            }
        }
    }
    Ok(x)
}
