//! Gradient accumulation (`grad_accum = M`): one training step as M micro-batches of `batch / M`
//! images, recorded into the step's one plan. Each micro-batch runs the frozen stages and the trained
//! blocks forward and backward on its rows of the batch; the trained blocks' gradients are summed, in
//! micro-batch order, into a gradient sum per block, each scaled by 1/M; the step's one SGD update per
//! block then reads the sums. The cross-entropy gradient is already divided by the micro-batch's rows, so the sum
//! is the full batch's mean gradient up to float rounding (exact scaling when M is a power of two).
//!
//! Batchnorm in training mode normalises each micro-batch with its own statistics and updates the
//! running statistics once per micro-batch, as PyTorch does when a loop accumulates gradients: with
//! batchnorm the result is not the full batch's. The loss statistics add one batch-mean per
//! micro-batch (the epoch loop counts micro-batches).
//!
//! The micro-batches share one set of activations (`record_trained_gradients`'s `reuse`): memory holds
//! one micro-batch's, plus the gradient sums (one more copy of the trained blocks' parameters).

use super::plans::{record_trained_gradients, trained_blocks, StepIo, TrainedPass, Trains};
use crate::error::Result;
use crate::gpu::{ParamArena, PlanBuilder, Tensor};
use crate::model::block::Scratch;
use crate::model::Model;
use crate::ops;

/// `record_train_body` up to its update as `x0.shape()[0] / micro` micro-batches of `micro` rows of the
/// normalised batch `x0` and its `labels`: returns each trained block's gradient sum, which the one
/// SGD update of the step reads.
#[allow(clippy::too_many_arguments)] // record_train_body's arguments and the micro-batch size
pub fn record_accumulated_gradients(
    p: &mut PlanBuilder,
    model: &Model,
    trains: Trains,
    x0: &Tensor,
    labels: &Tensor,
    io: &StepIo,
    scratch: &Scratch,
    micro: usize,
) -> Result<Vec<ParamArena>> {
    let gpu = p.gpu();
    let batch = x0.shape()[0];
    assert!(micro > 0 && batch % micro == 0, "micro-batches of {micro} do not divide a batch of {batch}");
    let count = batch / micro;
    let (frozen, trained) = trained_blocks(model, trains);
    let mut micro_shape = x0.shape().to_vec();
    micro_shape[0] = micro;
    let xm = gpu.tensor(&micro_shape, "micro-batch input")?;
    let lm = gpu.tensor_u32(&[micro], "micro-batch labels")?;
    let sums = trained
        .iter()
        .map(|b| b.params.like(gpu, &format!("{} gradient sum", b.spec.name)))
        .collect::<Result<Vec<ParamArena>>>()?;
    for s in &sums {
        p.clear(&s.all);
    }
    let weight = 1.0 / count as f32;
    let mut pass: Option<TrainedPass> = None;
    for m in 0..count {
        p.copy(&x0.rows(m * micro, micro), &xm);
        p.copy(&labels.rows(m * micro, micro), &lm);
        let mut x = xm.clone();
        for s in frozen {
            x = s.forward_eval(p, &x, scratch, None)?;
        }
        pass = Some(record_trained_gradients(p, &trained, &x, &lm, io, scratch, pass.as_ref())?);
        for (b, s) in trained.iter().zip(&sums) {
            if !b.params.tensors.is_empty() {
                // sum += grads / M: the same axpy as the ensemble of heads' logits, over the flat arena.
                let g = &b.grads()?.all;
                ops::logits_accumulate(p, &g.reshape(&[1, g.len()]), &s.all.reshape(&[1, g.len()]), weight)?;
            }
        }
    }
    Ok(sums)
}
