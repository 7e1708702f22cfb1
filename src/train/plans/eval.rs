//! The evaluation steps: every chosen head's correct counts and their ensemble's, over a split.

use super::super::feed::Feed;
use super::super::source::Split;
use super::{augment_config, StepContext};
use crate::config::{Config, Ensemble};
use crate::error::Result;
use crate::gpu::{Gpu, Plan, PlanBuilder, Readback, Tensor};
use crate::metrics::Accuracy;
use crate::ops;

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
