//! The epoch loop every method shares: shuffle, then train segment after segment of steps, reading the
//! running loss and accuracy back between segments (never inside one), stopping on a diverged loss,
//! writing a checkpoint when one is due, and stopping with one when asked to (a signal). What a segment
//! trains is the method's (`EpochWork`): one recorded plan per step for greedy and e2e, every stage on
//! one device or several for DGL.
//!
//! Divergence is caught on the device at every step, before the update: the loss kernel flags a batch
//! whose mean loss is NaN, infinite or exploding, and the SGD kernels apply nothing from then on. The
//! loop sees the flag at its next read and stops; no checkpoint is written after it.

use std::ops::Range;
use std::time::Instant;

use super::source::EpochBatches;
use super::state::EpochSums;
use super::stop::stop_requested;
use super::Run;
use crate::data::stream::EpochPlan;
use crate::error::{Error, Result};
use crate::gpu::{InFlight, Plan};

/// The method-specific part of an epoch.
pub(super) trait EpochWork {
    /// Stages with running sums of their own (one for greedy and e2e).
    fn stages(&self) -> usize;
    /// Steps the method runs before the loop may read statistics or write a checkpoint: greedy and e2e
    /// one (a checkpoint can follow any step), DGL a whole statistics segment (its devices finish one
    /// together).
    fn segment_steps(&self, report_every: usize) -> usize;
    /// The epoch's RNG key (read by the augmentation), its learning rate, and the running sums it
    /// continues from, onto the device(s).
    fn start(&mut self, run: &Run, rng_key: [u32; 2], lr: f64, sums: &EpochSums) -> Result<()>;
    /// Train a segment of the epoch's steps.
    fn train(&mut self, run: &mut Run, segment: Segment) -> Result<()>;
    /// The run has nothing left to train, even before the epoch's last step (dgl-async ends once every
    /// stage has trained its own epochs).
    fn finished(&self) -> bool {
        false
    }
    /// Every stage's running statistics so far this epoch.
    fn read_sums(&self, run: &Run) -> Result<Vec<StageStats>>;
    /// Write a checkpoint of the run as it stands (`run.progress` is up to date).
    fn checkpoint(&mut self, run: &mut Run) -> Result<()>;
}

/// What one `EpochWork::train` call trains: steps `steps` of the epoch, step s reading batch s of
/// `data` (in increasing order), adding the batches each stage trained on to `batches`.
pub(super) struct Segment<'e> {
    pub data: &'e mut EpochBatches,
    pub steps: Range<usize>,
    pub batches: &'e mut [usize],
}

/// One stage's running statistics on the device: `StepIo::stats`.
pub(super) struct StageStats {
    pub loss_sum: f64,
    pub correct: f64,
    /// A batch's loss diverged (the updates from it on were not applied).
    pub diverged: bool,
}

impl StageStats {
    /// From the three floats of `StepIo::stats`.
    pub fn read(v: &[f32]) -> StageStats {
        StageStats { loss_sum: v[0] as f64, correct: v[1] as f64, diverged: v[2] != 0.0 }
    }
}

/// What an epoch's training measured.
pub(super) struct EpochResult {
    pub sums: EpochSums,
    /// Images per second of stage 0 (the only one for greedy), and the epoch's training seconds.
    pub img_per_s: f64,
    pub seconds: f64,
    /// Seconds this epoch's steps waited for streamed batches (None: the data is in memory).
    pub data_wait: Option<f64>,
}

impl Run {
    /// The seed of everything random in epoch `epoch` of stage `stage`.
    fn epoch_key(&self, stage: usize, epoch: usize) -> u64 {
        self.cfg.seed.wrapping_mul(0x9E3779B97F4A7C15) ^ ((stage as u64) << 32 | epoch as u64)
    }

    /// Epoch `epoch` of `work`, its data order and augmentation keyed by (seed, `stage`, epoch):
    /// shuffle, then segments of steps with the statistics read (and a checkpoint if one is due) after
    /// each, from `self.progress.step` when resuming mid-epoch. The last partial batch is dropped:
    /// every step has the shape its plan was recorded for.
    pub(super) fn train_epoch(
        &mut self,
        work: &mut dyn EpochWork,
        stage: usize,
        epoch: usize,
        label: &str,
    ) -> Result<EpochResult> {
        let (n, b) = (self.data.train.len(), self.cfg.batch_size);
        let steps = n / b;
        let key = self.epoch_key(stage, epoch);
        let plan = EpochPlan::shuffled(n, key).from_batch(self.progress.step);
        let mut data = self.data.train.epoch(plan, b)?;
        let rng_key = [key as u32 ^ (key >> 32) as u32, (stage * 100_000 + epoch) as u32];
        let start = self.progress.step;
        let mut sums = self.progress.epoch_sums(work.stages());
        work.start(self, rng_key, self.cfg.lr_at(epoch), &sums)?;
        let (t0, seconds_before) = (Instant::now(), self.progress.epoch_seconds);
        // A resumed epoch's wait for data continues from its checkpoint's.
        let wait_before = self.progress.epoch_data_wait;
        let bar = self.display.epoch_bar(label, steps as u64, start as u64);
        let report_every = (steps / 20).clamp(1, 200);
        let (mut step, mut last_read) = (start, start);
        while step < steps && !work.finished() {
            let boundary = ((step / report_every + 1) * report_every).min(steps);
            let end = (step + work.segment_steps(report_every)).min(boundary);
            work.train(self, Segment { data: &mut data, steps: step..end, batches: &mut sums.batches })?;
            step = end;
            let checkpoint_due =
                self.last_checkpoint.elapsed().as_secs_f64() > self.cfg.checkpoint_minutes * 60.0 && step < steps;
            // A stop asked for is honoured here, unless the epoch's end (and its checkpoint) comes next.
            let stop = stop_requested() && step < steps;
            if step < boundary && !checkpoint_due && !stop {
                continue;
            }
            let read = work.read_sums(self)?;
            for (j, s) in read.iter().enumerate() {
                (sums.loss_sum[j], sums.correct[j]) = (s.loss_sum, s.correct);
            }
            if let Some(j) = read.iter().position(|s| s.diverged) {
                bar.finish_and_clear();
                return Err(self.diverged_loss(label, &sums, j, last_read..step));
            }
            last_read = step;
            let secs = t0.elapsed().as_secs_f64();
            let l = sums.stages() - 1;
            let img_s = ((step - start) * b) as f64 / secs.max(1e-9);
            bar.update(step as u64, sums.mean_loss(l), sums.accuracy(l, self.cfg.micro_batch()), img_s);
            if checkpoint_due || stop {
                self.progress.set_epoch_point(step, &sums, seconds_before + secs, wait_before + data.waited());
                work.checkpoint(self)?;
            }
            if stop {
                bar.finish_and_clear();
                return Err(Error::Stopped(format!(
                    "stopped on request during {label}, after step {step} of {steps}; checkpoint written. Continue with:\n  layerwise train --resume {}",
                    self.dir.path.display()
                )));
            }
        }
        bar.finish_and_clear();
        let secs = t0.elapsed().as_secs_f64();
        self.progress.end_epoch();
        Ok(EpochResult {
            sums,
            img_per_s: ((step - start) * b) as f64 / secs.max(1e-9),
            seconds: seconds_before + secs,
            data_wait: data.stats().map(|_| wait_before + data.waited()),
        })
    }

    /// The error that stops a run whose stage `j` flagged a diverged loss in `steps`.
    fn diverged_loss(&self, label: &str, sums: &EpochSums, j: usize, steps: Range<usize>) -> Error {
        let whose = if sums.stages() == 1 { String::new() } else { format!(" of stage {j}") };
        let limit = crate::ops::cross_entropy::loss_limit(self.model.spec.classes);
        self.diverged(&format!(
            "{label}: the training loss{whose} diverged between steps {} and {} (a batch's mean loss was NaN, infinite or above {limit:.0}; the mean so far is {:.4e}). No update from that batch on was applied",
            steps.start,
            steps.end,
            sums.mean_loss(j)
        ))
    }
}

/// Greedy and e2e on one device: one recorded plan per step, fed from the training split, with the
/// run's own step values (RNG key, SGD hyper-parameters, running sums).
pub(super) struct PlanSteps {
    plan: Plan,
    in_flight: InFlight,
}

impl PlanSteps {
    pub fn new(plan: Plan) -> PlanSteps {
        PlanSteps { plan, in_flight: InFlight::default() }
    }
}

impl EpochWork for PlanSteps {
    fn stages(&self) -> usize {
        1
    }

    fn segment_steps(&self, _report_every: usize) -> usize {
        1
    }

    fn start(&mut self, run: &Run, rng_key: [u32; 2], lr: f64, sums: &EpochSums) -> Result<()> {
        run.gpu.upload_u32(&run.io.rng, &rng_key);
        run.io.set_lr(&run.gpu, &run.cfg, lr);
        run.gpu.upload(&run.io.stats, &[sums.loss_sum[0] as f32, sums.correct[0] as f32, 0.0]);
        Ok(())
    }

    fn train(&mut self, run: &mut Run, segment: Segment) -> Result<()> {
        for s in segment.steps {
            segment.data.load(&run.gpu, &mut run.train_feed, s)?;
            self.in_flight.submit(&run.gpu, &[&self.plan])?;
            // The loss statistics count batch-means of micro-batches (`grad_accum` per step).
            segment.batches[0] += run.cfg.grad_accum;
        }
        Ok(())
    }

    fn read_sums(&self, run: &Run) -> Result<Vec<StageStats>> {
        Ok(vec![StageStats::read(&run.readback.read_f32(&run.gpu, &run.io.stats)?)])
    }

    fn checkpoint(&mut self, run: &mut Run) -> Result<()> {
        run.checkpoint()
    }
}
