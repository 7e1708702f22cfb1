//! DGL with its stages spread over several logical devices (`dgl.devices`): stage j trains on lane
//! j % len. Every lane, the first included, is a device of its own (the first on the run's adapter,
//! opened a second time), with its own copy of the model (only its stages train there), plans and
//! thread; the run's own device holds the parameters gathered for evaluation and checkpoints. A stage's
//! output is read back and sent to the next stage's lane over a bounded channel (for dgl-async into
//! the replay buffer, which lives on the consuming lane). Every lane walks the same host-side schedule,
//! so the results do not depend on thread timing: synchronous DGL gives the same numbers as on one
//! device.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;

use super::super::feed::Feed;
use super::super::parallel::copy_block;
use super::super::plans::{augment_config, record_dgl_forward, record_dgl_stage, zero_momentum, StepContext, StepIo};
use super::super::replay::{Action, Mode, Store};
use super::super::source::EpochBatches;
use super::super::Run;
use super::{device_options, Batch};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, InFlight, Plan, PlanBuilder, Readback, Tensor};
use crate::model::block::Scratch;
use crate::model::{BlockSpec, Model};
use crate::ops;

pub(super) struct Devices {
    lanes: Vec<Lane>,
}

/// One logical device and the stages it trains.
struct Lane {
    gpu: Gpu,
    model: Model,
    readback: Readback,
    /// The lane of stage 0: where the training batches arrive.
    feed: Option<Feed>,
    units: Vec<Unit>,
}

/// One stage on its lane.
struct Unit {
    stage: usize,
    /// The stage's step values (SGD hyper-parameters, running loss sums; stage 0's RNG key).
    io: StepIo,
    plan: Plan,
    /// dgl-async: the forward-only step of a stage that has finished its epochs.
    forward: Option<Plan>,
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

/// A stage's output on its way to the next stage's lane.
struct Message {
    x: Vec<f32>,
    labels: Vec<u32>,
    ids: Vec<u32>,
}

/// Channel ends of one lane's thread, indexed by stage.
struct Links {
    /// tx[j]: stage j's output to stage j+1's lane.
    tx: Vec<Option<SyncSender<Message>>>,
    /// rx[j]: stage j's inputs from stage j-1's lane.
    rx: Vec<Option<Receiver<Message>>>,
}

const PEER_STOPPED: &str = "another device's thread stopped";

impl Devices {
    /// Open a lane on each of `devices` (adapter indices), record its stages' plans and start its model
    /// from the run's parameters (restored from a checkpoint when resuming). `slots`: the replay-buffer
    /// size for dgl-async, None for synchronous DGL.
    pub fn open(run: &Run, devices: &[usize], slots: Option<usize>) -> Result<Devices> {
        let mut lanes = Vec::with_capacity(devices.len());
        for &index in devices {
            let gpu = Gpu::new(&device_options(&run.gpu_options, index)?)?;
            let model = Model::new(&gpu, run.model.spec.clone(), run.cfg.seed)?;
            lanes.push(Lane { readback: Readback::new(&gpu, 64), gpu, model, feed: None, units: Vec::new() });
        }
        let n = run.model.stages.len();
        let sample = run.data.train.image_len();
        let count = lanes.len();
        for (l, lane) in lanes.iter_mut().enumerate() {
            if l == 0 {
                lane.feed = Some(Feed::new(&lane.gpu, run.cfg.batch_size, sample)?);
            }
            let mine: Vec<usize> = (0..n).filter(|j| j % count == l).collect();
            // A lane holds gradients and momentum for its own stages only.
            for &j in &mine {
                lane.model.stages[j].hold_training(&lane.gpu)?;
                lane.model.heads[j].hold_training(&lane.gpu)?;
            }
            lane.units = lane.record_units(run, &mine, slots)?;
            for &j in &mine {
                copy_block(&run.gpu, &run.model.stages[j], &lane.gpu, &lane.model.stages[j])?;
                copy_block(&run.gpu, &run.model.heads[j], &lane.gpu, &lane.model.heads[j])?;
            }
        }
        Ok(Devices { lanes })
    }

    /// Where each stage runs, for the log.
    pub fn placement(&self, devices: &[usize]) -> String {
        let mut all: Vec<(usize, String)> = Vec::new();
        for (l, lane) in self.lanes.iter().enumerate() {
            for u in &lane.units {
                let j = u.stage;
                all.push((j, format!("stage {j} on device {l} ([{}] {})", devices[l], lane.gpu.summary.name)));
            }
        }
        all.sort();
        all.into_iter().map(|(_, s)| s).collect::<Vec<_>>().join(", ")
    }

    fn unit(&self, j: usize) -> (&Lane, &Unit) {
        let lane = &self.lanes[j % self.lanes.len()];
        (lane, lane.units.iter().find(|u| u.stage == j).expect("every stage has a lane"))
    }

    /// Stage `j`'s device, its step values and the device's readback buffer.
    pub fn place(&self, j: usize) -> (&Gpu, &StepIo, &Readback) {
        let (lane, unit) = self.unit(j);
        (&lane.gpu, &unit.io, &lane.readback)
    }

    /// Restart the momentum of every stage (and its head) from zero, on its lane.
    pub fn zero_momentum(&self) {
        for lane in &self.lanes {
            for j in lane.units.iter().map(|u| u.stage) {
                zero_momentum(&lane.gpu, &[&lane.model.stages[j], &lane.model.heads[j]]);
            }
        }
    }

    /// Copy every stage's parameters onto `home` (for evaluation and checkpoints).
    pub fn gather(&self, gpu: &Gpu, home: &Model) -> Result<()> {
        for lane in &self.lanes {
            for j in lane.units.iter().map(|u| u.stage) {
                copy_block(&lane.gpu, &lane.model.stages[j], gpu, &home.stages[j])?;
                copy_block(&lane.gpu, &lane.model.heads[j], gpu, &home.heads[j])?;
            }
        }
        Ok(())
    }

    /// Run the actions of one segment, every lane in its own thread; returns once all are done.
    pub fn run_segment(&mut self, cfg: &Config, data: &mut EpochBatches, actions: &[Action]) -> Result<()> {
        let (n, count) = (self.lanes.iter().map(|l| l.units.len()).sum::<usize>(), self.lanes.len());
        let mut links: Vec<Links> = (0..count)
            .map(|_| Links { tx: (0..n).map(|_| None).collect(), rx: (0..n).map(|_| None).collect() })
            .collect();
        for j in 0..n - 1 {
            let (tx, rx) = sync_channel(2);
            links[j % count].tx[j] = Some(tx);
            links[(j + 1) % count].rx[j + 1] = Some(rx);
        }
        let data = Mutex::new(data);
        let segment = Segment { cfg, data: &data, actions };
        let results: Vec<Result<()>> = std::thread::scope(|sc| {
            let handles: Vec<_> = self
                .lanes
                .iter_mut()
                .zip(links)
                .map(|(lane, links)| sc.spawn(move || lane.run(&segment, links)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(Error::gpu("a device thread panicked"))))
                .collect()
        });
        // The first real failure, not the ones it caused on the other lanes.
        let mut errors: Vec<Error> = results.into_iter().filter_map(|r| r.err()).collect();
        match errors.iter().position(|e| !e.to_string().contains(PEER_STOPPED)) {
            Some(i) => Err(errors.swap_remove(i)),
            None => errors.into_iter().next().map_or(Ok(()), Err),
        }
    }
}

/// What every lane's thread reads of a segment.
#[derive(Clone, Copy)]
struct Segment<'a> {
    cfg: &'a Config,
    /// The epoch's batches: only stage 0's lane reads them.
    data: &'a Mutex<&'a mut EpochBatches>,
    actions: &'a [Action],
}

impl Lane {
    /// The plans of stages `mine` on this lane.
    fn record_units(&self, run: &Run, mine: &[usize], slots: Option<usize>) -> Result<Vec<Unit>> {
        let (gpu, model, batch) = (&self.gpu, &self.model, run.cfg.batch_size);
        let n = model.stages.len();
        let specs: Vec<&BlockSpec> = mine.iter().flat_map(|&j| [&model.stages[j].spec, &model.heads[j].spec]).collect();
        let scratch = Scratch::new(gpu, &specs, batch)?;
        let mut units = Vec::with_capacity(mine.len());
        for &j in mine {
            let io = StepIo::new(gpu)?;
            let shape = model.spec.stages[j].input.batched(batch);
            let mut p = PlanBuilder::new(gpu, format!("dgl stage {j}"));
            let mut f = slots.map(|_| PlanBuilder::new(gpu, format!("dgl stage {j} forward")));
            let (x, labels, input) = match &self.feed {
                Some(feed) if j == 0 => {
                    let x0 = gpu.tensor(&shape, "normalised input")?;
                    let augment = augment_config(&run.cfg, true);
                    for q in std::iter::once(&mut p).chain(f.as_mut()) {
                        ops::augment_batch(q, &feed.images, &feed.ids, &io.rng, &x0, &augment)?;
                    }
                    (x0, feed.labels.clone(), None)
                }
                _ => {
                    let b = Batch::new(gpu, &shape, &format!("stage {j} input"))?;
                    (b.x.clone(), b.labels.clone(), Some(b))
                }
            };
            let output = record_dgl_stage(&mut p, model, j, &x, &labels, &io, &scratch)?;
            let plan = p.finish()?;
            let forward = match f {
                Some(mut f) => {
                    let ctx = StepContext { gpu, cfg: &run.cfg, model, io: &io, scratch: &scratch };
                    record_dgl_forward(&mut f, &ctx, j, &x, &labels, &output)?;
                    Some(f.finish()?)
                }
                None => None,
            };
            let (mut slot_batches, mut loads) = (Vec::new(), Vec::new());
            if let (Some(m), Some(inp)) = (slots, &input) {
                for k in 0..m {
                    let s = Batch::new(gpu, &shape, &format!("stage {j} replay slot {k}"))?;
                    loads.push(s.copy_plan(gpu, inp, format!("slot {k} -> stage {j}"))?);
                    slot_batches.push(s);
                }
            }
            let readback = (j + 1 < n).then(|| Readback::new(gpu, output.bytes()));
            units.push(Unit {
                stage: j,
                io,
                plan,
                forward,
                input,
                slot_host: vec![(Vec::new(), Vec::new()); slot_batches.len()],
                slots: slot_batches,
                loads,
                current: (Vec::new(), Vec::new()),
                output,
                readback,
            });
        }
        Ok(units)
    }

    /// This lane's thread: walk the segment's actions in their global order, receiving what the
    /// previous stage's lane sends for this lane's stages at the point it was produced, and running
    /// this lane's stages. Every lane sees the same order, so the outcome never depends on timing.
    fn run(&mut self, seg: &Segment, links: Links) -> Result<()> {
        let mut in_flight = InFlight::default();
        let stopped = |j: usize| Error::gpu(format!("{PEER_STOPPED} (the device of stage {j})"));
        for a in seg.actions {
            if let Some(dest) = a.store {
                if let Some(u) = self.units.iter_mut().find(|u| u.stage == a.stage + 1) {
                    let rx = links.rx[u.stage].as_ref().expect("a channel into every stage but the first");
                    let m = rx.recv().map_err(|_| stopped(a.stage))?;
                    u.receive(&self.gpu, dest, m);
                }
            }
            let Some(u) = self.units.iter_mut().find(|u| u.stage == a.stage) else { continue };
            if let Some(e) = a.epoch {
                // The stage starts an epoch of its own: its LR, and a new SGD at an LR step.
                u.io.set_lr(&self.gpu, seg.cfg, seg.cfg.lr_at(e));
                if seg.cfg.restarts_momentum(e) {
                    zero_momentum(&self.gpu, &[&self.model.stages[a.stage], &self.model.heads[a.stage]]);
                }
            }
            let mut plans: Vec<&Plan> = Vec::with_capacity(2);
            if let Some(b) = a.batch {
                let feed = self.feed.as_mut().expect("stage 0's lane holds the feed");
                seg.data.lock().unwrap_or_else(|e| e.into_inner()).load(&self.gpu, feed, b)?;
                let (labels, ids) = feed.loaded();
                u.current = (labels.to_vec(), ids.to_vec());
            }
            if let Some(k) = a.load {
                u.current = u.slot_host[k].clone();
                plans.push(&u.loads[k]);
            }
            plans.push(match a.mode {
                Mode::Train => &u.plan,
                Mode::Forward => u.forward.as_ref().expect("dgl-async stages have a forward-only step"),
            });
            in_flight.submit(&self.gpu, &plans)?;
            if a.store.is_some() {
                let rb = u.readback.as_ref().expect("a stage with a successor reads its output back");
                let x = rb.read_f32(&self.gpu, &u.output)?;
                let tx = links.tx[u.stage].as_ref().expect("a channel out of every stage but the last");
                tx.send(Message { x, labels: u.current.0.clone(), ids: u.current.1.clone() })
                    .map_err(|_| stopped(a.stage + 1))?;
            }
        }
        self.gpu.wait()
    }
}

impl Unit {
    /// Upload a batch the previous stage produced into this stage's input or a slot of its buffer.
    fn receive(&mut self, gpu: &Gpu, dest: Store, m: Message) {
        let to = match dest {
            Store::Input => {
                self.current = (m.labels.clone(), m.ids.clone());
                self.input.as_ref().expect("stage > 0 has an input")
            }
            Store::Slot(k) => {
                self.slot_host[k] = (m.labels.clone(), m.ids.clone());
                &self.slots[k]
            }
        };
        gpu.upload(&to.x, &m.x);
        gpu.upload_u32(&to.labels, &m.labels);
        gpu.upload_u32(&to.ids, &m.ids);
    }
}
