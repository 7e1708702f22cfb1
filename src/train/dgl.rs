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
//! Several devices (`dgl.devices`): stage j runs on logical device j % len, each device in its own
//! thread with its own copy of the model (only its stages train there) and plans. A stage's output is
//! read back and sent to the next stage's device over a bounded channel (for dgl-async into the replay
//! buffer, which lives on the consuming device). Work goes in segments of steps that every device
//! finishes before statistics are read; checkpoints and evaluation first gather the parameters onto the
//! run's own device (the first of the list). Every device follows the same host-side schedule, so the
//! results do not depend on thread timing: synchronous DGL gives the same numbers as on one device.

// The recorders take (gpu, cfg, model, feed, io, scratch) one by one until they share a step context.
#![allow(clippy::too_many_arguments)]

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::Instant;

use super::feed::Feed;
use super::plans::{
    augment_config, eval_step_prefixes, record_dgl_body, record_dgl_stage, scratch_for, EvalStep, StepIo,
};
use super::replay::{sync_actions, Action, Schedule, Store};
use super::state::{method_name, DglProgress};
use super::Run;
use crate::config::{Config, DglConfig, Method};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::{list_adapters, BackendChoice, Gpu, GpuOptions, InFlight, Plan, PlanBuilder, Readback, Tensor};
use crate::metrics::EpochRecord;
use crate::model::block::{Block, Scratch};
use crate::model::{permutation, BlockSpec, Model};
use crate::ops;

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

/// A logical device besides the run's own: a model copy (only its stages train on it) and its own
/// SGD hyper-parameters.
struct Device {
    gpu: Gpu,
    model: Model,
    io: StepIo,
    readback: Readback,
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

/// Everything for one device, all stages: synchronous (one plan) or async (plans per stage and slot).
enum Exec {
    Sync(Plan),
    Async {
        stages: Vec<Plan>,
        /// [j][k]: slot k of stage j's buffer -> stage j's input (index 0 unused).
        loads: Vec<Vec<Plan>>,
        /// [j][k]: stage j-1's output batch -> slot k of stage j's buffer (index 0 unused).
        stores: Vec<Vec<Plan>>,
    },
    Lanes(Vec<Lane>),
}

/// One logical device's share of the stages when they are spread over several.
struct Lane {
    units: Vec<Unit>,
}

/// One stage on a device of several.
struct Unit {
    stage: usize,
    plan: Plan,
    /// Stage > 0: where received batches go (synchronous) or are copied to from a slot (async).
    input: Option<Batch>,
    /// dgl-async: this stage's replay buffer, its copy plans slot -> input and host copies of every
    /// slot's labels and ids (they travel on with the output).
    slots: Vec<Batch>,
    loads: Vec<Plan>,
    slot_host: Vec<(Vec<u32>, Vec<u32>)>,
    /// Labels and ids of the batch in `input`.
    current: (Vec<u32>, Vec<u32>),
    output: Tensor,
    /// Reads `output` back when another stage follows.
    readback: Option<Readback>,
}

/// A stage's output on its way to the next stage's device.
struct Message {
    x: Vec<f32>,
    labels: Vec<u32>,
    ids: Vec<u32>,
}

/// Channel ends of one device's thread, indexed by stage.
struct Links {
    /// tx[j]: stage j's output to stage j+1's device.
    tx: Vec<Option<SyncSender<Message>>>,
    /// rx[j]: stage j's inputs from stage j-1's device.
    rx: Vec<Option<Receiver<Message>>>,
}

const PEER_STOPPED: &str = "another device's thread stopped";

/// Copy a block's parameters, momentum and running statistics between devices.
fn copy_block(from: &Gpu, src: &Block, to: &Gpu, dst: &Block) -> Result<()> {
    for (a, b) in [(&src.params, &dst.params), (&src.momentum, &dst.momentum), (&src.state, &dst.state)] {
        if !a.tensors.is_empty() {
            b.upload(to, &a.download(from)?);
        }
    }
    Ok(())
}

/// The state of a DGL run besides `Run`.
struct Dgl {
    method: &'static str,
    stages: usize,
    /// Logical devices (1 = everything on the run's own).
    lanes: usize,
    devices: Vec<Device>,
    /// [2] per stage on its device: loss sum, correct count of the current epoch.
    stats: Vec<Tensor>,
    exec: Exec,
    eval: EvalStep,
    schedule: Option<Schedule>,
}

/// Train every stage at once, synchronously (`dgl`) or with replay buffers (`dgl-async`).
pub fn train_dgl(run: &mut Run) -> Result<()> {
    let stages = run.model.stages.len();
    if run.progress.stage >= stages {
        return Ok(());
    }
    let mut d = Dgl::new(run)?;
    let saved = run.progress.dgl.take().unwrap_or_default();
    for epoch in run.progress.epoch..run.cfg.epochs {
        let lr = run.cfg.lr_at(epoch);
        let e = d.train_epoch(run, epoch, &saved)?;
        d.gather(run)?;
        let (heads, ensembles) = d.evaluate(run)?;
        let elapsed = run.elapsed();
        // One record per stage: its own head's curve, and the heads and ensemble up to it.
        for j in 0..stages {
            run.record(EpochRecord {
                method: d.method.into(),
                stage: j,
                epoch: epoch + 1,
                lr,
                train_loss: e.loss[j],
                train_acc: e.acc[j],
                val_acc: heads[..=j].to_vec(),
                ensemble_acc: ensembles[j],
                img_per_s: e.img_per_s,
                seconds: e.seconds,
                elapsed,
            })?;
        }
        run.progress.epoch = epoch + 1;
        run.progress.step = 0;
        run.progress.epoch_seconds = 0.0;
        run.progress.dgl = Some(d.progress(Vec::new(), Vec::new(), Vec::new()));
        d.checkpoint(run)?;
    }
    d.summarise(run)?;
    run.progress.stage = stages;
    run.progress.dgl = Some(d.progress(Vec::new(), Vec::new(), Vec::new()));
    d.checkpoint(run)?;
    run.write_report()
}

/// One epoch's training numbers, per stage.
struct EpochStats {
    loss: Vec<f64>,
    /// %
    acc: Vec<f64>,
    /// Stage 0's images per second, and the epoch's training seconds.
    img_per_s: f64,
    seconds: f64,
}

impl Dgl {
    fn new(run: &mut Run) -> Result<Dgl> {
        let stages = run.model.stages.len();
        let asynchronous = run.cfg.method == Method::DglAsync;
        let dcfg: DglConfig = run.cfg.dgl.clone().unwrap_or_default();
        let batch = run.cfg.batch_size;
        let lanes = dcfg.devices.len().max(1);
        let mut devices = Vec::new();
        for &index in dcfg.devices.iter().skip(1) {
            let gpu = Gpu::new(&device_options(&run.gpu_options, index)?)?;
            let model = Model::new(&gpu, run.model.spec.clone(), run.cfg.seed)?;
            let io = StepIo::new(&gpu)?;
            let readback = Readback::new(&gpu, 64);
            devices.push(Device { gpu, model, io, readback });
        }
        if lanes > 1 {
            let names: Vec<String> = (0..stages)
                .map(|j| {
                    let l = j % lanes;
                    let g = if l == 0 { &run.gpu } else { &devices[l - 1].gpu };
                    format!("stage {j} on device {l} ([{}] {})", dcfg.devices[l], g.summary.name)
                })
                .collect();
            run.display.line(&names.join(", "));
        }
        if run.progress.epoch == 0 && run.progress.step == 0 {
            for b in run.model.blocks() {
                run.gpu.fill(&b.momentum.all, 0.0);
            }
            run.gpu.reset_peak();
        }
        let method = method_name(run.cfg.method);
        let saved = run.progress.dgl.clone().unwrap_or_default();
        let schedule = asynchronous.then(|| {
            let seed = run.cfg.seed.wrapping_mul(0x9E3779B97F4A7C15) ^ 0xD61A_5C4E_D01E;
            Schedule::new(stages, &dcfg, saved.rng.unwrap_or(seed), saved.tick)
        });
        let mut stats = Vec::with_capacity(stages);
        for j in 0..stages {
            let l = j % lanes;
            let gpu = if l == 0 { &run.gpu } else { &devices[l - 1].gpu };
            stats.push(gpu.tensor(&[2], &format!("stage {j} train stats"))?);
        }
        let last = stages - 1;
        let home_scratch = scratch_for(&run.gpu, &run.model, last, batch)?;
        let exec = if lanes == 1 {
            if asynchronous {
                one_device_async(run, &stats, &home_scratch, dcfg.buffer_size)?
            } else {
                let x0 = run.gpu.tensor(&run.model.spec.input.batched(batch), "normalised input")?;
                let mut p = PlanBuilder::new(&run.gpu, "dgl step");
                ops::augment_batch(
                    &mut p,
                    &run.train_feed.images,
                    &run.train_feed.ids,
                    &run.io.rng,
                    &x0,
                    &augment_config(&run.cfg, true),
                )?;
                record_dgl_body(&mut p, &run.model, &x0, &run.train_feed.labels, &run.io.hyper, &stats, &home_scratch)?;
                Exec::Sync(p.finish()?)
            }
        } else {
            Exec::Lanes(lanes_for(run, &devices, &stats, asynchronous.then_some(dcfg.buffer_size))?)
        };
        let eval = eval_step_prefixes(&run.gpu, &run.cfg, &run.model, &run.eval_feed, &run.io, &home_scratch)?;
        let d = Dgl { method, stages, lanes, devices, stats, exec, eval, schedule };
        // Each device starts from the run's parameters (restored from a checkpoint when resuming).
        for j in 0..stages {
            let l = j % lanes;
            if l > 0 {
                let dev = &d.devices[l - 1];
                copy_block(&run.gpu, &run.model.stages[j], &dev.gpu, &dev.model.stages[j])?;
                copy_block(&run.gpu, &run.model.heads[j], &dev.gpu, &dev.model.heads[j])?;
            }
        }
        Ok(d)
    }

    /// Epoch `epoch`: shuffle, then segment after segment of steps (with the statistics read and a
    /// checkpoint if one is due after each), from `run.progress.step` when resuming mid-epoch.
    fn train_epoch(&mut self, run: &mut Run, epoch: usize, saved: &DglProgress) -> Result<EpochStats> {
        let n = self.stages;
        let batch = run.cfg.batch_size;
        let steps = run.data.train.len() / batch;
        let report_every = (steps / 20).clamp(1, 200);
        let key = run.epoch_key(0, epoch);
        let perm = permutation(run.data.train.len(), key);
        // The same data order and augmentation as greedy training's first stage in this epoch.
        run.gpu.upload_u32(&run.io.rng, &[key as u32 ^ (key >> 32) as u32, epoch as u32]);
        let lr = run.cfg.lr_at(epoch);
        run.io.set_lr(&run.gpu, &run.cfg, lr);
        for dev in &self.devices {
            dev.io.set_lr(&dev.gpu, &run.cfg, lr);
        }
        let start = run.progress.step;
        let resumed = start > 0 && saved.batches.len() == n;
        let (mut loss_sum, mut correct, mut batches) = if resumed {
            (saved.loss_sum.clone(), saved.correct.clone(), saved.batches.clone())
        } else {
            (vec![0.0; n], vec![0.0; n], vec![0; n])
        };
        for j in 0..n {
            self.gpu_of(run, j).upload(&self.stats[j], &[loss_sum[j] as f32, correct[j] as f32]);
        }
        let t0 = Instant::now();
        let seconds_before = run.progress.epoch_seconds;
        let label = format!("{} epoch {}/{}", self.method, epoch + 1, run.cfg.epochs);
        let bar = run.display.epoch_bar(&label, steps as u64, start as u64);
        let mean = |sum: f64, b: usize| sum / b.max(1) as f64;
        let mut step = start;
        while step < steps {
            let end = ((step / report_every + 1) * report_every).min(steps);
            let actions = match &mut self.schedule {
                None => sync_actions(step..end, n),
                Some(s) => {
                    // Ticks until stage 0 has trained on this segment's batches.
                    let mut all = Vec::new();
                    let mut next = step;
                    while next < end {
                        let tick = s.next_tick(next);
                        if tick.first().is_some_and(|a| a.stage == 0) {
                            next += 1;
                        }
                        all.extend(tick);
                    }
                    all
                }
            };
            for a in &actions {
                batches[a.stage] += 1;
            }
            self.run_segment(run, &perm, &actions)?;
            step = end;
            let st = self.read_stats(run)?;
            for j in 0..n {
                (loss_sum[j], correct[j]) = st[j];
                let loss = mean(loss_sum[j], batches[j]);
                if !loss.is_finite() {
                    bar.finish_and_clear();
                    return Err(Error::NonFinite(format!(
                        "{label}: the loss of stage {j} became {loss} at step {step}; stopped. The last good checkpoint ({}) is kept; try a lower learning rate (--set optimizer.lr=...)",
                        run.dir.checkpoint_path().display()
                    )));
                }
            }
            let secs = t0.elapsed().as_secs_f64();
            let l = n - 1;
            bar.update(
                step as u64,
                mean(loss_sum[l], batches[l]),
                100.0 * mean(correct[l], batches[l] * batch),
                ((step - start) * batch) as f64 / secs.max(1e-9),
            );
            if run.last_checkpoint.elapsed().as_secs_f64() > run.cfg.checkpoint_minutes * 60.0 && step < steps {
                run.progress.step = step;
                run.progress.epoch_seconds = seconds_before + secs;
                run.progress.dgl = Some(self.progress(loss_sum.clone(), correct.clone(), batches.clone()));
                self.checkpoint(run)?;
            }
        }
        bar.finish_and_clear();
        let secs = t0.elapsed().as_secs_f64();
        Ok(EpochStats {
            loss: (0..n).map(|j| mean(loss_sum[j], batches[j])).collect(),
            acc: (0..n).map(|j| 100.0 * mean(correct[j], batches[j] * batch)).collect(),
            img_per_s: ((steps - start) * batch) as f64 / secs.max(1e-9),
            seconds: seconds_before + secs,
        })
    }

    fn gpu_of<'a>(&'a self, run: &'a Run, stage: usize) -> &'a Gpu {
        match stage % self.lanes {
            0 => &run.gpu,
            l => &self.devices[l - 1].gpu,
        }
    }

    /// Run the actions of one segment (a few steps of stage 0) and return once every device is done.
    fn run_segment(&mut self, run: &mut Run, perm: &[u32], actions: &[Action]) -> Result<()> {
        let batch = run.cfg.batch_size;
        let gpu = &run.gpu;
        let data = &run.data.train;
        let feed = &mut run.train_feed;
        match &mut self.exec {
            Exec::Sync(plan) => {
                let mut in_flight = InFlight::default();
                for b in actions.iter().filter_map(|a| a.batch) {
                    feed.load(gpu, data, &perm[b * batch..(b + 1) * batch]);
                    in_flight.submit(gpu, &[plan])?;
                }
                Ok(())
            }
            Exec::Async { stages, loads, stores } => {
                let mut in_flight = InFlight::default();
                let mut i = 0;
                while i < actions.len() {
                    let tick = actions[i].tick;
                    let mut plans: Vec<&Plan> = Vec::new();
                    while let Some(a) = actions.get(i).filter(|a| a.tick == tick) {
                        if let Some(b) = a.batch {
                            feed.load(gpu, data, &perm[b * batch..(b + 1) * batch]);
                        }
                        if let Some(k) = a.load {
                            plans.push(&loads[a.stage][k]);
                        }
                        plans.push(&stages[a.stage]);
                        if let Some(Store::Slot(k)) = a.store {
                            plans.push(&stores[a.stage + 1][k]);
                        }
                        i += 1;
                    }
                    // One submit per tick, whatever ran in it.
                    in_flight.submit(gpu, &plans)?;
                }
                Ok(())
            }
            Exec::Lanes(lanes) => {
                let n = self.stages;
                let mut links: Vec<Links> = (0..lanes.len())
                    .map(|_| Links { tx: (0..n).map(|_| None).collect(), rx: (0..n).map(|_| None).collect() })
                    .collect();
                for j in 0..n - 1 {
                    let (tx, rx) = sync_channel(2);
                    links[j % self.lanes].tx[j] = Some(tx);
                    links[(j + 1) % self.lanes].rx[j + 1] = Some(rx);
                }
                let gpus: Vec<&Gpu> = std::iter::once(gpu).chain(self.devices.iter().map(|d| &d.gpu)).collect();
                let mut feed = Some(feed);
                let results: Vec<Result<()>> = std::thread::scope(|sc| {
                    let handles: Vec<_> = lanes
                        .iter_mut()
                        .zip(links)
                        .zip(gpus)
                        .enumerate()
                        .map(|(l, ((lane, links), g))| {
                            let f = if l == 0 { feed.take() } else { None };
                            sc.spawn(move || run_lane(lane, g, f, data, perm, batch, actions, links))
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().unwrap_or_else(|_| Err(Error::gpu("a device thread panicked"))))
                        .collect()
                });
                // The first real failure, not the ones it caused on the other devices.
                let mut errors: Vec<Error> = results.into_iter().filter_map(|r| r.err()).collect();
                match errors.iter().position(|e| !e.to_string().contains(PEER_STOPPED)) {
                    Some(i) => Err(errors.swap_remove(i)),
                    None => errors.into_iter().next().map_or(Ok(()), Err),
                }
            }
        }
    }

    /// Every stage's [loss sum, correct count] so far this epoch.
    fn read_stats(&self, run: &Run) -> Result<Vec<(f64, f64)>> {
        (0..self.stages)
            .map(|j| {
                let v = match j % self.lanes {
                    0 => run.readback.read_f32(&run.gpu, &self.stats[j])?,
                    l => self.devices[l - 1].readback.read_f32(&self.devices[l - 1].gpu, &self.stats[j])?,
                };
                Ok((v[0] as f64, v[1] as f64))
            })
            .collect()
    }

    /// Bring every stage's parameters onto the run's own device (for evaluation and checkpoints).
    fn gather(&self, run: &Run) -> Result<()> {
        for j in 0..self.stages {
            let l = j % self.lanes;
            if l > 0 {
                let dev = &self.devices[l - 1];
                copy_block(&dev.gpu, &dev.model.stages[j], &run.gpu, &run.model.stages[j])?;
                copy_block(&dev.gpu, &dev.model.heads[j], &run.gpu, &run.model.heads[j])?;
            }
        }
        Ok(())
    }

    fn checkpoint(&self, run: &mut Run) -> Result<()> {
        self.gather(run)?;
        run.checkpoint()
    }

    fn progress(&self, loss_sum: Vec<f64>, correct: Vec<f64>, batches: Vec<usize>) -> DglProgress {
        let s = self.schedule.as_ref();
        DglProgress {
            loss_sum,
            correct,
            batches,
            tick: s.map_or(0, |s| s.tick()),
            rng: s.map(|s| s.rng_state()),
            buffers: if s.is_some() { BUFFERS_NOTE.to_string() } else { String::new() },
        }
    }

    /// Validation accuracy (%) of every head, and of the ensemble of heads 0..=j for every j.
    fn evaluate(&self, run: &mut Run) -> Result<(Vec<f64>, Vec<f64>)> {
        let (mut acc, last) =
            super::evaluate_with(&run.gpu, &mut run.eval_feed, &run.readback, &self.eval, &run.data.val)?;
        acc.push(last);
        let ensembles = acc.split_off(self.stages);
        Ok((acc, ensembles))
    }

    /// One summary per stage: they all trained for the whole run.
    fn summarise(&self, run: &mut Run) -> Result<()> {
        for j in 0..self.stages {
            let recs: Vec<&EpochRecord> = run.records.iter().filter(|r| r.stage == j).collect();
            let Some(r) = recs.last() else { continue };
            let (head, ens, img_s) = (r.head_acc(), r.ensemble_acc, r.img_per_s);
            let seconds = recs.iter().map(|r| r.seconds).sum::<f64>();
            run.summarise_stage(j, seconds, img_s, head, ens)?;
            run.display.line(&format!(
                "{} stage {j}: head {head:.2}%, ensemble of heads 0..{j} {ens:.2}% ({seconds:.1}s of training)",
                self.method
            ));
        }
        Ok(())
    }
}

/// dgl-async on one device: per stage a plan that trains it on a fixed input batch (stage 0: the
/// feed), per buffer slot a copy plan into that input and one from the previous stage's output.
fn one_device_async(run: &Run, stats: &[Tensor], scratch: &Scratch, slots: usize) -> Result<Exec> {
    let gpu = &run.gpu;
    let model = &run.model;
    let batch = run.cfg.batch_size;
    let n = model.stages.len();
    let mut plans = Vec::with_capacity(n);
    // What each stage trained on and produced: (its input batch, its output).
    let mut flow: Vec<(Batch, Tensor)> = Vec::with_capacity(n);
    for (j, st) in stats.iter().enumerate() {
        let shape = model.spec.stages[j].input.batched(batch);
        let mut p = PlanBuilder::new(gpu, format!("dgl-async stage {j}"));
        let input = if j == 0 {
            let x0 = gpu.tensor(&shape, "normalised input")?;
            let f = &run.train_feed;
            ops::augment_batch(&mut p, &f.images, &f.ids, &run.io.rng, &x0, &augment_config(&run.cfg, true))?;
            Batch { x: x0, labels: f.labels.clone(), ids: f.ids.clone() }
        } else {
            Batch::new(gpu, &shape, &format!("stage {j} input"))?
        };
        let out = record_dgl_stage(&mut p, model, j, &input.x, &input.labels, &run.io.hyper, st, scratch)?;
        plans.push(p.finish()?);
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
    Ok(Exec::Async { stages: plans, loads, stores })
}

/// The per-device plans when stages are spread over several devices. `slots`: the replay-buffer size
/// for dgl-async, None for synchronous DGL.
fn lanes_for(run: &Run, devices: &[Device], stats: &[Tensor], slots: Option<usize>) -> Result<Vec<Lane>> {
    let n = run.model.stages.len();
    let lanes = devices.len() + 1;
    let batch = run.cfg.batch_size;
    let place = |l: usize| -> (&Gpu, &Model, &StepIo) {
        match l {
            0 => (&run.gpu, &run.model, &run.io),
            l => (&devices[l - 1].gpu, &devices[l - 1].model, &devices[l - 1].io),
        }
    };
    let mut out: Vec<Lane> = (0..lanes).map(|_| Lane { units: Vec::new() }).collect();
    for (l, lane) in out.iter_mut().enumerate() {
        let (gpu, model, io) = place(l);
        let mine: Vec<usize> = (0..n).filter(|j| j % lanes == l).collect();
        let specs: Vec<&BlockSpec> = mine.iter().flat_map(|&j| [&model.stages[j].spec, &model.heads[j].spec]).collect();
        let scratch = Scratch::new(gpu, &specs, batch)?;
        for &j in &mine {
            let shape = model.spec.stages[j].input.batched(batch);
            let mut p = PlanBuilder::new(gpu, format!("dgl stage {j}"));
            let (x, labels, input) = if j == 0 {
                let x0 = gpu.tensor(&shape, "normalised input")?;
                let f = &run.train_feed;
                ops::augment_batch(&mut p, &f.images, &f.ids, &io.rng, &x0, &augment_config(&run.cfg, true))?;
                (x0, f.labels.clone(), None)
            } else {
                let b = Batch::new(gpu, &shape, &format!("stage {j} input"))?;
                (b.x.clone(), b.labels.clone(), Some(b))
            };
            let output = record_dgl_stage(&mut p, model, j, &x, &labels, &io.hyper, &stats[j], &scratch)?;
            let plan = p.finish()?;
            let (mut slot_batches, mut loads) = (Vec::new(), Vec::new());
            if let (Some(m), Some(inp)) = (slots, &input) {
                for k in 0..m {
                    let s = Batch::new(gpu, &shape, &format!("stage {j} replay slot {k}"))?;
                    loads.push(s.copy_plan(gpu, inp, format!("slot {k} -> stage {j}"))?);
                    slot_batches.push(s);
                }
            }
            let readback = (j + 1 < n).then(|| Readback::new(gpu, output.bytes()));
            lane.units.push(Unit {
                stage: j,
                plan,
                input,
                slot_host: vec![(Vec::new(), Vec::new()); slot_batches.len()],
                slots: slot_batches,
                loads,
                current: (Vec::new(), Vec::new()),
                output,
                readback,
            });
        }
    }
    Ok(out)
}

/// One device's thread: walk the segment's actions in their global order, receiving what the previous
/// stage's device sends for this device's stages at the point it was produced, and running this
/// device's stages. Every device sees the same order, so the outcome never depends on timing.
fn run_lane(
    lane: &mut Lane,
    gpu: &Gpu,
    mut feed: Option<&mut Feed>,
    data: &Dataset,
    perm: &[u32],
    batch: usize,
    actions: &[Action],
    links: Links,
) -> Result<()> {
    let mut in_flight = InFlight::default();
    let stopped = |j: usize| Error::gpu(format!("{PEER_STOPPED} (the device of stage {j})"));
    for a in actions {
        if let Some(dest) = a.store {
            if let Some(u) = lane.units.iter_mut().find(|u| u.stage == a.stage + 1) {
                let rx = links.rx[u.stage].as_ref().expect("a channel into every stage but the first");
                let m = rx.recv().map_err(|_| stopped(a.stage))?;
                let to = match dest {
                    Store::Input => {
                        u.current = (m.labels.clone(), m.ids.clone());
                        u.input.as_ref().expect("stage > 0 has an input")
                    }
                    Store::Slot(k) => {
                        u.slot_host[k] = (m.labels.clone(), m.ids.clone());
                        &u.slots[k]
                    }
                };
                gpu.upload(&to.x, &m.x);
                gpu.upload_u32(&to.labels, &m.labels);
                gpu.upload_u32(&to.ids, &m.ids);
            }
        }
        let Some(u) = lane.units.iter_mut().find(|u| u.stage == a.stage) else { continue };
        let mut plans: Vec<&Plan> = Vec::with_capacity(2);
        if let Some(b) = a.batch {
            let rows = &perm[b * batch..(b + 1) * batch];
            feed.as_mut().expect("stage 0's device holds the feed").load(gpu, data, rows);
            u.current = (rows.iter().map(|&i| data.labels[i as usize] as u32).collect(), rows.to_vec());
        }
        if let Some(k) = a.load {
            u.current = u.slot_host[k].clone();
            plans.push(&u.loads[k]);
        }
        plans.push(&u.plan);
        in_flight.submit(gpu, &plans)?;
        if a.store.is_some() {
            let rb = u.readback.as_ref().expect("a stage with a successor reads its output back");
            let x = rb.read_f32(gpu, &u.output)?;
            let tx = links.tx[u.stage].as_ref().expect("a channel out of every stage but the last");
            tx.send(Message { x, labels: u.current.0.clone(), ids: u.current.1.clone() })
                .map_err(|_| stopped(a.stage + 1))?;
        }
    }
    gpu.wait()
}
