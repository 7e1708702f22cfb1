//! Sequential greedy layerwise training (Belilovsky, Eickenberg, Oyallon, ICML 2019, Algorithm 1), and
//! end-to-end backprop through the same network for comparison.

use std::time::Instant;

use super::epoch::{EpochResult, EpochWork, PlanSteps};
use super::parallel::DataParallel;
use super::plans::{
    eval_step, hold_training, scratch_for, train_step, trained_blocks, zero_momentum, StepContext, Trains,
};
use super::prefix_cache::{eval_step_cached, train_step_cached};
use super::run::StageOutcome;
use super::Run;
use crate::error::Result;
use crate::metrics::{Accuracy, EpochRecord};

/// Stage j is trained with its auxiliary head on the output of the frozen stages 0..j-1, then frozen,
/// and the next stage is grown on top. Everything below reads in order:
pub fn train_greedy(run: &mut Run) -> Result<()> {
    let stages = run.model.stages.len();
    let mut parallel = DataParallel::open(run)?;
    for j in run.progress.stage..stages {
        let stage_start = Instant::now();
        // Only stage j and head j hold gradients and momentum (a resumed stage keeps its restored ones).
        hold_training(&run.gpu, &mut run.model, Trains::Stage(j))?;
        if run.progress.fresh() {
            // A fresh SGD for every stage: momentum starts at zero.
            zero_momentum(&run.gpu, &[&run.model.stages[j], &run.model.heads[j]]);
            run.gpu.reset_peak();
        }
        run.keep_best(j)?;
        // One recorded step: frozen stages forward in eval mode (batchnorm on running statistics, never
        // updated), stage j and head j forward with batch statistics, loss, backward through head j and
        // stage j only, one SGD update of both. Plus the evaluation of every head so far.
        let scratch = scratch_for(&run.gpu, &run.model, j, run.cfg.micro_batch())?;
        // The frozen prefix's outputs never change during this stage: where configured, they are
        // computed once and read back by the steps (bit-identical to recomputing them).
        let caches = run.prefix_caches(j, &scratch)?;
        let ctx = StepContext { gpu: &run.gpu, cfg: &run.cfg, model: &run.model, io: &run.io, scratch: &scratch };
        let eval = match &caches.eval {
            Some(c) => eval_step_cached(&ctx, &run.eval_feed, j, c)?,
            None => eval_step(&ctx, &run.eval_feed, j, &(0..=j).collect::<Vec<_>>())?,
        };
        // On one device, or as slices of every batch over several (`devices`).
        let mut steps: Box<dyn EpochWork> = match (&mut parallel, &caches.train) {
            (Some(dp), _) => Box::new(dp.steps(run, Trains::Stage(j))?),
            (None, Some(c)) => Box::new(PlanSteps::new(train_step_cached(&ctx, &run.train_feed, j, c)?)),
            (None, None) => Box::new(PlanSteps::new(train_step(&ctx, &run.train_feed, Trains::Stage(j))?)),
        };
        for epoch in run.progress.epoch..run.cfg.epochs {
            if run.progress.step == 0 && run.cfg.restarts_momentum(epoch) {
                // A new SGD at this LR step, as paper 1's code builds one.
                zero_momentum(&run.gpu, &[&run.model.stages[j], &run.model.heads[j]]);
            }
            let label = format!("stage {j} epoch {}/{}", epoch + 1, run.cfg.epochs);
            let e = run.train_epoch(steps.as_mut(), j, epoch, &label)?;
            let acc = run.evaluate_stage(&eval, &caches)?;
            run.note_epoch(epoch, acc.top1.last().copied().unwrap_or(f64::NAN))?;
            end_epoch(run, "greedy", j, epoch, &e, acc)?;
        }
        // Freeze stage j (at its best epoch with `keep_best`): from now on plans only run it forward in
        // evaluation mode.
        let best_epoch = run.freeze_best()?;
        run.model.train_only(&run.gpu, 0..0, 0..0)?;
        let (last, seconds) = run.recorded(j);
        let kept = match best_epoch {
            Some(e) => run.records.iter().find(|r| r.stage == j && r.epoch == e),
            None => last,
        };
        let outcome = StageOutcome { best_epoch, ..StageOutcome::of(kept, seconds) };
        run.summarise_stage(j, &outcome)?;
        let at = best_epoch.map_or(String::new(), |e| format!(", frozen at its best epoch, {e}"));
        run.display.line(&format!(
            "stage {j} done: head {:.2}%{}, ensemble of heads 0..{j} {:.2}%{}{at} ({:.1}s)",
            outcome.head_acc,
            Accuracy::top5_note(outcome.head_top5),
            outcome.ensemble_acc,
            Accuracy::top5_note(outcome.ensemble_top5),
            stage_start.elapsed().as_secs_f64()
        ));
        run.progress.stage = j + 1;
        run.progress.epoch = 0;
        run.checkpoint()?;
        run.write_report()?;
    }
    Ok(())
}

/// End-to-end backprop of every stage and the last head, with the same schedule, as the baseline the
/// papers compare greedy training against.
pub fn train_e2e(run: &mut Run) -> Result<()> {
    let last = run.model.stages.len() - 1;
    if run.progress.stage > last {
        return Ok(());
    }
    hold_training(&run.gpu, &mut run.model, Trains::All)?;
    if run.progress.fresh() {
        zero_momentum(&run.gpu, &trained_blocks(&run.model, Trains::All).1);
        run.gpu.reset_peak();
    }
    let scratch = scratch_for(&run.gpu, &run.model, last, run.cfg.micro_batch())?;
    let ctx = StepContext { gpu: &run.gpu, cfg: &run.cfg, model: &run.model, io: &run.io, scratch: &scratch };
    let eval = eval_step(&ctx, &run.eval_feed, last, &[last])?;
    let mut parallel = DataParallel::open(run)?;
    let mut steps: Box<dyn EpochWork> = match &mut parallel {
        Some(dp) => Box::new(dp.steps(run, Trains::All)?),
        None => Box::new(PlanSteps::new(train_step(&ctx, &run.train_feed, Trains::All)?)),
    };
    for epoch in run.progress.epoch..run.cfg.epochs {
        if run.progress.step == 0 && run.cfg.restarts_momentum(epoch) {
            zero_momentum(&run.gpu, &trained_blocks(&run.model, Trains::All).1);
        }
        let label = format!("e2e epoch {}/{}", epoch + 1, run.cfg.epochs);
        let e = run.train_epoch(steps.as_mut(), last, epoch, &label)?;
        // One head: its ensemble is itself (taken as is, not through a softmax that could tie).
        let acc = run.evaluate(&eval)?;
        let acc = Accuracy { ensemble_top1: acc.top1[0], ensemble_top5: acc.top5.as_ref().map(|t| t[0]), ..acc };
        end_epoch(run, "e2e", last, epoch, &e, acc)?;
    }
    let (last_record, seconds) = run.recorded(last);
    run.summarise_stage(last, &StageOutcome::of(last_record, seconds))?;
    run.progress.stage = last + 1;
    run.progress.epoch = 0;
    run.checkpoint()?;
    run.write_report()
}

/// Record epoch `epoch` of `stage` (its training numbers `e`, its validation accuracies) and checkpoint
/// the run after it.
fn end_epoch(run: &mut Run, method: &str, stage: usize, epoch: usize, e: &EpochResult, acc: Accuracy) -> Result<()> {
    let elapsed = run.elapsed();
    let record = EpochRecord {
        method: method.into(),
        stage,
        epoch: epoch + 1,
        lr: run.cfg.lr_at(epoch),
        train_loss: e.sums.mean_loss(0),
        train_acc: e.sums.accuracy(0, run.cfg.micro_batch()),
        img_per_s: e.img_per_s,
        seconds: e.seconds,
        elapsed,
        best_epoch: run.progress.best.map(|b| b.epoch),
        data_wait: e.data_wait,
        ..Default::default()
    };
    run.record(record.with_accuracy(acc))?;
    run.progress.epoch = epoch + 1;
    run.checkpoint()
}
