//! DGL with every stage on the run's own device. Synchronous: a step is one recorded plan (the input
//! pipeline, then every stage on the output of the one below) and one submit. Async: per stage a plan
//! that trains it on a fixed input batch (stage 0: the feed) and one that only runs it forward (once it
//! has finished its epochs), per replay-buffer slot a copy plan into that input and one from the
//! previous stage's output; a tick is one submit of the plans of the stages that run in it.

use super::super::plans::{
    augment_config, record_dgl_body, record_dgl_forward, record_dgl_stage, zero_momentum, StepContext, StepIo,
};
use super::super::replay::{Action, Mode, Store};
use super::super::source::EpochBatches;
use super::super::Run;
use super::Batch;
use crate::error::Result;
use crate::gpu::{InFlight, Plan, PlanBuilder, Tensor};
use crate::model::block::Scratch;
use crate::ops;

pub(super) struct OneDevice {
    /// Each stage's step values (SGD hyper-parameters, running loss sums); stage 0's RNG key.
    pub ios: Vec<StepIo>,
    plans: Plans,
}

enum Plans {
    Sync(Plan),
    Async {
        /// Per stage: its training step, and its forward-only step.
        stages: Vec<Plan>,
        forwards: Vec<Plan>,
        /// [j][k]: slot k of stage j's buffer -> stage j's input (index 0 unused).
        loads: Vec<Vec<Plan>>,
        /// [j][k]: stage j-1's output batch -> slot k of stage j's buffer (index 0 unused).
        stores: Vec<Vec<Plan>>,
    },
}

impl OneDevice {
    /// `slots`: the replay-buffer size for dgl-async, None for synchronous DGL.
    pub fn new(run: &Run, scratch: &Scratch, slots: Option<usize>) -> Result<OneDevice> {
        let ios = (0..run.model.stages.len()).map(|_| StepIo::new(&run.gpu)).collect::<Result<Vec<_>>>()?;
        let plans = match slots {
            None => Plans::Sync(sync_plan(run, &ios, scratch)?),
            Some(slots) => async_plans(run, &ios, scratch, slots)?,
        };
        Ok(OneDevice { ios, plans })
    }

    /// Run the actions of one segment; returns once they are submitted.
    pub fn run_segment(&mut self, run: &mut Run, data: &mut EpochBatches, actions: &[Action]) -> Result<()> {
        let (gpu, feed) = (&run.gpu, &mut run.train_feed);
        let mut in_flight = InFlight::default();
        match &self.plans {
            Plans::Sync(plan) => {
                for b in actions.iter().filter_map(|a| a.batch) {
                    data.load(gpu, feed, b)?;
                    in_flight.submit(gpu, &[plan])?;
                }
            }
            Plans::Async { stages, forwards, loads, stores } => {
                for tick in actions.chunk_by(|a, b| a.tick == b.tick) {
                    let mut plans: Vec<&Plan> = Vec::new();
                    for a in tick {
                        if let Some(e) = a.epoch {
                            // The stage starts an epoch of its own: its LR, and a new SGD at an LR step.
                            self.ios[a.stage].set_lr(gpu, &run.cfg, run.cfg.lr_at(e));
                            if run.cfg.restarts_momentum(e) {
                                zero_momentum(gpu, &[&run.model.stages[a.stage], &run.model.heads[a.stage]]);
                            }
                        }
                        if let Some(b) = a.batch {
                            data.load(gpu, feed, b)?;
                        }
                        if let Some(k) = a.load {
                            plans.push(&loads[a.stage][k]);
                        }
                        plans.push(match a.mode {
                            Mode::Train => &stages[a.stage],
                            Mode::Forward => &forwards[a.stage],
                        });
                        if let Some(Store::Slot(k)) = a.store {
                            plans.push(&stores[a.stage + 1][k]);
                        }
                    }
                    // One submit per tick, whatever ran in it.
                    in_flight.submit(gpu, &plans)?;
                }
            }
        }
        Ok(())
    }
}

/// The input pipeline writing the normalised, augmented feed batch to `x0` (stage 0's input).
fn record_input(p: &mut PlanBuilder, run: &Run, io: &StepIo, x0: &Tensor) -> Result<()> {
    let f = &run.train_feed;
    ops::augment_batch(p, &f.images, &f.ids, &io.rng, x0, &augment_config(&run.cfg, true))
}

/// Synchronous DGL: one plan per step.
fn sync_plan(run: &Run, ios: &[StepIo], scratch: &Scratch) -> Result<Plan> {
    let mut p = PlanBuilder::new(&run.gpu, "dgl step");
    let x0 = run.gpu.tensor(&run.model.spec.input.batched(run.cfg.batch_size), "normalised input")?;
    record_input(&mut p, run, &ios[0], &x0)?;
    record_dgl_body(&mut p, &run.model, &x0, &run.train_feed.labels, ios, scratch)?;
    p.finish()
}

/// dgl-async: per stage a training plan and a forward-only plan on its fixed input batch, per slot the
/// copy plans in and out.
fn async_plans(run: &Run, ios: &[StepIo], scratch: &Scratch, slots: usize) -> Result<Plans> {
    let (gpu, model, batch) = (&run.gpu, &run.model, run.cfg.batch_size);
    let n = model.stages.len();
    let (mut plans, mut forwards) = (Vec::with_capacity(n), Vec::with_capacity(n));
    // What each stage trained on and produced: (its input batch, its output).
    let mut flow: Vec<(Batch, Tensor)> = Vec::with_capacity(n);
    for (j, io) in ios.iter().enumerate() {
        let shape = model.spec.stages[j].input.batched(batch);
        let (mut p, mut f) = (
            PlanBuilder::new(gpu, format!("dgl-async stage {j}")),
            PlanBuilder::new(gpu, format!("dgl-async stage {j} forward")),
        );
        let input = if j == 0 {
            let x0 = gpu.tensor(&shape, "normalised input")?;
            record_input(&mut p, run, io, &x0)?;
            record_input(&mut f, run, io, &x0)?;
            let feed = &run.train_feed;
            Batch { x: x0, labels: feed.labels.clone(), ids: feed.ids.clone() }
        } else {
            Batch::new(gpu, &shape, &format!("stage {j} input"))?
        };
        let out = record_dgl_stage(&mut p, model, j, &input.x, &input.labels, io, scratch)?;
        let ctx = StepContext { gpu, cfg: &run.cfg, model, io, scratch };
        record_dgl_forward(&mut f, &ctx, j, &input.x, &input.labels, &out)?;
        plans.push(p.finish()?);
        forwards.push(f.finish()?);
        flow.push((input, out));
    }
    let (mut loads, mut stores) = (vec![Vec::new()], vec![Vec::new()]);
    for j in 1..n {
        let shape = model.spec.stages[j].input.batched(batch);
        let (prev_in, prev_out) = &flow[j - 1];
        let produced = Batch { x: prev_out.clone(), labels: prev_in.labels.clone(), ids: prev_in.ids.clone() };
        let (mut l, mut s) = (Vec::with_capacity(slots), Vec::with_capacity(slots));
        for k in 0..slots {
            let slot = Batch::new(gpu, &shape, &format!("stage {j} replay slot {k}"))?;
            l.push(slot.copy_plan(gpu, &flow[j].0, format!("slot {k} -> stage {j}"))?);
            s.push(produced.copy_plan(gpu, &slot, format!("stage {} -> slot {k}", j - 1))?);
        }
        loads.push(l);
        stores.push(s);
    }
    Ok(Plans::Async { stages: plans, forwards, loads, stores })
}
