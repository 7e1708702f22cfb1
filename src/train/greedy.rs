//! Sequential greedy layerwise training (Belilovsky, Eickenberg, Oyallon, ICML 2019, Algorithm 1), and
//! end-to-end backprop through the same network for comparison.

use std::time::Instant;

use super::plans::{eval_step, scratch_for, train_step};
use super::prefix_cache::{eval_step_cached, train_step_cached};
use super::Run;
use crate::error::Result;
use crate::metrics::EpochRecord;

/// Stage j is trained with its auxiliary head on the output of the frozen stages 0..j-1, then frozen,
/// and the next stage is grown on top. Everything below reads in order:
pub fn train_greedy(run: &mut Run) -> Result<()> {
    let stages = run.model.stages.len();
    let batch = run.cfg.batch_size;
    for j in run.progress.stage..stages {
        let stage_start = Instant::now();
        let fresh = run.progress.epoch == 0 && run.progress.step == 0;
        if fresh {
            // A fresh SGD for every stage: momentum starts at zero.
            for b in [&run.model.stages[j], &run.model.heads[j]] {
                run.gpu.fill(&b.momentum.all, 0.0);
            }
            run.gpu.reset_peak();
        }
        // One recorded step: frozen stages forward in eval mode (batchnorm on running statistics, never
        // updated), stage j and head j forward with batch statistics, loss, backward through head j and
        // stage j only, one SGD update of both. Plus the evaluation of every head so far.
        let scratch = scratch_for(&run.gpu, &run.model, j, batch)?;
        // The frozen prefix's outputs never change during this stage: where configured, they are
        // computed once and read back by the steps (bit-identical to recomputing them).
        let caches = run.prefix_caches(j, &scratch)?;
        let step = match &caches.train {
            Some(c) => train_step_cached(&run.gpu, &run.model, j, c, &run.train_feed, &run.io, &scratch)?,
            None => train_step(&run.gpu, &run.cfg, &run.model, j, false, &run.train_feed, &run.io, &scratch)?,
        };
        let eval = match &caches.eval {
            Some(c) => eval_step_cached(&run.gpu, &run.cfg, &run.model, j, c, &run.eval_feed, &run.io, &scratch)?,
            None => eval_step(
                &run.gpu,
                &run.cfg,
                &run.model,
                j,
                &(0..=j).collect::<Vec<_>>(),
                &run.eval_feed,
                &run.io,
                &scratch,
            )?,
        };
        let (mut img_s, mut head_acc, mut ens_acc) = (0.0, f64::NAN, f64::NAN);
        for epoch in run.progress.epoch..run.cfg.epochs {
            let lr = run.cfg.lr_at(epoch);
            let label = format!("stage {j} epoch {}/{}", epoch + 1, run.cfg.epochs);
            let (loss, train_acc, ips, secs) = run.run_epoch(&step, j, epoch, &label)?;
            let (val_acc, ensemble_acc) = run.evaluate_stage(&eval, &caches)?;
            img_s = ips;
            head_acc = *val_acc.last().unwrap_or(&f64::NAN);
            ens_acc = ensemble_acc;
            let elapsed = run.elapsed();
            run.record(EpochRecord {
                method: "greedy".into(),
                stage: j,
                epoch: epoch + 1,
                lr,
                train_loss: loss,
                train_acc,
                val_acc,
                ensemble_acc,
                img_per_s: ips,
                seconds: secs,
                elapsed,
            })?;
            run.progress.epoch = epoch + 1;
            run.checkpoint()?;
        }
        // Freeze stage j: from now on plans only run it forward in evaluation mode.
        if head_acc.is_nan() {
            // Resumed after the last epoch of this stage: report what was recorded.
            if let Some(r) = run.records.iter().rev().find(|r| r.stage == j) {
                (head_acc, ens_acc, img_s) = (r.head_acc(), r.ensemble_acc, r.img_per_s);
            }
        }
        let seconds = run.records.iter().filter(|r| r.stage == j).map(|r| r.seconds).sum::<f64>();
        run.summarise_stage(j, seconds, img_s, head_acc, ens_acc)?;
        run.display.line(&format!(
            "stage {j} done: head {head_acc:.2}%, ensemble of heads 0..{j} {ens_acc:.2}% ({:.1}s)",
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
    let batch = run.cfg.batch_size;
    if run.progress.stage > last {
        return Ok(());
    }
    if run.progress.epoch == 0 && run.progress.step == 0 {
        for b in run.model.stages.iter().chain(run.model.heads.last()) {
            run.gpu.fill(&b.momentum.all, 0.0);
        }
        run.gpu.reset_peak();
    }
    let scratch = scratch_for(&run.gpu, &run.model, last, batch)?;
    let step = train_step(&run.gpu, &run.cfg, &run.model, last, true, &run.train_feed, &run.io, &scratch)?;
    let eval = eval_step(&run.gpu, &run.cfg, &run.model, last, &[last], &run.eval_feed, &run.io, &scratch)?;
    let (mut img_s, mut acc) = (0.0, f64::NAN);
    for epoch in run.progress.epoch..run.cfg.epochs {
        let lr = run.cfg.lr_at(epoch);
        let (loss, train_acc, ips, secs) =
            run.run_epoch(&step, last, epoch, &format!("e2e epoch {}/{}", epoch + 1, run.cfg.epochs))?;
        let (val_acc, _) = run.evaluate(&eval)?;
        img_s = ips;
        acc = val_acc[0];
        let elapsed = run.elapsed();
        run.record(EpochRecord {
            method: "e2e".into(),
            stage: last,
            epoch: epoch + 1,
            lr,
            train_loss: loss,
            train_acc,
            val_acc: vec![acc],
            ensemble_acc: acc,
            img_per_s: ips,
            seconds: secs,
            elapsed,
        })?;
        run.progress.epoch = epoch + 1;
        run.checkpoint()?;
    }
    if acc.is_nan() {
        if let Some(r) = run.records.last() {
            (acc, img_s) = (r.head_acc(), r.img_per_s);
        }
    }
    let seconds = run.records.iter().map(|r| r.seconds).sum::<f64>();
    run.summarise_stage(last, seconds, img_s, acc, acc)?;
    run.progress.stage = last + 1;
    run.progress.epoch = 0;
    run.checkpoint()?;
    run.write_report()
}
