//! Paper 1's "best result along the optimization trajectory" (after Prop. 3.1), with `keep_best`:
//! while greedy stage j trains, a copy of stage j's and head j's parameters and batchnorm statistics as
//! they were after the best validation epoch so far (by head j's accuracy; the earliest on ties),
//! taken on the device after an epoch that beats every earlier one and put back when the stage ends,
//! so the stage is frozen as it was then. The copy is training state: checkpoints hold it (as
//! `best.NAME`) and a resumed run reads it back, so resuming stays exact.

use super::state::BestEpoch;
use super::Run;
use crate::checkpoint::{arena_tensors, Checkpoint, NamedTensor};
use crate::error::Result;
use crate::gpu::{Gpu, ParamArena, Plan, PlanBuilder};
use crate::model::block::Block;
use crate::model::Model;

/// Name prefix of the copy's tensors in a checkpoint.
pub const PREFIX: &str = "best.";

/// The best epoch's copy of one greedy stage and its head, on the device.
pub struct BestSnapshot {
    stage: usize,
    /// Per block (stage j, then head j): copies of its parameter and statistics arenas.
    copies: Vec<(ParamArena, ParamArena)>,
    /// Live -> copy, and back.
    take: Plan,
    put_back: Plan,
}

impl BestSnapshot {
    /// The copy of stage `j` (allocated here, once per stage; filled by the first `take`).
    pub fn new(gpu: &Gpu, model: &Model, j: usize) -> Result<BestSnapshot> {
        let blocks = blocks(model, j);
        let mut copies = Vec::with_capacity(blocks.len());
        let mut take = PlanBuilder::new(gpu, format!("keep stage {j}'s best epoch"));
        let mut put_back = PlanBuilder::new(gpu, format!("freeze stage {j} at its best epoch"));
        for b in blocks {
            let name = &b.spec.name;
            let copy = (
                b.params.like(gpu, &format!("best {name} params"))?,
                b.state.like(gpu, &format!("best {name} state"))?,
            );
            for (live, kept) in [(&b.params, &copy.0), (&b.state, &copy.1)] {
                if !live.tensors.is_empty() {
                    take.copy(&live.all, &kept.all);
                    put_back.copy(&kept.all, &live.all);
                }
            }
            copies.push(copy);
        }
        Ok(BestSnapshot { stage: j, copies, take: take.finish()?, put_back: put_back.finish()? })
    }

    /// Copy the stage as it is now (after an epoch that beats every earlier one).
    pub fn take(&self, gpu: &Gpu) -> Result<()> {
        gpu.run(&[&self.take]).map(|_| ())
    }

    /// Put the copy back: the stage is as it was after its best epoch.
    pub fn put_back(&self, gpu: &Gpu) -> Result<()> {
        gpu.run(&[&self.put_back]).map(|_| ())
    }

    /// The copy's tensors, for a checkpoint.
    pub fn tensors(&self, gpu: &Gpu, model: &Model) -> Result<Vec<NamedTensor>> {
        let mut out = Vec::new();
        for (b, (params, state)) in blocks(model, self.stage).into_iter().zip(&self.copies) {
            out.extend(arena_tensors(gpu, &b.spec, params, state, PREFIX)?);
        }
        Ok(out)
    }

    /// Fill the copy from the checkpoint that saved it.
    fn load(&self, gpu: &Gpu, model: &Model, ckpt: &Checkpoint, path: &std::path::Path) -> Result<()> {
        for (b, (params, state)) in blocks(model, self.stage).into_iter().zip(&self.copies) {
            ckpt.restore_arenas(path, gpu, &b.spec, PREFIX, params, state)?;
        }
        Ok(())
    }
}

fn blocks(model: &Model, j: usize) -> [&Block; 2] {
    [&model.stages[j], &model.heads[j]]
}

impl Run {
    /// With `keep_best`, start keeping stage `j`'s best epoch: a new copy, or, when resuming a stage
    /// that already has a best epoch, the one the checkpoint holds.
    pub(super) fn keep_best(&mut self, j: usize) -> Result<()> {
        self.best = None;
        if !self.cfg.keep_best {
            return Ok(());
        }
        let snapshot = BestSnapshot::new(&self.gpu, &self.model, j)?;
        if self.progress.best.is_some() {
            let path = self.dir.checkpoint_path();
            snapshot.load(&self.gpu, &self.model, &Checkpoint::read(&path)?, &path)?;
        }
        self.best = Some(snapshot);
        Ok(())
    }

    /// After `epoch` (0-based) of the stage, whose head reached `acc` (%) on validation: copy the stage
    /// if no earlier epoch did as well.
    pub(super) fn note_epoch(&mut self, epoch: usize, acc: f64) -> Result<()> {
        let Some(snapshot) = &self.best else { return Ok(()) };
        if self.progress.best.is_none_or(|b| acc > b.acc) {
            snapshot.take(&self.gpu)?;
            self.progress.best = Some(BestEpoch { epoch: epoch + 1, acc });
        }
        Ok(())
    }

    /// The stage's training is over: freeze it at its best epoch (put the copy back) and return that
    /// epoch; None without `keep_best` (the stage stays as its last epoch left it).
    pub(super) fn freeze_best(&mut self) -> Result<Option<usize>> {
        let best = self.progress.best.take();
        match (self.best.take(), best) {
            (Some(snapshot), Some(b)) => {
                snapshot.put_back(&self.gpu)?;
                Ok(Some(b.epoch))
            }
            _ => Ok(None),
        }
    }
}
