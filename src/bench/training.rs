//! `layerwise bench train`: per-stage training throughput (images/s) and peak GPU memory of a preset on
//! synthetic data, measured exactly as training runs it (upload, one recorded step, one submit, two steps
//! in flight), for comparison with PyTorch on the same GPU.

use std::fmt::Write;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::baseline::TrainingBaseline;
use crate::config::{Config, Method};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::{AdapterSummary, Gpu, InFlight, Plan, PlanBuilder};
use crate::model::{Model, ModelSpec, Shape};
use crate::ops;
use crate::train::feed::Feed;
use crate::train::memory::plan_stage;
use crate::train::plans::{
    augment_config, hold_training, record_dgl_body, scratch_for, train_step, StepContext, StepIo, Trains,
};

#[derive(Debug, Clone)]
pub struct TrainBenchOptions {
    pub presets: Vec<String>,
    pub batch: usize,
    /// Timed steps per stage (after `warmup`).
    pub steps: usize,
    pub warmup: usize,
    /// Shrink every width 16x and the batch to 16, for CPU drivers and CI.
    pub quick: bool,
    /// Only the memory planner's count per stage, no step built or run: for nets whose step takes
    /// minutes on the adapter at hand (ImageNet presets on a CPU driver).
    pub plan_only: bool,
}

impl Default for TrainBenchOptions {
    fn default() -> Self {
        TrainBenchOptions {
            presets: vec!["paper1-cifar-k1".into(), "paper1-cifar-k3".into(), "dgl-cifar-4layer".into()],
            batch: 128,
            steps: 30,
            warmup: 5,
            quick: false,
            plan_only: false,
        }
    }
}

impl TrainBenchOptions {
    pub fn quick() -> Self {
        TrainBenchOptions { batch: 16, steps: 3, warmup: 1, quick: true, ..Default::default() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageBench {
    pub preset: String,
    /// The stage trained (greedy); for DGL the row is a whole step of every stage and this is their count.
    pub stage: usize,
    /// "greedy" (frozen prefix forward + stage + head + SGD) or "dgl" (all stages and heads at once).
    #[serde(default)]
    pub method: String,
    pub img_per_s: f64,
    pub ms_per_step: f64,
    /// Most GPU memory held while the stage's step was built and run (MiB).
    pub peak_mib: f64,
    /// What the memory planner counts for training the stage at this batch (MiB): the bench's buffers
    /// plus what a run adds (the evaluation step and its feed); 0 for DGL, which it does not plan.
    #[serde(default)]
    pub planned_mib: f64,
    pub dispatches: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainBenchReport {
    pub adapter: AdapterSummary,
    pub batch: usize,
    pub quick: bool,
    pub rows: Vec<StageBench>,
    /// One empty submit and wait (µs): the fixed cost every step pays once, since a step is one submit.
    #[serde(default)]
    pub submit_overhead_us: f64,
}

/// The preset as benchmarked: widths shrunk in quick mode.
fn bench_config(name: &str, quick: bool) -> Result<Config> {
    let cfg = Config::preset(name)?;
    Ok(if quick { cfg.with_widths_divided(16) } else { cfg })
}

/// Epochs (per stage) and training images of a preset's full run: its own epochs, and the size of its
/// dataset's training split (CIFAR-10 50,000, the MNISTs 60,000, ImageNet 1,281,167, Imagenette 9,469),
/// less the images it holds out.
fn preset_schedule(name: &str) -> (usize, usize) {
    let cfg = Config::preset(name).ok();
    let epochs = cfg.as_ref().map_or(50, |c| c.epochs);
    let images = match cfg.as_ref().map(|c| c.dataset.as_str()) {
        Some("fashion-mnist" | "mnist") => 60_000,
        Some("imagenet") => 1_281_167,
        Some(d) if d.contains("imagenette") => 9_469,
        _ => 50_000,
    };
    (epochs, images - cfg.map_or(0, |c| c.val_split).min(images))
}

/// Input shape of a preset's dataset (ImageNet-sized ones, e.g. Imagenette, at 224x224).
fn input_shape(cfg: &Config) -> Shape {
    if let Some(s) = &cfg.stream {
        return Shape::Map { h: s.size, w: s.size, c: 3 };
    }
    match cfg.dataset.as_str() {
        "fashion-mnist" | "mnist" => Shape::Map { h: 28, w: 28, c: 1 },
        d if d.contains("imagenet") => Shape::Map { h: 224, w: 224, c: 3 },
        _ => Shape::Map { h: 32, w: 32, c: 3 },
    }
}

pub fn bench_training(gpu: &Gpu, opts: &TrainBenchOptions) -> Result<TrainBenchReport> {
    if opts.batch == 0 || opts.steps == 0 {
        return Err(Error::usage("bench train needs a batch and steps of at least 1"));
    }
    let mut rows = Vec::new();
    for name in &opts.presets {
        rows.extend(bench_preset(gpu, name, opts)?);
    }
    let submit_overhead_us = if opts.plan_only { 0.0 } else { gpu.dispatch_overhead(20)? * 1e6 };
    Ok(TrainBenchReport {
        adapter: gpu.summary.clone(),
        batch: opts.batch,
        quick: opts.quick,
        rows,
        submit_overhead_us,
    })
}

/// One row per greedy stage of preset `name`, or one row for a DGL step of all its stages.
fn bench_preset(gpu: &Gpu, name: &str, opts: &TrainBenchOptions) -> Result<Vec<StageBench>> {
    let cfg = bench_config(name, opts.quick)?;
    let dgl = matches!(cfg.method, Method::Dgl | Method::DglAsync);
    if cfg.method == Method::E2e {
        return Err(Error::usage(format!("bench train measures greedy and DGL presets; `{name}` is e2e")));
    }
    let input = input_shape(&cfg);
    let spec = ModelSpec::new(&cfg, input, 10)?;
    let planned = {
        let c = Config { batch_size: opts.batch, grad_accum: 1, keep_best: false, ..cfg.clone() };
        let align = (gpu.storage_alignment() / 4).max(1) as usize;
        move |j: usize| plan_stage(&c, &spec, Trains::Stage(j), align).total() as f64 / (1u64 << 20) as f64
    };
    if opts.plan_only {
        if dgl {
            return Err(Error::usage(format!("bench train --plan-only plans greedy stages; `{name}` is a DGL preset")));
        }
        let rows = (0..cfg.stage_count()).map(|j| StageBench {
            preset: name.to_string(),
            stage: j,
            method: "greedy".into(),
            img_per_s: 0.0,
            ms_per_step: 0.0,
            peak_mib: 0.0,
            planned_mib: planned(j),
            dispatches: 0,
        });
        return Ok(rows.collect());
    }
    let mut model = Model::new(gpu, ModelSpec::new(&cfg, input, 10)?, cfg.seed)?;
    let mut feed = Feed::new(gpu, opts.batch, input.len())?;
    let data = synthetic_batch(input, opts.batch);
    let stages = model.stages.len();
    // One set of step values per DGL stage (the greedy step uses the first); a small LR keeps the
    // synthetic run finite, and the arithmetic is the same at any LR.
    let ios = (0..stages).map(|_| StepIo::new(gpu)).collect::<Result<Vec<_>>>()?;
    for io in &ios {
        io.set_lr(gpu, &cfg, 1e-4);
    }
    let mut rows = Vec::new();
    for j in 0..if dgl { 1 } else { stages } {
        // As in training: only what the step trains holds gradients and momentum.
        match dgl {
            true => model.train_only(gpu, 0..stages, 0..stages)?,
            false => hold_training(gpu, &mut model, Trains::Stage(j))?,
        }
        gpu.reset_peak();
        let scratch = scratch_for(gpu, &model, if dgl { stages - 1 } else { j }, opts.batch)?;
        let ctx = StepContext { gpu, cfg: &cfg, model: &model, io: &ios[0], scratch: &scratch };
        let plan = if dgl {
            let x0 = gpu.tensor(&input.batched(opts.batch), "input")?;
            let mut p = PlanBuilder::new(gpu, "dgl step");
            ops::augment_batch(&mut p, &feed.images, &feed.ids, &ios[0].rng, &x0, &augment_config(&cfg, true))?;
            record_dgl_body(&mut p, &model, &x0, &feed.labels, &ios, &scratch)?;
            p.finish()?
        } else {
            train_step(&ctx, &feed, Trains::Stage(j))?
        };
        let secs = seconds_per_step(gpu, &plan, &mut feed, &data, opts)?;
        let (_, peak) = gpu.memory();
        rows.push(StageBench {
            preset: name.to_string(),
            stage: if dgl { stages } else { j },
            method: if dgl { "dgl".into() } else { "greedy".into() },
            img_per_s: opts.batch as f64 / secs,
            ms_per_step: secs * 1e3,
            peak_mib: peak as f64 / (1u64 << 20) as f64,
            planned_mib: if dgl { 0.0 } else { planned(j) },
            dispatches: plan.dispatches(),
        });
    }
    Ok(rows)
}

/// A batch of synthetic images and labels, uploaded every step as real training does.
fn synthetic_batch(input: Shape, batch: usize) -> Dataset {
    let Shape::Map { h, w, c } = input else { unreachable!("image input") };
    Dataset {
        images: (0..batch * input.len()).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect(),
        labels: (0..batch).map(|i| (i % 10) as u8).collect(),
        height: h,
        width: w,
        channels: c,
        classes: (0..10).map(|i| i.to_string()).collect(),
        source: "synthetic".into(),
    }
}

/// Seconds per step of `plan` after `opts.warmup` untimed steps, each step uploading `data` and
/// submitting once with two steps in flight, as training does.
fn seconds_per_step(gpu: &Gpu, plan: &Plan, feed: &mut Feed, data: &Dataset, opts: &TrainBenchOptions) -> Result<f64> {
    let idx: Vec<u32> = (0..opts.batch as u32).collect();
    let mut in_flight = InFlight::default();
    let mut step = |feed: &mut Feed| -> Result<()> {
        feed.load(gpu, data, &idx);
        in_flight.submit(gpu, &[plan])
    };
    for _ in 0..opts.warmup {
        step(feed)?;
    }
    gpu.wait()?;
    let t = Instant::now();
    for _ in 0..opts.steps {
        step(feed)?;
    }
    gpu.wait()?;
    Ok(t.elapsed().as_secs_f64() / opts.steps as f64)
}

impl TrainBenchReport {
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let planned_only = self.rows.iter().all(|r| r.ms_per_step == 0.0);
        let _ = writeln!(
            s,
            "### {}: {} ({}, {}), batch {}{}\n",
            if planned_only { "Planned training memory (no step run)" } else { "Training throughput" },
            self.adapter.name,
            self.adapter.backend,
            self.adapter.device_type,
            self.batch,
            if self.quick { ", quick (widths / 16)" } else { "" }
        );
        let _ = writeln!(s, "| preset | stage | img/s | ms/step | dispatches | peak GPU MiB | planned MiB |");
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
        for r in &self.rows {
            let stage = if r.method == "dgl" { format!("all {} (dgl)", r.stage) } else { r.stage.to_string() };
            // Zero: not measured (--plan-only), or not planned (DGL).
            let shown = |v: f64, digits: usize| if v > 0.0 { format!("{v:.digits$}") } else { "-".into() };
            let _ = writeln!(
                s,
                "| {} | {stage} | {} | {} | {} | {} | {} |",
                r.preset,
                shown(r.img_per_s, 0),
                shown(r.ms_per_step, 2),
                shown(r.dispatches as f64, 0),
                shown(r.peak_mib, 1),
                shown(r.planned_mib, 1)
            );
        }
        for preset in self.presets() {
            if self.rows.iter().any(|r| r.preset == preset && r.ms_per_step == 0.0) {
                continue;
            }
            let (epochs, images) = preset_schedule(&preset);
            let total = self.full_training_seconds(&preset, epochs, images);
            let what = if self.rows.iter().any(|r| r.preset == preset && r.method == "dgl") {
                "DGL training"
            } else {
                "greedy training"
            };
            let per = if what == "DGL training" { "" } else { "/stage" };
            let _ = writeln!(
                s,
                "\n{preset}: full {what} ({epochs} epochs{per}, {images} images) at these rates: {total:.0} s"
            );
        }
        if self.submit_overhead_us > 0.0 && self.rows.iter().any(|r| r.ms_per_step > 0.0) {
            let _ = writeln!(
                s,
                "\nOne empty submit + wait costs {:.0} µs on this adapter; every step above is one submit of all its dispatches, so that is the whole per-step launch overhead ({:.1}% of the fastest step).",
                self.submit_overhead_us,
                100.0 * self.submit_overhead_us / 1e3 / self.rows.iter().map(|r| r.ms_per_step).fold(f64::INFINITY, f64::min)
            );
        }
        s
    }

    fn presets(&self) -> Vec<String> {
        let mut p: Vec<String> = self.rows.iter().map(|r| r.preset.clone()).collect();
        p.dedup();
        p
    }

    /// Seconds a whole greedy run would take at the measured per-stage rates.
    pub fn full_training_seconds(&self, preset: &str, epochs: usize, images: usize) -> f64 {
        self.rows.iter().filter(|r| r.preset == preset).map(|r| (epochs * images) as f64 / r.img_per_s).sum()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises")
    }

    /// Ratios of our per-stage img/s to every matching baseline run (>1: we are faster).
    pub fn compare(&self, baseline: &TrainingBaseline) -> String {
        let mut s = String::new();
        for preset in self.presets() {
            let ours: Vec<f64> = self.rows.iter().filter(|r| r.preset == preset).map(|r| r.img_per_s).collect();
            for run in baseline.runs.iter().filter(|r| r.preset == preset) {
                let ratios: Vec<String> =
                    ours.iter().zip(&run.img_per_s).map(|(a, b)| format!("{:.2}x", a / b)).collect();
                let total = self.full_training_seconds(&preset, run.epochs_per_stage, 50_000);
                let _ = writeln!(
                    s,
                    "{preset} vs PyTorch {} (batch {}): per stage {}; full training {total:.0} s vs {:.0} s ({:.2}x)",
                    run.precision,
                    baseline.batch,
                    ratios.join(" "),
                    run.total_seconds,
                    run.total_seconds / total
                );
            }
        }
        s
    }
}
