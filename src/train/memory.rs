//! The memory planner: the device memory a greedy stage (or an e2e run) holds while it trains,
//! counted from the model's description before anything is allocated, buffer by buffer as the trainer
//! allocates them (so the count equals what `Gpu::memory` reports for the same buffers, tested). A run
//! whose stage does not fit is refused before its folder exists, with a `grad_accum` or a batch size
//! that would fit.
//!
//! Counted: every block's parameters and batchnorm statistics, the trained blocks' gradients and
//! momentum (frozen and not-yet-trained blocks hold none), the gradient sums of
//! accumulation, a `keep_best` copy, both batch feeds, the training step's input, the activations its
//! trained blocks keep for backward (one micro-batch's) and the loss gradient, the shared scratch, and
//! the evaluation step without caches. Not counted: the prefix caches (optional; they have their own
//! limit, `cache.limit_mib`, and are skipped when they do not fit), uniform and staging buffers
//! (kilobytes; data parallelism's exchange, one copy of the trained blocks' gradients per device, is
//! host-mapped memory, not the device's), and the driver's own overhead. A data-parallel run plans each device's
//! slice of the batch.

use super::fits::too_large;
use super::plans::Trains;
use crate::config::{Config, Method};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::model::block::relu_fusion;
use crate::model::scratch::{Scratch, ScratchLens};
use crate::model::{BlockSpec, Layer, ModelSpec};

/// Bytes one stage's training holds on the device, by what holds them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageMemory {
    /// Greedy: the stage trained; e2e: the last stage.
    pub stage: usize,
    pub batch: usize,
    /// Images per forward and backward pass (`batch / grad_accum`).
    pub micro: usize,
    /// Parameters and batchnorm statistics of every block; gradients and momentum of the trained ones.
    pub weights: u64,
    pub grads: u64,
    pub momentum: u64,
    /// Accumulation's gradient sums and `keep_best`'s copy of the trained stage and head.
    pub extra: u64,
    /// The training step: the batch's normalised input, one micro-batch's activations kept for
    /// backward (and its input), the loss gradient.
    pub activations: u64,
    /// Shared workspaces and ping-pong buffers, the batch feeds and the evaluation step.
    pub scratch: u64,
    /// The largest single buffer (adapters limit each buffer's size and binding).
    pub largest: u64,
}

impl StageMemory {
    pub fn total(&self) -> u64 {
        self.weights + self.grads + self.momentum + self.extra + self.activations + self.scratch
    }
}

/// Bytes of a buffer of `len` 4-byte elements, as `Gpu` allocates it.
fn buffer(len: usize) -> u64 {
    ((len * 4) as u64).max(4)
}

/// Bytes of a `ParamArena` of these tensor shapes (each padded to the storage alignment, `align`
/// elements).
fn arena(shapes: &[(String, Vec<usize>, usize)], align: usize) -> u64 {
    buffer(shapes.iter().map(|(_, s, _)| s.iter().product::<usize>().next_multiple_of(align).max(align)).sum())
}

/// Tallies buffers and keeps the largest.
#[derive(Default)]
struct Tally {
    bytes: u64,
    largest: u64,
}

impl Tally {
    fn add(&mut self, bytes: u64) {
        self.bytes += bytes;
        self.largest = self.largest.max(bytes);
    }
}

/// What `forward_train` of `b` at batch `n` allocates and keeps for backward: (the activations, kept
/// across micro-batches; the per-pass extras, batchnorm's saved mean and inverse deviation and the
/// backward's placeholder for a conv without bias).
fn trained_block(b: &BlockSpec, n: usize, t: &mut Tally) -> u64 {
    let (_, absorbed) = relu_fusion(b);
    let mut per_pass = 0;
    for (i, l) in b.layers.iter().enumerate() {
        match *l {
            Layer::Identity | Layer::Flatten => continue,
            Layer::Relu if absorbed[i] => continue,
            Layer::BatchNorm { c } => per_pass += 2 * buffer(c),
            Layer::Conv { bias: false, .. } => per_pass += buffer(1),
            _ => {}
        }
        t.add(buffer(b.shapes[i].len() * n));
    }
    per_pass
}

/// Stage `j`'s memory (greedy, `Trains::Stage(j)`) or the e2e run's (`Trains::All`) at the config's
/// batch size and `grad_accum`, with the storage alignment `align` (elements).
pub fn plan_stage(cfg: &Config, spec: &ModelSpec, trains: Trains, align: usize) -> StageMemory {
    let (batch, micro, passes) = (cfg.batch_size, cfg.micro_batch(), cfg.grad_accum);
    let last = spec.stages.len() - 1;
    let (j, trained): (usize, Vec<&BlockSpec>) = match trains {
        Trains::Stage(j) => (j, vec![&spec.stages[j], &spec.heads[j]]),
        Trains::All => (last, spec.stages.iter().chain(spec.heads.last()).collect()),
    };
    let mut m = StageMemory { stage: j, batch, micro, ..Default::default() };
    let mut t = Tally::default();
    for b in spec.stages.iter().chain(&spec.heads) {
        let (p, s) = (arena(&b.param_specs(), align), arena(&b.state_specs(), align));
        m.weights += p + s;
        t.largest = t.largest.max(p).max(s);
    }
    // Only the trained blocks hold gradients and momentum (`Model::train_only`).
    for b in &trained {
        let p = arena(&b.param_specs(), align);
        (m.grads, m.momentum) = (m.grads + p, m.momentum + p);
    }
    let mut extra = Tally::default();
    if passes > 1 {
        trained.iter().for_each(|b| extra.add(arena(&b.param_specs(), align)));
    }
    if cfg.keep_best && matches!(trains, Trains::Stage(_)) {
        trained.iter().for_each(|b| extra.add(arena(&b.param_specs(), align) + arena(&b.state_specs(), align)));
    }
    m.extra = extra.bytes;
    // The training step: the batch's input, a micro-batch's input and labels, the trained blocks'
    // activations once and their per-pass buffers once per micro-batch, the loss gradient.
    let mut a = Tally::default();
    a.add(buffer(batch * spec.input.len()));
    if passes > 1 {
        a.add(buffer(micro * spec.input.len()));
        a.add(buffer(micro));
    }
    let per_pass: u64 = trained.iter().map(|b| trained_block(b, micro, &mut a)).sum();
    a.add(per_pass * passes as u64);
    a.add(buffer(micro * spec.classes));
    m.activations = a.bytes;
    m.scratch = scratch_bytes(cfg, spec, trains, j, &mut t);
    m.largest = t.largest.max(extra.largest).max(a.largest);
    m
}

/// The shared scratch, both feeds, the step values and the (uncached) evaluation step of stage `j`.
fn scratch_bytes(cfg: &Config, spec: &ModelSpec, trains: Trains, j: usize, t: &mut Tally) -> u64 {
    let (batch, micro, classes) = (cfg.batch_size, cfg.micro_batch(), spec.classes);
    let before = t.bytes;
    let blocks: Vec<&BlockSpec> = spec.stages[..=j].iter().chain(&spec.heads[..=j]).chain(spec.heads.last()).collect();
    let ScratchLens { conv, bn, act, buffers } = Scratch::lens(&blocks, micro);
    [conv, bn].into_iter().chain(std::iter::repeat_n(act, 2 * buffers)).for_each(|l| t.add(buffer(l)));
    // The training feed (whole batches) and the evaluation feed (micro-batches): packed bytes,
    // labels, dataset indices, the count of valid rows.
    for n in [batch, micro] {
        [(n * spec.input.len()).div_ceil(4), n, n, 1].into_iter().for_each(|l| t.add(buffer(l)));
    }
    // StepIo: RNG key, SGD hyper-parameters, loss statistics.
    [2, 4, 3].into_iter().for_each(|l| t.add(buffer(l)));
    // Evaluation: ensemble scores and their zeros, the correct counts (top 1, top 5) of every head and
    // of the ensemble, the input, the logits, each stage's output.
    let heads = match trains {
        Trains::Stage(j) => j + 1,
        Trains::All => 1,
    };
    [micro * classes, micro * classes, micro * spec.input.len(), micro * classes]
        .into_iter()
        .for_each(|l| t.add(buffer(l)));
    (0..=heads).for_each(|_| t.add(buffer(2)));
    spec.stages[..=j].iter().for_each(|s| t.add(buffer(micro * s.output().len())));
    t.bytes - before
}

/// "3.2 GiB", "512.0 MiB" or "7.3 KiB".
pub fn size(bytes: u64) -> String {
    let mib = bytes as f64 / (1u64 << 20) as f64;
    if mib >= 1024.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else if mib >= 1.0 {
        format!("{mib:.1} MiB")
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

/// Every stage's memory as the run will train it: greedy's stages one by one, e2e's one step (DGL is
/// not planned here: its stages may sit on several devices).
pub fn plan_run(cfg: &Config, spec: &ModelSpec, align: usize) -> Vec<StageMemory> {
    match cfg.method {
        Method::Greedy => (0..spec.stages.len()).map(|j| plan_stage(cfg, spec, Trains::Stage(j), align)).collect(),
        Method::E2e => vec![plan_stage(cfg, spec, Trains::All, align)],
        Method::Dgl | Method::DglAsync => Vec::new(),
    }
}

/// Where a plan must fit: the per-buffer limit of the adapter and, when known, its memory.
struct Limits {
    buffer: u64,
    /// `memory_limit_mib` in bytes (wgpu does not report an adapter's memory).
    total: Option<u64>,
}

impl Limits {
    fn of(gpu: &Gpu, cfg: &Config) -> Limits {
        let total = (cfg.memory_limit_mib > 0).then_some((cfg.memory_limit_mib as u64) << 20);
        Limits { buffer: gpu.max_buffer_size().min(gpu.max_storage_binding()), total }
    }

    fn fits(&self, m: &StageMemory) -> bool {
        m.largest <= self.buffer && self.total.is_none_or(|t| m.total() <= t)
    }
}

/// Refuse, before anything is allocated, a run with a stage that does not fit the device at its batch
/// size and `grad_accum`, saying which accumulation (or smaller batch) would.
pub fn check_memory(gpu: &Gpu, cfg: &Config, spec: &ModelSpec) -> Result<()> {
    // Data parallel: each device holds its slice of the batch (hints name the global batch).
    let devices = cfg.data_parallel();
    let cfg = &cfg.per_device();
    let limits = Limits::of(gpu, cfg);
    let align = (gpu.storage_alignment() / 4).max(1) as usize;
    let Some(m) = plan_run(cfg, spec, align).into_iter().find(|m| !limits.fits(m)) else {
        return Ok(());
    };
    let trains = match cfg.method {
        Method::E2e => Trains::All,
        _ => Trains::Stage(m.stage),
    };
    let at = |batch: usize, accum: usize| {
        let c = Config { batch_size: batch, grad_accum: accum, ..cfg.clone() };
        plan_stage(&c, spec, trains, align)
    };
    let batch = cfg.batch_size;
    let accum = (cfg.grad_accum + 1..=batch).filter(|a| batch % a == 0).map(|a| at(batch, a)).find(|p| limits.fits(p));
    let smaller =
        (1..usize::BITS).map(|k| batch >> k).take_while(|&b| b >= 1).map(|b| at(b, 1)).find(|p| limits.fits(p));
    let hint = match (accum, smaller) {
        (Some(a), Some(s)) => format!(
            "Try --set grad_accum={} (micro-batch {}, {}), or a batch of {} fits: try --set batch_size={} ({}).",
            batch / a.micro,
            a.micro,
            size(a.total()),
            s.batch * devices,
            s.batch * devices,
            size(s.total())
        ),
        (Some(a), None) => {
            format!("Try --set grad_accum={} (micro-batch {}, {}).", batch / a.micro, a.micro, size(a.total()))
        }
        (None, Some(s)) => {
            let b = s.batch * devices;
            format!("A batch of {b} fits: try --set batch_size={b} ({}).", size(s.total()))
        }
        (None, None) => format!("Even micro-batches of 1 image do not fit. {}", too_large()),
    };
    let micro = match cfg.grad_accum {
        1 => String::new(),
        a => format!(" with grad_accum = {a} (micro-batch {})", m.micro),
    };
    let per_device = match devices {
        1 => String::new(),
        d => format!(" per device (its slice of the batch of {} over {d} devices)", batch * d),
    };
    let what = format!(
        "stage {} at batch {batch}{micro}{per_device} (weights and statistics {}, gradients {}, momentum {}, activations {}, scratch and evaluation {}, largest buffer {})",
        m.stage,
        size(m.weights),
        size(m.grads),
        size(m.momentum),
        size(m.activations),
        size(m.scratch),
        size(m.largest)
    );
    let limit = match limits.total {
        Some(t) if m.total() > t => format!("memory_limit_mib allows {}", size(t)),
        _ => format!("{} holds at most {} in one buffer", gpu.summary.name, size(limits.buffer)),
    };
    Err(Error::OutOfMemory { what, needed_mib: m.total() as f64 / (1u64 << 20) as f64, limit, hint })
}
