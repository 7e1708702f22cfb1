//! Decoupled greedy learning (Belilovsky, Eickenberg, Oyallon, ICML 2020): every stage trains at the
//! same time, each with its own auxiliary head, cross-entropy and SGD optimizer, on the detached output
//! of the stage below: no gradient crosses stages.
//!
//! - `dgl` (synchronous): per batch, stage j trains on stage j-1's output of the same step, computed
//!   before stage j-1's update (as the reference `h = out.detach()`); every stage follows the same LR
//!   schedule over the run's epochs. On one device a step is one recorded plan and one submit.
//! - `dgl-async`: the authors' buffer experiment. A replay buffer of `dgl.buffer_size` batches
//!   (activations, labels and sample ids, on the GPU) sits between consecutive stages, and a host-side
//!   schedule (`replay.rs`: which stage runs at each tick, on which buffered batch; seeded, so a run is
//!   reproducible) drives the stages: one drawn at random per tick (`dgl.order`), each training its own
//!   epochs on its own LR clock, a finished stage only forwarding, until every stage has finished. On
//!   one device a tick is one submit: per running stage, a copy plan slot -> input, its training (or
//!   forward-only) plan and a copy plan output -> slot of the next buffer.
//!   The loop goes over epochs of the data (stage 0's passes over the training set, which go on while
//!   a slowed stage catches up); a stage's numbers for one cover the steps it ran during it, with its
//!   own epochs and the mean age of the batches it read. The replay buffers are not checkpointed: a
//!   resumed run continues the schedule (every stage's clock, the random stream) with empty buffers,
//!   which it refills (the checkpoint metadata says so), so it does not continue bitwise as
//!   synchronous DGL does; every stage still trains exactly its epochs.
//!
//! Execution: on one device (`one_device.rs`) a synchronous step is one recorded plan and one submit,
//! an async tick one submit of the plans of the stages that run in it; on several devices
//! (`devices.rs`, `devices` or `dgl.devices`) stage j runs on lane j % len, each lane a logical device with its own
//! thread, model copy and plans. Every stage has its own step values (`StepIo`: SGD hyper-parameters
//! and running loss sums) on its device. Work goes in segments of steps that every device finishes
//! before statistics are read (`epoch.rs`); checkpoints and evaluation use the run's own device.

mod devices;
mod one_device;

use std::ops::Range;

use super::epoch::{EpochWork, Segment, StageStats};
use super::plans::{eval_step_prefixes, scratch_for, zero_momentum, EvalStep, StepContext, StepIo};
use super::replay::{sync_actions, Action, Schedule, ScheduleSpec};
use super::run::StageOutcome;
use super::source::EpochBatches;
use super::state::{method_name, EpochSums};
use super::Run;
use crate::config::{Config, DglConfig, Method};
use crate::error::{Error, Result};
use crate::gpu::{list_adapters, BackendChoice, Gpu, GpuOptions, Plan, PlanBuilder, Readback, Tensor};
use crate::metrics::{Accuracy, EpochRecord};
use devices::Devices;
use one_device::OneDevice;

const BUFFERS_NOTE: &str = "replay buffers are not saved: a resumed run starts them empty and refills them";

/// Options to open adapter `index` as `layerwise devices` numbers it: over every backend unless one is
/// chosen, else over that backend's adapters (as `--adapter` does).
pub fn device_options(base: &GpuOptions, index: usize) -> Result<GpuOptions> {
    let mut o = base.clone();
    if base.backend == BackendChoice::Auto {
        let all = list_adapters(BackendChoice::All);
        let a = all.get(index).ok_or_else(|| {
            Error::usage(format!(
                "devices: there is no adapter {index}; `layerwise devices` lists {} (0..{})",
                all.len(),
                all.len().saturating_sub(1)
            ))
        })?;
        o.backend = BackendChoice::parse(&a.backend)?;
        // Its place among its own backend's adapters, which is what `Gpu::new` indexes.
        o.adapter = Some(all[..index].iter().filter(|b| b.backend == a.backend).count());
    } else {
        o.adapter = Some(index);
    }
    Ok(o)
}

/// How to open a run's own device: with `devices` (or DGL's `dgl.devices`), the first of them.
pub fn home_options(cfg: &Config, base: &GpuOptions) -> Result<GpuOptions> {
    match cfg.run_devices().first() {
        Some(&d) => device_options(base, d),
        None => Ok(base.clone()),
    }
}

/// Train every stage at once, synchronously (`dgl`) or with replay buffers (`dgl-async`). The loop
/// goes over epochs of the data (stage 0's passes over the training set): for `dgl` the run's epochs;
/// for `dgl-async` until every stage has trained its own epochs (a slowed stage finishes later).
pub fn train_dgl(run: &mut Run) -> Result<()> {
    let stages = run.model.stages.len();
    if run.progress.stage >= stages {
        return Ok(());
    }
    let mut d = Dgl::new(run)?;
    while !d.finished(run.progress.epoch, run.cfg.epochs) {
        let epoch = run.progress.epoch;
        if d.schedule.is_none() && run.progress.step == 0 && run.cfg.restarts_momentum(epoch) {
            // A new SGD for every stage at this LR step (dgl-async's stages follow their own clocks).
            d.exec.zero_momentum(run);
        }
        let label = d.label(epoch, run.cfg.epochs);
        let e = run.train_epoch(&mut d, 0, epoch, &label)?;
        d.exec.gather(run)?;
        let (heads, ensembles) = d.evaluate(run)?;
        let (heads5, ensembles5) = (&heads.top5, &ensembles.top5);
        let elapsed = run.elapsed();
        // One record per stage: its own head's curve, and the heads and ensemble up to it.
        for j in 0..stages {
            let images = (e.sums.batches[j] * run.cfg.batch_size).max(1) as f64;
            let s = d.schedule.as_ref();
            run.record(EpochRecord {
                method: d.method.into(),
                stage: j,
                epoch: epoch + 1,
                lr: run.cfg.lr_at(s.map_or(epoch, |s| s.lr_epoch(j))),
                train_loss: e.sums.mean_loss(j),
                // Divided before scaling, as DGL's records always were (the last bit differs from
                // `EpochSums::accuracy`'s order).
                train_acc: 100.0 * (e.sums.correct[j] / images),
                val_acc: heads.top1[..=j].to_vec(),
                ensemble_acc: ensembles.top1[j],
                val_top5: heads5.as_ref().map_or(Vec::new(), |h| h[..=j].to_vec()),
                ensemble_top5: ensembles5.as_ref().map(|e| e[j]),
                img_per_s: e.img_per_s,
                seconds: e.seconds,
                elapsed,
                stage_epochs: s.map(|s| s.epochs_done(j)),
                batch_age: s.and_then(|s| s.mean_age_since_mark(j)),
                data_wait: e.data_wait.filter(|_| j == 0),
                ..Default::default()
            })?;
        }
        run.progress.epoch = epoch + 1;
        d.checkpoint(run)?;
    }
    d.summarise(run)?;
    run.progress.stage = stages;
    d.checkpoint(run)?;
    run.write_report()
}

/// How the stages' steps run.
enum Exec {
    One(OneDevice),
    Several(Devices),
}

impl Exec {
    /// Stage `j`'s device, its step values there and that device's readback buffer.
    fn place<'a>(&'a self, run: &'a Run, j: usize) -> (&'a Gpu, &'a StepIo, &'a Readback) {
        match self {
            Exec::One(o) => (&run.gpu, &o.ios[j], &run.readback),
            Exec::Several(d) => d.place(j),
        }
    }

    /// Run the actions of one segment (a few steps of stage 0) and return once every device is done.
    fn run_segment(&mut self, run: &mut Run, data: &mut EpochBatches, actions: &[Action]) -> Result<()> {
        match self {
            Exec::One(o) => o.run_segment(run, data, actions),
            Exec::Several(d) => d.run_segment(&run.cfg, data, actions),
        }
    }

    /// Restart every stage's momentum from zero, where the stages train.
    fn zero_momentum(&self, run: &Run) {
        match self {
            Exec::One(_) => zero_momentum(&run.gpu, &run.model.blocks().collect::<Vec<_>>()),
            Exec::Several(d) => d.zero_momentum(),
        }
    }

    /// Bring every stage's parameters onto the run's own device (for evaluation and checkpoints).
    fn gather(&self, run: &Run) -> Result<()> {
        match self {
            Exec::One(_) => Ok(()),
            Exec::Several(d) => d.gather(&run.gpu, &run.model),
        }
    }
}

/// A DGL run's state besides `Run`.
struct Dgl {
    method: &'static str,
    stages: usize,
    exec: Exec,
    /// Every head and the ensemble of heads 0..=j for every j, on the run's own device.
    eval: EvalStep,
    /// dgl-async's tick schedule.
    schedule: Option<Schedule>,
}

impl Dgl {
    fn new(run: &mut Run) -> Result<Dgl> {
        let stages = run.model.stages.len();
        let dcfg: DglConfig = run.cfg.dgl.clone().unwrap_or_default();
        let slots = (run.cfg.method == Method::DglAsync).then_some(dcfg.buffer_size);
        // Every stage and head trains (on the run's device they hold what the checkpoints save).
        run.model.train_only(&run.gpu, 0..stages, 0..stages)?;
        if run.progress.fresh() {
            zero_momentum(&run.gpu, &run.model.blocks().collect::<Vec<_>>());
            run.gpu.reset_peak();
        }
        let saved = run.progress.dgl.get_or_insert_with(Default::default).schedule.clone();
        if slots.is_some() && saved.is_none() && !run.progress.fresh() {
            return Err(Error::data(
                run.dir.checkpoint_path(),
                "holds a dgl-async run without its schedule (written by an older layerwise, whose async schedule differed): start the run again",
            ));
        }
        let schedule = slots.map(|_| {
            let seed = run.cfg.seed.wrapping_mul(0x9E3779B97F4A7C15) ^ 0xD61A_5C4E_D01E;
            let steps = run.data.train.len() / run.cfg.batch_size;
            Schedule::new(ScheduleSpec::new(&run.cfg, steps), saved, seed)
        });
        let scratch = scratch_for(&run.gpu, &run.model, stages - 1, run.cfg.batch_size)?;
        let placement = run.cfg.dgl_devices().to_vec();
        let exec = if placement.len() > 1 {
            let d = Devices::open(run, &placement, slots)?;
            run.display.line(&d.placement(&placement));
            Exec::Several(d)
        } else {
            Exec::One(OneDevice::new(run, &scratch, slots)?)
        };
        let ctx = StepContext { gpu: &run.gpu, cfg: &run.cfg, model: &run.model, io: &run.io, scratch: &scratch };
        let eval = eval_step_prefixes(&ctx, &run.eval_feed)?;
        Ok(Dgl { method: method_name(run.cfg.method), stages, exec, eval, schedule })
    }

    /// Whether the run is over before data epoch `epoch`: after `epochs` of them (synchronous), or once
    /// every stage has trained its own `epochs` (async).
    fn finished(&self, epoch: usize, epochs: usize) -> bool {
        match &self.schedule {
            Some(s) => s.done(),
            None => epoch >= epochs,
        }
    }

    /// The progress bar's label for data epoch `epoch`.
    fn label(&self, epoch: usize, epochs: usize) -> String {
        match &self.schedule {
            None => format!("{} epoch {}/{epochs}", self.method, epoch + 1),
            Some(s) => {
                let own: Vec<String> = (0..self.stages).map(|j| s.epochs_done(j).to_string()).collect();
                format!("{} data epoch {} (stages' epochs {}/{epochs})", self.method, epoch + 1, own.join(", "))
            }
        }
    }

    /// The actions of steps `steps` of data epoch `epoch`: every stage each step (synchronous), or the
    /// ticks until stage 0 has read those steps' batches or every stage has finished (async).
    fn actions(&mut self, epoch: usize, steps: Range<usize>, per_epoch: usize) -> Vec<Action> {
        let Some(s) = &mut self.schedule else { return sync_actions(steps, self.stages) };
        let (start, end) = ((epoch * per_epoch + steps.start) as u64, (epoch * per_epoch + steps.end) as u64);
        assert_eq!(s.runs(0), start, "the schedule's stage 0 reads the batches the epoch loop is at");
        let mut all = Vec::new();
        while s.runs(0) < end && !s.done() {
            all.extend(s.next_tick());
        }
        all
    }

    /// Gather the parameters and save them with the progress, the schedule's state included.
    fn checkpoint(&self, run: &mut Run) -> Result<()> {
        let s = self.schedule.as_ref();
        let d = run.progress.dgl.get_or_insert_with(Default::default);
        d.schedule = s.map(|s| s.state());
        d.buffers = if s.is_some() { BUFFERS_NOTE.to_string() } else { String::new() };
        self.exec.gather(run)?;
        run.checkpoint()
    }

    /// Validation accuracy (%) of every head, and of the ensemble of heads 0..=j for every j (in
    /// `top1` and `top5`; the ensembles' fields of the two are not used).
    fn evaluate(&self, run: &mut Run) -> Result<(Accuracy, Accuracy)> {
        Ok(run.evaluate(&self.eval)?.split_heads(self.stages))
    }

    /// One summary per stage: they all trained for the whole run (dgl-async: with the mean age of the
    /// buffered batches each read).
    fn summarise(&self, run: &mut Run) -> Result<()> {
        for j in 0..self.stages {
            let (Some(r), seconds) = run.recorded(j) else { continue };
            let (head, ens) = (r.head_acc(), r.ensemble_acc);
            let (head5, ens5) = (Accuracy::top5_note(r.head_top5()), Accuracy::top5_note(r.ensemble_top5));
            let batch_age = self.schedule.as_ref().and_then(|s| s.mean_age(j));
            let outcome = StageOutcome { batch_age, ..StageOutcome::of(Some(r), seconds) };
            run.summarise_stage(j, &outcome)?;
            let age = batch_age.map_or(String::new(), |a| format!(", buffered batches {a:.1} ticks old on average"));
            run.display.line(&format!(
                "{} stage {j}: head {head:.2}%{head5}, ensemble of heads 0..{j} {ens:.2}%{ens5}{age} ({seconds:.1}s of training)",
                self.method
            ));
        }
        Ok(())
    }
}

impl EpochWork for Dgl {
    fn stages(&self) -> usize {
        self.stages
    }

    fn segment_steps(&self, report_every: usize) -> usize {
        report_every
    }

    fn start(&mut self, run: &Run, rng_key: [u32; 2], lr: f64, sums: &EpochSums) -> Result<()> {
        // Stage 0 reads the images: the same data order and augmentation as greedy training's first
        // stage in this epoch.
        let (gpu, io, _) = self.exec.place(run, 0);
        gpu.upload_u32(&io.rng, &rng_key);
        for j in 0..self.stages {
            let (gpu, io, _) = self.exec.place(run, j);
            // dgl-async: each stage's LR follows its own epochs.
            let lr = self.schedule.as_ref().map_or(lr, |s| run.cfg.lr_at(s.lr_epoch(j)));
            io.set_lr(gpu, &run.cfg, lr);
            gpu.upload(&io.stats, &[sums.loss_sum[j] as f32, sums.correct[j] as f32, 0.0]);
        }
        // The batch ages of this epoch's records count from here (a mid-epoch resume keeps the mark).
        if let (Some(s), 0) = (&mut self.schedule, run.progress.step) {
            s.mark();
        }
        Ok(())
    }

    fn finished(&self) -> bool {
        self.schedule.as_ref().is_some_and(|s| s.done())
    }

    fn train(&mut self, run: &mut Run, segment: Segment) -> Result<()> {
        let per_epoch = run.data.train.len() / run.cfg.batch_size;
        let actions = self.actions(run.progress.epoch, segment.steps, per_epoch);
        for a in &actions {
            segment.batches[a.stage] += 1;
        }
        self.exec.run_segment(run, segment.data, &actions)
    }

    fn read_sums(&self, run: &Run) -> Result<Vec<StageStats>> {
        (0..self.stages)
            .map(|j| {
                let (gpu, io, readback) = self.exec.place(run, j);
                Ok(StageStats::read(&readback.read_f32(gpu, &io.stats)?))
            })
            .collect()
    }

    fn checkpoint(&mut self, run: &mut Run) -> Result<()> {
        Dgl::checkpoint(self, run)
    }
}

/// A batch on the device: a stage's input, or one replay-buffer slot.
#[derive(Clone)]
struct Batch {
    /// [n, ..stage input]
    x: Tensor,
    /// [n] u32 each
    labels: Tensor,
    ids: Tensor,
}

impl Batch {
    fn new(gpu: &Gpu, x_shape: &[usize], what: &str) -> Result<Batch> {
        let n = x_shape[0];
        Ok(Batch {
            x: gpu.tensor(x_shape, what)?,
            labels: gpu.tensor_u32(&[n], &format!("{what} labels"))?,
            ids: gpu.tensor_u32(&[n], &format!("{what} ids"))?,
        })
    }

    /// A plan that copies this batch into `to`.
    fn copy_plan(&self, gpu: &Gpu, to: &Batch, label: String) -> Result<Plan> {
        let mut p = PlanBuilder::new(gpu, label);
        p.copy(&self.x, &to.x);
        p.copy(&self.labels, &to.labels);
        p.copy(&self.ids, &to.ids);
        p.finish()
    }
}
