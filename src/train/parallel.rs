//! Data-parallel greedy and e2e training over several devices (`devices = [0, 1, ...]`): each device
//! holds a replica of the model and trains on its slice of every step's batch (device d the rows
//! d*b..(d+1)*b of a batch of D*b). Each device's step ends with the trained blocks' gradients (and
//! its loss statistics) copied into a host-mapped buffer; the host sums the gradients in device order,
//! each weighted 1/D, which is the gradient of the whole batch's mean loss (`gpu::Exchange`), and
//! writes the sum back to every device, which then applies the same SGD update. The order of the sum
//! is fixed, so the result does not depend on which device finishes first.
//!
//! Device 0 is the run's own: its model is the one evaluated, reported and checkpointed. Batchnorm in
//! training mode normalises each device's slice with the slice's statistics, and the running
//! statistics kept are device 0's, as in PyTorch's DataParallel (whose module lives on the first
//! device). When a stage starts, every replica takes device 0's parameters and statistics (the frozen
//! stages' running statistics included); at every epoch start, the trained blocks' weights and
//! momentum again, so replicas on adapters that round differently cannot drift apart for long.
//!
//! Per step: one submit per device up to the gradients, the exchange, one submit per device for the
//! update. The loss statistics stay on each device and are added up when read; checkpoints save each
//! device's, so a resumed epoch continues them bit for bit.

use super::dgl::device_options;
use super::epoch::{EpochWork, Segment, StageStats};
use super::feed::Feed;
use super::plans::{
    hold_training, record_sgd, record_step_gradients, scratch_for, step_label, trained_blocks, StepContext, StepIo,
    Trains,
};
use super::source::EpochBatches;
use super::state::EpochSums;
use super::{memory, Run};
use crate::config::Config;
use crate::error::Result;
use crate::gpu::{Exchange, Gpu, GpuOptions, Plan, PlanBuilder, Tensor};
use crate::model::block::Block;
use crate::model::{Model, ModelSpec};

/// Copy a block's parameters, running statistics and (when both train) momentum between devices.
pub(super) fn copy_block(from: &Gpu, src: &Block, to: &Gpu, dst: &Block) -> Result<()> {
    let mut pairs = vec![(&src.params, &dst.params), (&src.state, &dst.state)];
    if let (Some(a), Some(b)) = (src.training(), dst.training()) {
        pairs.push((&a.momentum, &b.momentum));
    }
    for (a, b) in pairs {
        if !a.tensors.is_empty() {
            b.upload(to, &a.download(from)?);
        }
    }
    Ok(())
}

/// Before a run's folder exists (the run's own device, the first, is open and checked): every other
/// adapter the run names exists, and for data parallelism each one (opened on its own for the check)
/// holds its slice of the batch.
pub(super) fn check_devices(cfg: &Config, base: &GpuOptions, spec: &ModelSpec) -> Result<()> {
    for &index in cfg.run_devices().iter().skip(1) {
        let options = device_options(base, index)?;
        if cfg.data_parallel() > 1 {
            memory::check_memory(&Gpu::new(&options)?, cfg, spec)?;
        }
    }
    Ok(())
}

/// A device besides the run's own: its model replica, batch slice and step values.
struct Replica {
    gpu: Gpu,
    model: Model,
    feed: Feed,
    io: StepIo,
}

/// The replicas of a data-parallel run (devices 1.. of `devices`; device 0 is the run's own).
pub(super) struct DataParallel {
    replicas: Vec<Replica>,
}

impl DataParallel {
    /// Open devices 1.. of the run's `devices` with a replica each (their memory was checked with the
    /// run, `check_devices`), and say where the run trains; None without data parallelism.
    pub fn open(run: &Run) -> Result<Option<DataParallel>> {
        let cfg = &run.cfg;
        if cfg.data_parallel() < 2 {
            return Ok(None);
        }
        let mut replicas = Vec::with_capacity(cfg.devices.len() - 1);
        for &index in &cfg.devices[1..] {
            let gpu = Gpu::new(&device_options(&run.gpu_options, index)?)?;
            let model = Model::new(&gpu, run.model.spec.clone(), cfg.seed)?;
            let feed = Feed::new(&gpu, cfg.device_batch(), run.data.train.image_len())?;
            let io = StepIo::new(&gpu)?;
            replicas.push(Replica { gpu, model, feed, io });
        }
        let dp = DataParallel { replicas };
        run.display.line(&dp.placement(run));
        Ok(Some(dp))
    }

    /// Where the run trains, for its log.
    fn placement(&self, run: &Run) -> String {
        let names: Vec<String> = std::iter::once(&run.gpu)
            .chain(self.replicas.iter().map(|r| &r.gpu))
            .zip(&run.cfg.devices)
            .enumerate()
            .map(|(d, (g, index))| format!("device {d} ([{index}] {})", g.summary.name))
            .collect();
        format!(
            "data parallel: {} images per step as {} slices of {} on {}",
            run.cfg.batch_size,
            names.len(),
            run.cfg.device_batch(),
            names.join(", ")
        )
    }

    /// The steps of `trains` on every device: each replica first holds what device 0 holds (every
    /// block's parameters and statistics; gradients and momentum of the trained blocks only).
    pub fn steps(&mut self, run: &Run, trains: Trains) -> Result<ParallelSteps<'_>> {
        let last = trains.parts(run.model.stages.len()).0.end - 1;
        for r in &mut self.replicas {
            hold_training(&r.gpu, &mut r.model, trains)?;
            for (a, b) in run.model.blocks().zip(r.model.blocks()) {
                copy_block(&run.gpu, a, &r.gpu, b)?;
            }
        }
        let devices: Vec<(&Gpu, &Model, &Feed, &StepIo)> =
            std::iter::once((&run.gpu, &run.model, &run.train_feed, &run.io))
                .chain(self.replicas.iter().map(|r| (&r.gpu, &r.model, &r.feed, &r.io)))
                .collect();
        let gpus: Vec<&Gpu> = devices.iter().map(|d| d.0).collect();
        let lens: Vec<usize> = exchanged_blocks(&run.model, trains).map(|b| b.params.all.len()).collect();
        let exchange = Exchange::new(&gpus, &lens, run.io.stats.len())?;
        let (mut grads, mut updates, mut exchanged) = (Vec::new(), Vec::new(), Vec::new());
        for (d, &(gpu, model, feed, io)) in devices.iter().enumerate() {
            let scratch = scratch_for(gpu, model, last, run.cfg.micro_batch())?;
            let ctx = StepContext { gpu, cfg: &run.cfg, model, io, scratch: &scratch };
            let mut p = PlanBuilder::new(gpu, format!("{} on device {d}", step_label(trains)));
            let arenas = record_step_gradients(&mut p, &ctx, feed, trains)?;
            let trained = trained_blocks(model, trains).1;
            let mut tensors: Vec<Tensor> = trained
                .iter()
                .zip(&arenas)
                .filter(|(b, _)| !b.params.tensors.is_empty())
                .map(|(_, a)| a.all.clone())
                .collect();
            tensors.push(io.stats.clone());
            exchange.record_copy_out(&mut p, d, &tensors);
            grads.push(p.finish()?);
            let mut p = PlanBuilder::new(gpu, format!("{} update on device {d}", step_label(trains)));
            record_sgd(&mut p, &trained, &arenas, io)?;
            updates.push(p.finish()?);
            exchanged.push(tensors);
        }
        drop(devices);
        Ok(ParallelSteps { dp: self, trains, grads, updates, exchanged, exchange })
    }
}

/// The trained blocks that hold parameters (what the exchange sums), in `trained_blocks` order.
fn exchanged_blocks(model: &Model, trains: Trains) -> impl Iterator<Item = &Block> {
    trained_blocks(model, trains).1.into_iter().filter(|b| !b.params.tensors.is_empty())
}

/// Device `d`'s adapter and step values: the run's own for device 0, else replica d - 1's.
fn device<'r>(replicas: &'r [Replica], run: &'r Run, d: usize) -> (&'r Gpu, &'r StepIo) {
    match d {
        0 => (&run.gpu, &run.io),
        _ => (&replicas[d - 1].gpu, &replicas[d - 1].io),
    }
}

/// A stage's (or the e2e run's) data-parallel steps: `EpochWork` over every device.
pub(super) struct ParallelSteps<'a> {
    dp: &'a mut DataParallel,
    trains: Trains,
    /// Per device (0 = the run's own): the step up to its gradients, ending with their copy out, and
    /// the update from the summed gradients.
    grads: Vec<Plan>,
    updates: Vec<Plan>,
    /// Per device: the exchanged tensors (every trained block's gradients, then the loss statistics).
    exchanged: Vec<Vec<Tensor>>,
    exchange: Exchange,
}

impl ParallelSteps<'_> {
    fn devices(&self) -> usize {
        self.grads.len()
    }

    /// One step: every device's slice of batch `s` loaded and its gradients computed, the exchange,
    /// the same update on every device.
    fn step(&mut self, run: &mut Run, data: &mut EpochBatches, s: usize) -> Result<()> {
        let n = self.devices();
        for d in 0..n {
            let (gpu, feed) = match d {
                0 => (&run.gpu, &mut run.train_feed),
                _ => {
                    let r = &mut self.dp.replicas[d - 1];
                    (&r.gpu, &mut r.feed)
                }
            };
            data.load_part(gpu, feed, s, d, n)?;
            gpu.run(&[&self.grads[d]])?;
        }
        for d in 0..n {
            let (gpu, _) = device(&self.dp.replicas, run, d);
            self.exchange.add(d, gpu, 1.0 / n as f32)?;
        }
        // A batch that diverged on any device stops the update on every device.
        let diverged = (0..n).any(|d| self.exchange.read(d)[2] != 0.0);
        for d in 0..n {
            let (gpu, io) = device(&self.dp.replicas, run, d);
            let stats = self.exchange.read(d);
            if diverged && stats[2] == 0.0 {
                gpu.upload(&io.stats, &[stats[0], stats[1], 1.0]);
            }
            let summed = &self.exchanged[d];
            self.exchange.write_sum(gpu, &summed[..summed.len() - 1]);
            gpu.run(&[&self.updates[d]])?;
        }
        Ok(())
    }
}

impl EpochWork for ParallelSteps<'_> {
    fn stages(&self) -> usize {
        1
    }

    fn segment_steps(&self, _report_every: usize) -> usize {
        1
    }

    fn start(&mut self, run: &Run, rng_key: [u32; 2], lr: f64, sums: &EpochSums) -> Result<()> {
        self.sync_trained(run)?;
        // A resumed epoch continues every device's own running sums (bitwise as if never stopped).
        let saved = &run.progress.device_sums;
        let resumed = run.progress.step > 0 && saved.len() == self.devices();
        for d in 0..self.devices() {
            let (gpu, io) = device(&self.dp.replicas, run, d);
            gpu.upload_u32(&io.rng, &rng_key);
            io.set_lr(gpu, &run.cfg, lr);
            let (loss, correct) = match saved.get(d).filter(|_| resumed) {
                Some(&[loss, correct]) => (loss as f32, correct as f32),
                None if d == 0 => (sums.loss_sum[0] as f32, sums.correct[0] as f32),
                None => (0.0, 0.0),
            };
            gpu.upload(&io.stats, &[loss, correct, 0.0]);
        }
        Ok(())
    }

    fn train(&mut self, run: &mut Run, segment: Segment) -> Result<()> {
        for s in segment.steps {
            self.step(run, segment.data, s)?;
            // The loss statistics count batch-means of every device's micro-batches.
            segment.batches[0] += self.devices() * run.cfg.grad_accum;
        }
        Ok(())
    }

    /// The sums over devices of their statistics after the last step (each device's, as the
    /// exchange read them: the update does not change them).
    fn read_sums(&self, _run: &Run) -> Result<Vec<StageStats>> {
        let mut total = StageStats { loss_sum: 0.0, correct: 0.0, diverged: false };
        for d in 0..self.devices() {
            let s = StageStats::read(self.exchange.read(d));
            total.loss_sum += s.loss_sum;
            total.correct += s.correct;
            total.diverged |= s.diverged;
        }
        Ok(vec![total])
    }

    fn checkpoint(&mut self, run: &mut Run) -> Result<()> {
        let sums = (0..self.devices()).map(|d| self.exchange.read(d)).map(|s| [s[0] as f64, s[1] as f64]);
        run.progress.device_sums = sums.collect();
        run.checkpoint()
    }
}

impl ParallelSteps<'_> {
    /// Every replica takes device 0's trained weights and momentum (equal already where the devices
    /// round alike; after a momentum restart or a resume, device 0's are the run's).
    fn sync_trained(&self, run: &Run) -> Result<()> {
        for r in &self.dp.replicas {
            let theirs = trained_blocks(&r.model, self.trains).1;
            for (a, b) in trained_blocks(&run.model, self.trains).1.into_iter().zip(theirs) {
                copy_block(&run.gpu, a, &r.gpu, b)?;
            }
        }
        Ok(())
    }
}
