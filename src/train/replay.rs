//! dgl-async's replay buffers and tick schedule, as pure host logic: which stages run at a tick, which
//! buffered batch each one reads and which slot its output overwrites. The GPU only follows these
//! orders, so a run is reproducible from its seed, on one device or several.

use crate::config::DglConfig;
use crate::rng::SplitMix;

/// Bookkeeping of one buffered batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    uses: usize,
    /// Insertion order: larger is newer.
    seq: u64,
}

/// The host side of a replay buffer of `capacity` batches (the tensors live on the GPU, one set per
/// slot). Sampling is "priority LIFO": among the entries used the fewest times, the newest.
#[derive(Debug, Clone)]
pub struct ReplayBuffer {
    slots: Vec<Option<Entry>>,
    max_reuse: usize,
    next_seq: u64,
}

impl ReplayBuffer {
    /// `max_reuse`: an entry is dropped once used this many times (0 = never).
    pub fn new(capacity: usize, max_reuse: usize) -> ReplayBuffer {
        assert!(capacity > 0, "a replay buffer needs at least one slot");
        ReplayBuffer { slots: vec![None; capacity], max_reuse, next_seq: 0 }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }
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

    /// The slot a new batch is written to: the first free one, else the oldest entry's (evicted: the
    /// buffer holds the most recent `capacity` batches).
    pub fn insert(&mut self) -> usize {
        let slot = match self.slots.iter().position(|s| s.is_none()) {
            Some(free) => free,
            None => (0..self.slots.len()).min_by_key(|&i| self.slots[i].map_or(0, |e| e.seq)).expect("capacity > 0"),
        };
        self.slots[slot] = Some(Entry { uses: 0, seq: self.next_seq });
        self.next_seq += 1;
        slot
    }

    /// Priority LIFO: the newest of the least-used entries. Counts the use and frees the slot once the
    /// entry has been used `max_reuse` times (its data stays valid for the tick that read it: a slot is
    /// only rewritten by a later `insert`). None when the buffer is empty.
    pub fn sample(&mut self) -> Option<usize> {
        let slot = (0..self.slots.len())
            .filter_map(|i| self.slots[i].map(|e| (i, e)))
            .min_by_key(|(_, e)| (e.uses, std::cmp::Reverse(e.seq)))
            .map(|(i, _)| i)?;
        let e = self.slots[slot].as_mut().expect("chosen among occupied slots");
        e.uses += 1;
        if self.max_reuse > 0 && e.uses >= self.max_reuse {
            self.slots[slot] = None;
        }
        Some(slot)
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

/// One stage's training step at one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    pub tick: u64,
    pub stage: usize,
    /// Stage 0: the batch (index within the epoch's permutation) it trains on.
    pub batch: Option<usize>,
    /// Stage > 0 (async): the slot of its replay buffer it trains on.
    pub load: Option<usize>,
    /// Where its output goes; None for the last stage.
    pub store: Option<Store>,
}

/// Synchronous DGL as actions (every stage, every step, output straight to the next stage): what the
/// multi-device executor runs for `--method dgl`.
pub fn sync_actions(steps: std::ops::Range<usize>, stages: usize) -> Vec<Action> {
    let mut out = Vec::with_capacity(steps.len() * stages);
    for s in steps {
        for j in 0..stages {
            let store = (j + 1 < stages).then_some(Store::Input);
            out.push(Action { tick: s as u64, stage: j, batch: (j == 0).then_some(s), load: None, store });
        }
    }
    out
}

/// The async schedule. At every tick each stage, in stage order, draws whether it is slowed down
/// (skips the tick with probability `dgl.slowdown[j]`); stage 0 trains on the epoch's next batch and
/// stage j > 0 on a batch sampled from its replay buffer, which it only starts doing once the buffer
/// has been filled (warm-up). A stage's output is inserted into the next stage's buffer. Within a
/// tick stages run in order, so without slowdown stage j trains on what stage j-1 just produced.
#[derive(Debug, Clone)]
pub struct Schedule {
    tick: u64,
    rng: SplitMix,
    slowdown: Vec<f64>,
    /// buffers[j - 1] feeds stage j.
    buffers: Vec<ReplayBuffer>,
    started: Vec<bool>,
}

impl Schedule {
    /// A schedule at `tick` with the RNG in state `rng`, and empty buffers (every stage but the first
    /// warms up again).
    pub fn new(stages: usize, cfg: &DglConfig, rng: u64, tick: u64) -> Schedule {
        let mut slowdown = cfg.slowdown.clone();
        slowdown.resize(stages, 0.0);
        Schedule {
            tick,
            rng: SplitMix(rng),
            slowdown,
            buffers: (1..stages).map(|_| ReplayBuffer::new(cfg.buffer_size, cfg.max_reuse)).collect(),
            started: (0..stages).map(|j| j == 0).collect(),
        }
    }

    pub fn tick(&self) -> u64 {
        self.tick
    }
    /// The RNG state, to continue the same random stream after a resume.
    pub fn rng_state(&self) -> u64 {
        self.rng.0
    }
    /// The replay buffer that feeds stage `j` (j >= 1).
    pub fn buffer(&self, j: usize) -> &ReplayBuffer {
        &self.buffers[j - 1]
    }
    /// Stage `j` has not started training yet: its buffer is still filling.
    pub fn warming_up(&self, j: usize) -> bool {
        !self.started[j]
    }

    /// The actions of the next tick, in stage order; `batch` is stage 0's next batch.
    pub fn next_tick(&mut self, batch: usize) -> Vec<Action> {
        let tick = self.tick;
        self.tick += 1;
        let n = self.started.len();
        let mut out = Vec::new();
        for j in 0..n {
            // One draw per stage per tick whatever happens, so the stream never depends on buffer state.
            let skip = self.rng.next_f64() < self.slowdown[j];
            let load = if j == 0 {
                if skip {
                    continue;
                }
                None
            } else {
                let buf = &mut self.buffers[j - 1];
                if !self.started[j] {
                    if !buf.is_full() {
                        continue;
                    }
                    self.started[j] = true;
                }
                if skip {
                    continue;
                }
                match buf.sample() {
                    Some(k) => Some(k),
                    None => continue,
                }
            };
            let store = (j + 1 < n).then(|| Store::Slot(self.buffers[j].insert()));
            out.push(Action { tick, stage: j, batch: (j == 0).then_some(batch), load, store });
        }
        out
    }
}
