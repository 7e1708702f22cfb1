//! The DGL steps: a stage trained on its own loss from a detached input, a finished stage only
//! forwarding (dgl-async), and a synchronous step of every stage.

use super::StepContext;
use super::StepIo;
use crate::error::Result;
use crate::gpu::{PlanBuilder, Tensor};
use crate::model::block::Scratch;
use crate::model::Model;
use crate::ops;

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
