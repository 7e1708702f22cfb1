//! dgl-async's replay buffers and tick schedule, as pure host logic: which stage runs at a tick, in
//! which mode, on which buffered batch, and where its output goes. The GPU only follows these orders,
//! so a run is reproducible from its seed, on one device or several.
//!
//! The schedule is the authors' buffer experiment (DGL buffer_experiments/cifar_buffer.py):
//! - `random` order: each tick runs ONE stage, drawn with weight 1 - `dgl.slowdown[j]` (a slowed stage
//!   runs that much less often), after a warm-up that visits stages 0, 0, 1, 1, ..., repeated after
//!   every LR step of any stage (the reference does both; that tick then does nothing else);
//!   `lockstep` order: every stage at every tick, in stage order, stage j skipping it with probability
//!   `dgl.slowdown[j]` (concurrent workers in wall-clock ticks).
//! - Stage 0 reads the next training batch; stage j > 0 samples its replay buffer (priority LIFO, the
//!   newest of the least-used batches) and runs as soon as it holds one usable batch; every stage but
//!   the last writes its output into the next one's buffer, a ring of the most recent batches.
//! - Every stage trains its own `epochs` epochs of `steps` steps, on its own LR clock (the executor
//!   sets the LR, and with `optimizer.restart_momentum` restarts momentum, at the step that starts each
//!   of its epochs); a stage that has finished only forwards, in evaluation mode, so the stages after it
//!   still get fresh batches. The run ends when every stage has finished.

use super::state::ScheduleState;
use crate::config::{AsyncOrder, Config};
use crate::rng::SplitMix;

/// Bookkeeping of one buffered batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    uses: usize,
    /// Insertion order: larger is newer.
    seq: u64,
    /// The tick it was produced at.
    tick: u64,
}

/// The host side of a replay buffer of `capacity` batches (the tensors live on the GPU, one set per
/// slot): a ring holding the most recent `capacity` batches. Sampling is "priority LIFO": among the
/// usable entries used the fewest times, the newest.
#[derive(Debug, Clone)]
pub struct ReplayBuffer {
    slots: Vec<Option<Entry>>,
    max_reuse: usize,
    next_seq: u64,
}

/// A batch read from a replay buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampled {
    pub slot: usize,
    /// The tick the batch was produced at.
    pub tick: u64,
}

impl ReplayBuffer {
    /// `max_reuse`: an entry is no longer read once used this many times (0 = never exhausted).
    pub fn new(capacity: usize, max_reuse: usize) -> ReplayBuffer {
        assert!(capacity > 0, "a replay buffer needs at least one slot");
        ReplayBuffer { slots: vec![None; capacity], max_reuse, next_seq: 0 }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }
    /// Batches held (usable or exhausted).
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity()
    }

    /// Times the entry in `slot` has been used; None for an empty slot.
    pub fn uses(&self, slot: usize) -> Option<usize> {
        self.slots[slot].map(|e| e.uses)
    }

    /// The slot a batch produced at `tick` is written to: the ring's next, which overwrites the oldest
    /// entry once the buffer is full (exhausted or not), as the reference's ring does.
    pub fn insert(&mut self, tick: u64) -> usize {
        let slot = (self.next_seq % self.slots.len() as u64) as usize;
        self.slots[slot] = Some(Entry { uses: 0, seq: self.next_seq, tick });
        self.next_seq += 1;
        slot
    }

    /// Priority LIFO: among the entries used fewer than `max_reuse` times, the newest of those used the
    /// fewest times; counts the use. None when no entry is usable.
    pub fn sample(&mut self) -> Option<Sampled> {
        let max_reuse = self.max_reuse;
        let (slot, e) = self
            .slots
            .iter_mut()
            .enumerate()
            .filter_map(|(i, s)| s.as_mut().map(|e| (i, e)))
            .filter(|(_, e)| max_reuse == 0 || e.uses < max_reuse)
            .min_by_key(|(_, e)| (e.uses, std::cmp::Reverse(e.seq)))?;
        e.uses += 1;
        Some(Sampled { slot, tick: e.tick })
    }
}

/// Where a stage's output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// Straight into the next stage's input (synchronous DGL across devices).
    Input,
    /// Into this slot of the next stage's replay buffer.
    Slot(usize),
}

/// How a stage runs at a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward in training mode, loss, backward, one SGD step.
    Train,
    /// A stage that has trained all its epochs: forward in evaluation mode only (its output still feeds
    /// the next stage; its loss still counts in its statistics), no update.
    Forward,
}

/// One stage's step at one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    pub tick: u64,
    pub stage: usize,
    pub mode: Mode,
    /// Stage 0: the batch (index within the data epoch's permutation) it reads.
    pub batch: Option<usize>,
    /// Stage > 0 (async): the slot of its replay buffer it reads.
    pub load: Option<usize>,
    /// Where its output goes; None for the last stage.
    pub store: Option<Store>,
    /// dgl-async: this step starts the stage's own epoch `e` (>= 1): set its LR for that epoch (and
    /// restart its momentum at an LR step, with `optimizer.restart_momentum`) before it runs.
    pub epoch: Option<usize>,
}

/// Synchronous DGL as actions (every stage, every step, output straight to the next stage): what the
/// multi-device executor runs for `--method dgl`.
pub fn sync_actions(steps: std::ops::Range<usize>, stages: usize) -> Vec<Action> {
    let mut out = Vec::with_capacity(steps.len() * stages);
    for s in steps {
        for j in 0..stages {
            let store = (j + 1 < stages).then_some(Store::Input);
            let batch = (j == 0).then_some(s);
            out.push(Action { tick: s as u64, stage: j, mode: Mode::Train, batch, load: None, store, epoch: None });
        }
    }
    out
}

/// What the schedule follows, from the config.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleSpec {
    pub order: AsyncOrder,
    pub stages: usize,
    /// Steps in one epoch of a stage (the training batches in one pass over the data).
    pub steps: usize,
    /// Epochs every stage trains.
    pub epochs: usize,
    /// Epochs between LR steps (the random order's warm-up repeats after each).
    pub lr_step: usize,
    /// Per stage (missing entries 0).
    pub slowdown: Vec<f64>,
    pub buffer_size: usize,
    pub max_reuse: usize,
}

impl ScheduleSpec {
    /// The schedule of `cfg` with `steps` steps per epoch.
    pub fn new(cfg: &Config, steps: usize) -> ScheduleSpec {
        let d = cfg.dgl.clone().unwrap_or_default();
        let mut slowdown = d.slowdown;
        slowdown.resize(cfg.stage_count(), 0.0);
        ScheduleSpec {
            order: d.order,
            stages: cfg.stage_count(),
            steps,
            epochs: cfg.epochs,
            lr_step: cfg.optimizer.lr_step,
            slowdown,
            buffer_size: d.buffer_size,
            max_reuse: d.max_reuse,
        }
    }
}

/// The async schedule (see the module's documentation).
#[derive(Debug, Clone)]
pub struct Schedule {
    spec: ScheduleSpec,
    state: ScheduleState,
    rng: SplitMix,
    /// buffers[j - 1] feeds stage j.
    buffers: Vec<ReplayBuffer>,
}

impl Schedule {
    /// A schedule from its start (RNG seeded with `seed`), or continued from `state`, with empty buffers.
    pub fn new(spec: ScheduleSpec, state: Option<ScheduleState>, seed: u64) -> Schedule {
        let n = spec.stages;
        let mut state = state.unwrap_or_else(|| ScheduleState {
            rng: seed,
            runs: vec![0; n],
            epoch: vec![0; n],
            pending: vec![None; n],
            age_sum: vec![0; n],
            age_count: vec![0; n],
            marked_sum: vec![0; n],
            marked_count: vec![0; n],
            ..Default::default()
        });
        // Random order fills the buffers in stage order first: at the start, and from the start of the
        // sequence after a resume (the buffers start empty again).
        if spec.order == AsyncOrder::Random && n > 1 {
            state.warmup = Some(0);
        }
        let buffers = (1..n).map(|_| ReplayBuffer::new(spec.buffer_size, spec.max_reuse)).collect();
        Schedule { rng: SplitMix(state.rng), spec, state, buffers }
    }

    /// The state to checkpoint.
    pub fn state(&self) -> ScheduleState {
        ScheduleState { rng: self.rng.0, ..self.state.clone() }
    }

    pub fn tick(&self) -> u64 {
        self.state.tick
    }
    /// The replay buffer that feeds stage `j` (j >= 1).
    pub fn buffer(&self, j: usize) -> &ReplayBuffer {
        &self.buffers[j - 1]
    }
    /// Steps stage `j` has run; stage 0's count is the number of training batches read so far.
    pub fn runs(&self, j: usize) -> u64 {
        self.state.runs[j]
    }
    /// Epochs stage `j` has completed (at most `epochs`).
    pub fn epochs_done(&self, j: usize) -> usize {
        ((self.state.runs[j] / self.spec.steps as u64) as usize).min(self.spec.epochs)
    }
    /// The epoch of stage `j` whose LR applies now.
    pub fn lr_epoch(&self, j: usize) -> usize {
        self.state.epoch[j]
    }
    pub fn finished(&self, j: usize) -> bool {
        self.state.runs[j] >= (self.spec.epochs * self.spec.steps) as u64
    }
    /// Every stage has trained its epochs: the run is over.
    pub fn done(&self) -> bool {
        (0..self.spec.stages).all(|j| self.finished(j))
    }

    /// Mean age (ticks) of the buffered batches stage `j` read over the run; None for stage 0 or
    /// before it read any.
    pub fn mean_age(&self, j: usize) -> Option<f64> {
        let s = &self.state;
        (s.age_count[j] > 0).then(|| s.age_sum[j] as f64 / s.age_count[j] as f64)
    }
    /// The same since the last `mark`.
    pub fn mean_age_since_mark(&self, j: usize) -> Option<f64> {
        let s = &self.state;
        let count = s.age_count[j] - s.marked_count[j];
        (count > 0).then(|| (s.age_sum[j] - s.marked_sum[j]) as f64 / count as f64)
    }
    /// Start a new span for `mean_age_since_mark` (a record's).
    pub fn mark(&mut self) {
        let s = &mut self.state;
        (s.marked_sum, s.marked_count) = (s.age_sum.clone(), s.age_count.clone());
    }

    /// The actions of the next tick (none when the drawn stage could not run), in stage order.
    pub fn next_tick(&mut self) -> Vec<Action> {
        let tick = self.state.tick;
        self.state.tick += 1;
        let n = self.spec.stages;
        match self.spec.order {
            AsyncOrder::Random => {
                let j = match self.state.warmup {
                    Some(w) => {
                        self.state.warmup = (w + 1 < 2 * n).then_some(w + 1);
                        w / 2
                    }
                    None => self.draw(),
                };
                self.step(j, tick).into_iter().collect()
            }
            AsyncOrder::Lockstep => {
                let mut out = Vec::with_capacity(n);
                for j in 0..n {
                    // One draw per stage per tick whatever happens, so the stream never depends on
                    // buffer state.
                    let skip = self.rng.next_f64() < self.spec.slowdown[j];
                    if !skip {
                        out.extend(self.step(j, tick));
                    }
                }
                out
            }
        }
    }

    /// Random order: a stage drawn with weight 1 - slowdown.
    fn draw(&mut self) -> usize {
        let total: f64 = self.spec.slowdown.iter().map(|p| 1.0 - p).sum();
        let mut u = self.rng.next_f64() * total;
        for (j, p) in self.spec.slowdown.iter().enumerate() {
            if u < 1.0 - p {
                return j;
            }
            u -= 1.0 - p;
        }
        self.spec.stages - 1
    }

    /// Stage `j` at `tick`: handle the start of a new epoch of its own (in random order, one at an LR
    /// step takes the tick and restarts the warm-up, as in the reference), then read its input, run
    /// and store its output; None when it did not run.
    fn step(&mut self, j: usize, tick: u64) -> Option<Action> {
        let (steps, n) = (self.spec.steps as u64, self.spec.stages);
        let finished = self.finished(j);
        let s = &mut self.state;
        if !finished {
            let e = (s.runs[j] / steps) as usize;
            if e > s.epoch[j] {
                (s.epoch[j], s.pending[j]) = (e, Some(e));
                if self.spec.order == AsyncOrder::Random && e % self.spec.lr_step == 0 {
                    s.warmup = (n > 1).then_some(0);
                    return None;
                }
            }
        }
        let load = match j {
            0 => None,
            _ => {
                let b = self.buffers[j - 1].sample()?;
                s.age_sum[j] += tick - b.tick;
                s.age_count[j] += 1;
                Some(b.slot)
            }
        };
        let batch = (j == 0).then_some((s.runs[0] % steps) as usize);
        s.runs[j] += 1;
        let (mode, epoch) = if finished { (Mode::Forward, None) } else { (Mode::Train, s.pending[j].take()) };
        let store = (j + 1 < n).then(|| Store::Slot(self.buffers[j].insert(tick)));
        Some(Action { tick, stage: j, mode, batch, load, store, epoch })
    }
}
