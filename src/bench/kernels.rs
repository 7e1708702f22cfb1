//! `layerwise bench kernels`: GFLOP/s of conv2d forward / backward_input / backward_weight on the
//! paper's CIFAR shapes (batch 128, 3x3, stride 1, same padding) or the residual networks' shapes (strides 1
//! and 2, kernels 1, 3 and 7: `resnet_shapes`) and of a square GEMM, each kernel first
//! checked against its f64 CPU reference on a reduced copy of its shape (a wrong kernel is never timed).
//!
//! Timing is wall clock: one plan holds the kernel `reps` times (one submit), it runs once to warm up,
//! then `gpu.run` + `gpu.wait` repeat until `min_seconds` pass; the best of three such runs is reported
//! and nothing is subtracted, so submit and wait overhead is included (amortised over `reps`).

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::verify;
use crate::error::{Error, Result};
use crate::gpu::{AdapterSummary, Gpu, Plan, PlanBuilder};
use crate::ops::{self, Conv2dDirection, Conv2dShape};

/// The paper's CIFAR convolutions as (Cin, Cout, map size), all 3x3.
const CIFAR_CONVS: [(usize, usize, usize); 8] = [
    (3, 128, 32),
    (128, 128, 32),
    (512, 256, 16),
    (256, 256, 16),
    (256, 256, 32),
    (1024, 512, 16),
    (2048, 1024, 8),
    (1024, 1024, 8),
];

/// `quick` divides the batch by this and every channel count above `QUICK_MIN_CHANNELS` by `QUICK_CHANNEL_DIV`.
const QUICK_BATCH_DIV: usize = 32;
const QUICK_CHANNEL_DIV: usize = 16;
const QUICK_MIN_CHANNELS: usize = 4;

#[derive(Debug, Clone)]
pub struct KernelBenchOptions {
    /// Batch size of the conv shapes (128 in the paper).
    pub batch: usize,
    /// Tiny shapes (batch and channels divided) that run in seconds on a CPU adapter; same rows.
    pub quick: bool,
    /// Kernel launches recorded into one plan, so one submit and one wait are shared by that many calls.
    pub reps: usize,
    /// Each of the three timing runs repeats the plan until this much wall time has passed.
    pub min_seconds: f64,
    /// n of the n x n x n GEMM.
    pub gemm_size: usize,
    /// Check each kernel against the CPU reference on a reduced problem before timing it.
    pub verify: bool,
    /// Conv geometries to time instead of the paper's CIFAR shapes (used as given: `quick` does not
    /// shrink them), e.g. `fmnist_quick_shapes(128)`.
    pub shapes: Vec<Conv2dShape>,
    /// Print each row to stderr as soon as it is measured (full-size runs take many minutes on CPUs).
    pub progress: bool,
}

impl Default for KernelBenchOptions {
    fn default() -> Self {
        KernelBenchOptions {
            batch: 128,
            quick: false,
            reps: 10,
            min_seconds: 0.5,
            gemm_size: 4096,
            verify: true,
            shapes: Vec::new(),
            progress: false,
        }
    }
}

impl KernelBenchOptions {
    /// The CI / CPU-adapter variant: tiny shapes, a 256^3 GEMM, short timing runs.
    pub fn quick() -> Self {
        KernelBenchOptions { quick: true, reps: 3, min_seconds: 0.05, gemm_size: 256, ..Default::default() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelBenchRow {
    /// "conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight" or "gemm".
    pub op: String,
    /// Conv: "NxHxW Cin->Cout kK" (e.g. "128x32x32 3->128 k3"); GEMM: "MxNxK".
    pub shape: String,
    pub flops: u64,
    pub seconds_per_call: f64,
    pub gflops: f64,
    /// Relative L2 error against the CPU reference on the reduced problem; None when not verified.
    pub max_rel_err: Option<f64>,
    /// The kernel variant timed (and verified), e.g. "conv2d_forward_runs7x32"; empty in old reports.
    #[serde(default)]
    pub kernel: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelBenchReport {
    pub adapter: AdapterSummary,
    /// Whether the shaders kept naga's bounds checks (the slow test mode) while timed.
    pub runtime_checks: bool,
    pub rows: Vec<KernelBenchRow>,
    pub gemm_gflops: f64,
    /// Most GPU buffer bytes held at once through this `Gpu` during the benchmark, what the caller already
    /// held included (0 in baselines that did not record it).
    #[serde(default)]
    pub peak_gpu_bytes: u64,
}

/// Time every kernel on the configured shapes. Resets the device's peak-memory counter.
pub fn bench_kernels(gpu: &Gpu, opts: &KernelBenchOptions) -> Result<KernelBenchReport> {
    if opts.batch == 0 || opts.gemm_size == 0 || opts.reps == 0 {
        return Err(Error::usage("kernel benchmark: batch, gemm size and reps must be at least 1"));
    }
    if !(opts.min_seconds >= 0.0 && opts.min_seconds.is_finite()) {
        return Err(Error::usage(format!(
            "kernel benchmark: min seconds must be a finite number >= 0, got {}",
            opts.min_seconds
        )));
    }
    gpu.reset_peak();
    let mut rows = Vec::new();
    for s in conv_shapes(opts) {
        bench_conv(gpu, &s, opts, &mut rows)?;
    }
    let gemm = bench_gemm(gpu, opts.gemm_size, opts)?;
    let gemm_gflops = gemm.gflops;
    if opts.progress {
        eprintln!("  {} {}: {:.1} GFLOP/s", gemm.op, gemm.shape, gemm.gflops);
    }
    rows.push(gemm);
    Ok(KernelBenchReport {
        adapter: gpu.summary.clone(),
        runtime_checks: gpu.runtime_checks,
        rows,
        gemm_gflops,
        peak_gpu_bytes: gpu.memory().1,
    })
}

/// The conv geometries the benchmark times, in row order.
pub fn conv_shapes(opts: &KernelBenchOptions) -> Vec<Conv2dShape> {
    if !opts.shapes.is_empty() {
        return opts.shapes.clone();
    }
    let n = if opts.quick { (opts.batch / QUICK_BATCH_DIV).max(1) } else { opts.batch };
    let channels = |c: usize| {
        if opts.quick && c > QUICK_MIN_CHANNELS {
            (c / QUICK_CHANNEL_DIV).max(QUICK_MIN_CHANNELS)
        } else {
            c
        }
    };
    CIFAR_CONVS
        .iter()
        .map(|&(cin, cout, hw)| Conv2dShape {
            n,
            h: hw,
            w: hw,
            cin: channels(cin),
            cout: channels(cout),
            kh: 3,
            kw: 3,
            stride: 1,
        })
        .collect()
}

/// The 3x3 convolutions of the default preset (fmnist-quick: 28x28 grey images, stages of width 16, 32
/// and 64, space-to-depth between stages) at batch `n`.
pub fn fmnist_quick_shapes(n: usize) -> Vec<Conv2dShape> {
    [(1, 16, 28), (64, 32, 14), (128, 64, 7)]
        .iter()
        .map(|&(cin, cout, hw)| Conv2dShape { n, h: hw, w: hw, cin, cout, kh: 3, kw: 3, stride: 1 })
        .collect()
}

/// The convolutions of the residual networks as (Cin, Cout, input map size, kernel, stride): He et al.'s
/// CIFAR ResNets (3x3 stem at 16, 3x3 at widths 16/32/64, the 3x3/2 and 1x1/2 projections where a group
/// starts), then torchvision's ImageNet ResNets at 224x224 (the 7x7/2 stem, the basic blocks' 3x3 convs and
/// the projections at each resolution, a bottleneck's 1x1 convs).
const RESNET_CONVS: [(usize, usize, usize, usize, usize); 17] = [
    (3, 16, 32, 3, 1),
    (16, 16, 32, 3, 1),
    (16, 32, 32, 3, 2),
    (16, 32, 32, 1, 2),
    (32, 32, 16, 3, 1),
    (32, 64, 16, 3, 2),
    (32, 64, 16, 1, 2),
    (64, 64, 8, 3, 1),
    (3, 64, 224, 7, 2),
    (64, 64, 56, 3, 1),
    (64, 128, 56, 3, 2),
    (64, 128, 56, 1, 2),
    (128, 128, 28, 3, 1),
    (256, 256, 14, 3, 1),
    (512, 512, 7, 3, 1),
    (256, 64, 56, 1, 1),
    (64, 256, 56, 1, 1),
];

/// The residual networks' convolutions (`RESNET_CONVS`) at batch `n`; with `quick`, batch and channels
/// shrunk as for the CIFAR shapes and the ImageNet maps cut to a quarter of their size.
pub fn resnet_shapes(n: usize, quick: bool) -> Vec<Conv2dShape> {
    let shrink =
        |c: usize| if quick && c > QUICK_MIN_CHANNELS { (c / QUICK_CHANNEL_DIV).max(QUICK_MIN_CHANNELS) } else { c };
    let n = if quick { (n / QUICK_BATCH_DIV).max(1) } else { n };
    RESNET_CONVS
        .iter()
        .map(|&(cin, cout, hw, k, stride)| {
            let hw = if quick && hw > 32 { hw / 4 } else { hw };
            Conv2dShape { n, h: hw, w: hw, cin: shrink(cin), cout: shrink(cout), kh: k, kw: k, stride }
        })
        .collect()
}

pub(super) fn shape_label(s: &Conv2dShape) -> String {
    let k = if s.kh == s.kw { format!("{}", s.kh) } else { format!("{}x{}", s.kh, s.kw) };
    let stride = if s.stride == 1 { String::new() } else { format!(" s{}", s.stride) };
    format!("{}x{}x{} {}->{} k{k}{stride}", s.n, s.h, s.w, s.cin, s.cout)
}

/// Verify (optionally) and time the three conv directions on one geometry.
fn bench_conv(gpu: &Gpu, s: &Conv2dShape, opts: &KernelBenchOptions, rows: &mut Vec<KernelBenchRow>) -> Result<()> {
    let label = shape_label(s);
    // The kernel variants the library picks for this shape on this adapter; verified on the reduced shape
    // with the same variants.
    let kernels = Conv2dDirection::ALL.map(|d| ops::conv2d_choose(gpu, s, d));
    let errors = if opts.verify { verify::verify_conv(gpu, s, kernels)?.map(Some) } else { [None; 3] };
    // Everything timed is allocated here, once; the plans only record dispatches into these tensors.
    // x: [N, H, W, Cin], w: [Cout, KH, KW, Cin], y and d_y: [N, OH, OW, Cout].
    let x = gpu.tensor(&[s.n, s.h, s.w, s.cin], "bench x")?;
    let w = gpu.tensor(&[s.cout, s.kh, s.kw, s.cin], "bench w")?;
    let y = gpu.tensor(&[s.n, s.oh(), s.ow(), s.cout], "bench y")?;
    let d_y = gpu.tensor(&[s.n, s.oh(), s.ow(), s.cout], "bench d_y")?;
    let d_x = gpu.tensor(&[s.n, s.h, s.w, s.cin], "bench d_x")?;
    let d_w = gpu.tensor(&[s.cout, s.kh, s.kw, s.cin], "bench d_w")?;
    let workspace = gpu.tensor(&[ops::conv2d_backward_weight_workspace_len(s, false)], "bench workspace")?;
    // Finite, unremarkable values: the timing must not depend on NaNs or denormals.
    gpu.fill(&x, 0.5);
    gpu.fill(&w, 0.01);
    gpu.fill(&d_y, 0.01);
    let ops = Conv2dDirection::ALL.map(|d| d.op());
    let plans = [
        record(gpu, ops[0], opts.reps, |p| ops::conv2d_forward_with(p, kernels[0], &x, &w, None, &y, false))?,
        record(gpu, ops[1], opts.reps, |p| ops::conv2d_backward_input_with(p, kernels[1], &d_y, &w, &d_x))?,
        record(gpu, ops[2], opts.reps, |p| {
            ops::conv2d_backward_weight_with(p, kernels[2], &x, &d_y, &d_w, None, &workspace)
        })?,
    ];
    for (((op, plan), err), k) in ops.iter().zip(&plans).zip(errors).zip(kernels) {
        let r = row(op, label.clone(), s.flops(), time_plan(gpu, plan, opts)?, err, k.name());
        if opts.progress {
            eprintln!("  {} {}: {:.1} GFLOP/s ({})", r.op, r.shape, r.gflops, r.kernel);
        }
        rows.push(r);
    }
    Ok(())
}

/// C = A B^T in the layout of a linear layer (a 1x1 convolution over a 1x1 map, as `ops::linear_forward`
/// runs it): x [n, n], w [n, n], y [n, n].
fn bench_gemm(gpu: &Gpu, n: usize, opts: &KernelBenchOptions) -> Result<KernelBenchRow> {
    let label = format!("{n}x{n}x{n}");
    let kernel = ops::conv2d_choose(gpu, &ops::linear::linear_shape(n, n, n), Conv2dDirection::Forward);
    let err = if opts.verify { Some(verify::verify_gemm(gpu, n, kernel)?) } else { None };
    let x = gpu.tensor(&[n, 1, 1, n], "bench gemm x")?;
    let w = gpu.tensor(&[n, 1, 1, n], "bench gemm w")?;
    let y = gpu.tensor(&[n, 1, 1, n], "bench gemm y")?;
    gpu.fill(&x, 0.5);
    gpu.fill(&w, 0.01);
    let plan = record(gpu, "gemm", opts.reps, |p| ops::conv2d_forward_with(p, kernel, &x, &w, None, &y, false))?;
    let flops = 2 * (n as u64).pow(3);
    Ok(row("gemm", label, flops, time_plan(gpu, &plan, opts)?, err, kernel.name()))
}

fn row(
    op: &str,
    shape: String,
    flops: u64,
    seconds_per_call: f64,
    max_rel_err: Option<f64>,
    kernel: &str,
) -> KernelBenchRow {
    let gflops = flops as f64 / seconds_per_call / 1e9;
    KernelBenchRow {
        op: op.to_string(),
        shape,
        flops,
        seconds_per_call,
        gflops,
        max_rel_err,
        kernel: kernel.to_string(),
    }
}

/// A plan holding `reps` back-to-back launches of one kernel.
/// The same kernel call recorded once and `reps` times: slow calls are timed one by one, fast ones in
/// batches that share a submit.
struct Timed {
    one: Plan,
    reps: Plan,
    n: usize,
}

fn record(gpu: &Gpu, label: &str, reps: usize, mut call: impl FnMut(&mut PlanBuilder) -> Result<()>) -> Result<Timed> {
    let mut one = PlanBuilder::new(gpu, format!("bench {label}"));
    call(&mut one)?;
    let mut p = PlanBuilder::new(gpu, format!("bench {label} x{reps}"));
    for _ in 0..reps {
        call(&mut p)?;
    }
    Ok(Timed { one: one.finish()?, reps: p.finish()?, n: reps })
}

/// Seconds per kernel call. A first single call warms up and says how slow a call is: one that takes
/// `min_seconds` or more (full-size shapes on CPU adapters) is timed as the best of two more single
/// calls, the submit's cost being noise there; otherwise the best of three wall-clock runs of the
/// batched plan, each at least `min_seconds` long.
fn time_plan(gpu: &Gpu, t: &Timed, opts: &KernelBenchOptions) -> Result<f64> {
    let run = |plan: &Plan| -> Result<f64> {
        let start = Instant::now();
        gpu.run(&[plan])?;
        gpu.wait()?;
        Ok(start.elapsed().as_secs_f64())
    };
    if run(&t.one)? >= opts.min_seconds {
        return Ok(run(&t.one)?.min(run(&t.one)?));
    }
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let start = Instant::now();
        let mut submits = 0usize;
        loop {
            run(&t.reps)?;
            submits += 1;
            if start.elapsed().as_secs_f64() >= opts.min_seconds {
                break;
            }
        }
        best = best.min(start.elapsed().as_secs_f64() / (submits * t.n) as f64);
    }
    Ok(best)
}
