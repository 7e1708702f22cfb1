//! Whether a run fits its device, checked before its run folder exists: every step the run will record
//! is recorded once and dropped, so a buffer past the adapter's limits (or one the device refuses) is
//! found before anything is written. The hint then holds: a batch size that fits where one does,
//! narrower stages where even a batch of 1 does not.

use super::feed::Feed;
use super::plans::{
    eval_step, eval_step_prefixes, hold_training, record_dgl_stage, scratch_for, train_step, StepContext, StepIo,
    Trains,
};
use crate::config::{Config, Method};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, PlanBuilder};
use crate::model::block::Scratch;
use crate::model::Model;

/// Record (and drop) every training and evaluation step the run needs at its batch size; on a GPU
/// limit, say which batch size fits, if any. The model is left holding no gradients or momentum.
pub(super) fn check_fits(gpu: &Gpu, cfg: &Config, model: &mut Model, sample_bytes: usize) -> Result<()> {
    // Data parallel: each device holds its slice of the batch (the hint names the global batch).
    let devices = cfg.data_parallel();
    let cfg = &cfg.per_device();
    let batch = cfg.batch_size;
    let checked = record_steps(gpu, cfg, model, sample_bytes);
    model.train_only(gpu, 0..0, 0..0)?;
    match checked {
        Err(Error::OutOfMemory { what, needed_mib, limit, .. }) => {
            let smaller = (1..usize::BITS).map(|k| batch >> k).take_while(|&b| b >= 1);
            let at = |b: usize| Config { batch_size: b, grad_accum: 1, ..cfg.clone() };
            let mut fits_at = |b: usize| {
                let ok = record_steps(gpu, &at(b), model, sample_bytes).is_ok();
                model.train_only(gpu, 0..0, 0..0).map(|_| ok)
            };
            let fits = smaller.into_iter().find(|&b| fits_at(b).unwrap_or(false));
            let hint = match fits {
                Some(b) => format!("A batch of {} fits: try --set batch_size={}.", b * devices, b * devices),
                None if batch == 1 => too_large().to_string(),
                None => format!("Even a batch of 1 does not fit. {}", too_large()),
            };
            Err(Error::OutOfMemory { what, needed_mib, limit, hint })
        }
        r => r,
    }
}

/// The hint when the batch size is not what is too large.
pub(super) fn too_large() -> &'static str {
    "The model is too large for this device: make its stages narrower (--set stages.J.width=...), or use a device with larger limits."
}

/// The steps of a run at its batch size (and micro-batch size), greedy's for every stage (each with
/// its own scratch and, as in training, only its own gradients and momentum), DGL's for every stage
/// on its own (any placement on devices holds them).
fn record_steps(gpu: &Gpu, cfg: &Config, model: &mut Model, sample_bytes: usize) -> Result<()> {
    let (batch, micro) = (cfg.batch_size, cfg.micro_batch());
    let feed = Feed::new(gpu, batch, sample_bytes)?;
    let eval_feed = Feed::new(gpu, micro, sample_bytes)?;
    let io = StepIo::new(gpu)?;
    let last = model.stages.len() - 1;
    match cfg.method {
        Method::Greedy => {
            for j in 0..=last {
                hold_training(gpu, model, Trains::Stage(j))?;
                let model = &*model;
                let scratch = scratch_for(gpu, model, j, micro)?;
                let ctx = StepContext { gpu, cfg, model, io: &io, scratch: &scratch };
                train_step(&ctx, &feed, Trains::Stage(j))?;
                eval_step(&ctx, &eval_feed, j, &(0..=j).collect::<Vec<_>>())?;
            }
        }
        Method::E2e => {
            hold_training(gpu, model, Trains::All)?;
            let model = &*model;
            let scratch = scratch_for(gpu, model, last, micro)?;
            let ctx = StepContext { gpu, cfg, model, io: &io, scratch: &scratch };
            train_step(&ctx, &feed, Trains::All)?;
            eval_step(&ctx, &eval_feed, last, &[last])?;
        }
        Method::Dgl | Method::DglAsync => {
            model.train_only(gpu, 0..last + 1, 0..last + 1)?;
            let model = &*model;
            for j in 0..=last {
                let scratch = Scratch::new(gpu, &[&model.stages[j].spec, &model.heads[j].spec], batch)?;
                let x = gpu.tensor(&model.spec.stages[j].input.batched(batch), "stage input")?;
                let mut p = PlanBuilder::new(gpu, format!("dgl stage {j} (fit check)"));
                record_dgl_stage(&mut p, model, j, &x, &feed.labels, &io, &scratch)?;
                p.finish()?;
            }
            let scratch = scratch_for(gpu, model, last, batch)?;
            let ctx = StepContext { gpu, cfg, model, io: &io, scratch: &scratch };
            eval_step_prefixes(&ctx, &feed)?;
        }
    }
    Ok(())
}
