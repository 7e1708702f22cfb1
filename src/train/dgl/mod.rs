//! Decoupled greedy learning (Belilovsky, Eickenberg, Oyallon, ICML 2020): every stage trains at the
//! same time, each with its own auxiliary head, cross-entropy and SGD optimizer (all on the same LR
//! schedule over the run), on the detached output of the stage below: no gradient crosses stages.
//!
//! - `dgl` (synchronous): per batch, stage j trains on stage j-1's output of the same step, computed
//!   before stage j-1's update (as the reference `h = out.detach()`). On one device a step is one
//!   recorded plan and one submit.
//! - `dgl-async`: a replay buffer of `dgl.buffer_size` batches (activations, labels and sample ids, on
//!   the GPU) sits between consecutive stages. Stage j > 0 trains on batches sampled from its buffer
//!   (priority LIFO: the newest of the least-used; dropped after `dgl.max_reuse` uses if set), and
//!   `dgl.slowdown[j] = p` makes stage j skip each tick with probability p (seeded), so it runs at
//!   1/(1-p) of the others' time. Stage j > 0 starts once its buffer has filled (warm-up). On one
//!   device a tick is one submit: per running stage, a copy plan slot -> input, its training plan and
//!   a copy plan output -> slot of the next buffer. The schedule is host logic (`replay.rs`), so a run
//!   is reproducible from its seed.
//!   An epoch is stage 0 consuming the training set once; the LR follows those epochs for every stage,
//!   and a stage's numbers for an epoch cover the steps it ran during it. The replay buffers are not
//!   checkpointed: a resumed run starts them empty and warms up again (the checkpoint metadata says
//!   so), so it does not continue bitwise as synchronous DGL does.
//!
//! Execution: on one device (`one_device.rs`) a synchronous step is one recorded plan and one submit,
//! an async tick one submit of the plans of the stages that run in it; on several devices
//! (`devices.rs`, `dgl.devices`) stage j runs on lane j % len, each lane a logical device with its own
//! thread, model copy and plans. Every stage has its own step values (`StepIo`: SGD hyper-parameters
//! and running loss sums) on its device. Work goes in segments of steps that every device finishes
//! before statistics are read (`epoch.rs`); checkpoints and evaluation use the run's own device.

mod devices;
mod one_device;

use std::ops::Range;

use super::epoch::EpochWork;
use super::plans::{eval_step_prefixes, scratch_for, zero_momentum, EvalStep, StepContext, StepIo};
use super::replay::{sync_actions, Action, Schedule};
use super::run::StageOutcome;
use super::state::{method_name, EpochSums};
use super::Run;
use crate::config::{Config, DglConfig, Method};
use crate::error::{Error, Result};
use crate::gpu::{list_adapters, BackendChoice, Gpu, GpuOptions, Plan, PlanBuilder, Readback, Tensor};
use crate::metrics::EpochRecord;
use devices::Devices;
use one_device::OneDevice;

const BUFFERS_NOTE: &str = "replay buffers are not saved: a resumed run starts them empty and warms up again";

/// Options to open adapter `index` as `layerwise devices` numbers it: over every backend unless one is
/// chosen, else over that backend's adapters (as `--adapter` does).
pub fn device_options(base: &GpuOptions, index: usize) -> Result<GpuOptions> {
    let mut o = base.clone();
    if base.backend == BackendChoice::Auto {
        let all = list_adapters(BackendChoice::All);
        let a = all.get(index).ok_or_else(|| {
            Error::usage(format!(
                "dgl.devices: there is no adapter {index}; `layerwise devices` lists {} (0..{})",
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

/// Refuse (before a run folder exists) replay buffers that the warm-up alone could not fill: stage j
/// starts once j buffers have filled one after the other.
pub fn check_buffers(cfg: &Config, train_images: usize) -> Result<()> {
    let (stages, steps) = (cfg.stages.len(), train_images / cfg.batch_size.max(1) * cfg.epochs);
    let size = cfg.dgl.as_ref().map_or(DglConfig::default().buffer_size, |d| d.buffer_size);
    if cfg.method == Method::DglAsync && stages > 1 && (stages - 1) * size >= steps {
        return Err(Error::usage(format!(
            "dgl.buffer_size {size} is too large for this run: stage 0 trains {steps} batches in all, and the last stage only starts after {} buffers of {size} batches have filled. Lower dgl.buffer_size.",
            stages - 1
        )));
    }
    Ok(())
}

/// How to open a run's own device: for DGL with `dgl.devices`, the first of them.
pub fn home_options(cfg: &Config, base: &GpuOptions) -> Result<GpuOptions> {
    match &cfg.dgl {
        Some(d) if matches!(cfg.method, Method::Dgl | Method::DglAsync) && !d.devices.is_empty() => {
            device_options(base, d.devices[0])
        }
        _ => Ok(base.clone()),
    }
}

/// Train every stage at once, synchronously (`dgl`) or with replay buffers (`dgl-async`).
pub fn train_dgl(run: &mut Run) -> Result<()> {
    let stages = run.model.stages.len();
    if run.progress.stage >= stages {
        return Ok(());
    }
    let mut d = Dgl::new(run)?;
    for epoch in run.progress.epoch..run.cfg.epochs {
        if run.progress.step == 0 && run.cfg.restarts_momentum(epoch) {
            // A new SGD for every stage at this LR step.
            d.exec.zero_momentum(run);
        }
        let label = format!("{} epoch {}/{}", d.method, epoch + 1, run.cfg.epochs);
        let e = run.train_epoch(&mut d, 0, epoch, &label)?;
        d.exec.gather(run)?;
        let (heads, ensembles) = d.evaluate(run)?;
        let elapsed = run.elapsed();
        // One record per stage: its own head's curve, and the heads and ensemble up to it.
        for j in 0..stages {
            let images = (e.sums.batches[j] * run.cfg.batch_size).max(1) as f64;
            run.record(EpochRecord {
                method: d.method.into(),
                stage: j,
                epoch: epoch + 1,
                lr: run.cfg.lr_at(epoch),
                train_loss: e.sums.mean_loss(j),
                // Divided before scaling, as DGL's records always were (the last bit differs from
                // `EpochSums::accuracy`'s order).
                train_acc: 100.0 * (e.sums.correct[j] / images),
                val_acc: heads[..=j].to_vec(),
                ensemble_acc: ensembles[j],
                img_per_s: e.img_per_s,
                seconds: e.seconds,
                elapsed,
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
    fn run_segment(&mut self, run: &mut Run, perm: &[u32], actions: &[Action]) -> Result<()> {
        match self {
            Exec::One(o) => o.run_segment(run, perm, actions),
            Exec::Several(d) => d.run_segment(&run.data.train, perm, run.cfg.batch_size, actions),
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
        if run.progress.fresh() {
            for b in run.model.blocks() {
                run.gpu.fill(&b.momentum.all, 0.0);
            }
            run.gpu.reset_peak();
        }
        let saved = run.progress.dgl.get_or_insert_with(Default::default).clone();
        let schedule = slots.map(|_| {
            let seed = run.cfg.seed.wrapping_mul(0x9E3779B97F4A7C15) ^ 0xD61A_5C4E_D01E;
            Schedule::new(stages, &dcfg, saved.rng.unwrap_or(seed), saved.tick)
        });
        let scratch = scratch_for(&run.gpu, &run.model, stages - 1, run.cfg.batch_size)?;
        let exec = if dcfg.devices.len() > 1 {
            let d = Devices::open(run, &dcfg.devices, slots)?;
            run.display.line(&d.placement(&dcfg.devices));
            Exec::Several(d)
        } else {
            Exec::One(OneDevice::new(run, &scratch, slots)?)
        };
        let ctx = StepContext { gpu: &run.gpu, cfg: &run.cfg, model: &run.model, io: &run.io, scratch: &scratch };
        let eval = eval_step_prefixes(&ctx, &run.eval_feed)?;
        Ok(Dgl { method: method_name(run.cfg.method), stages, exec, eval, schedule })
    }

    /// The actions of steps `steps`: every stage each step (synchronous), or the ticks until stage 0
    /// has trained on those steps' batches (async).
    fn actions(&mut self, steps: Range<usize>) -> Vec<Action> {
        let Some(s) = &mut self.schedule else { return sync_actions(steps, self.stages) };
        let mut all = Vec::new();
        let mut next = steps.start;
        while next < steps.end {
            let tick = s.next_tick(next);
            if tick.first().is_some_and(|a| a.stage == 0) {
                next += 1;
            }
            all.extend(tick);
        }
        all
    }

    /// Gather the parameters and save them with the progress, the schedule's state included.
    fn checkpoint(&self, run: &mut Run) -> Result<()> {
        let s = self.schedule.as_ref();
        let d = run.progress.dgl.get_or_insert_with(Default::default);
        d.tick = s.map_or(0, |s| s.tick());
        d.rng = s.map(|s| s.rng_state());
        d.buffers = if s.is_some() { BUFFERS_NOTE.to_string() } else { String::new() };
        self.exec.gather(run)?;
        run.checkpoint()
    }

    /// Validation accuracy (%) of every head, and of the ensemble of heads 0..=j for every j.
    fn evaluate(&self, run: &mut Run) -> Result<(Vec<f64>, Vec<f64>)> {
        let (mut acc, last) = run.evaluate(&self.eval)?;
        acc.push(last);
        let ensembles = acc.split_off(self.stages);
        Ok((acc, ensembles))
    }

    /// One summary per stage: they all trained for the whole run.
    fn summarise(&self, run: &mut Run) -> Result<()> {
        for j in 0..self.stages {
            let (Some(r), seconds) = run.recorded(j) else { continue };
            let (head, ens) = (r.head_acc(), r.ensemble_acc);
            let outcome = StageOutcome::of(Some(r), seconds);
            run.summarise_stage(j, &outcome)?;
            run.display.line(&format!(
                "{} stage {j}: head {head:.2}%, ensemble of heads 0..{j} {ens:.2}% ({seconds:.1}s of training)",
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

    fn start(&mut self, run: &Run, rng_key: [u32; 2], lr: f64, sums: &EpochSums) {
        // Stage 0 reads the images: the same data order and augmentation as greedy training's first
        // stage in this epoch.
        let (gpu, io, _) = self.exec.place(run, 0);
        gpu.upload_u32(&io.rng, &rng_key);
        for j in 0..self.stages {
            let (gpu, io, _) = self.exec.place(run, j);
            io.set_lr(gpu, &run.cfg, lr);
            gpu.upload(&io.stats, &[sums.loss_sum[j] as f32, sums.correct[j] as f32]);
        }
    }

    fn train(&mut self, run: &mut Run, perm: &[u32], steps: Range<usize>, batches: &mut [usize]) -> Result<()> {
        let actions = self.actions(steps);
        for a in &actions {
            batches[a.stage] += 1;
        }
        self.exec.run_segment(run, perm, &actions)
    }

    fn read_sums(&self, run: &Run) -> Result<Vec<(f64, f64)>> {
        (0..self.stages)
            .map(|j| {
                let (gpu, io, readback) = self.exec.place(run, j);
                let v = readback.read_f32(gpu, &io.stats)?;
                Ok((v[0] as f64, v[1] as f64))
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
