//! `layerwise bench kernels`: GFLOP/s of conv2d forward / backward_input / backward_weight on the
//! paper's CIFAR shapes (batch 128, 3x3, stride 1, same padding) and of a square GEMM, each kernel first
//! checked against its f64 CPU reference on a reduced copy of its shape (a wrong kernel is never timed).
//!
//! Timing is wall clock: one plan holds the kernel `reps` times (one submit), it runs once to warm up,
//! then `gpu.run` + `gpu.wait` repeat until `min_seconds` pass; the best of three such runs is reported
//! and nothing is subtracted, so submit and wait overhead is included (amortised over `reps`).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::gpu::{AdapterSummary, Gpu, Plan, PlanBuilder};
use crate::ops::{self, Conv2dDirection, Conv2dKernel, Conv2dShape};
use crate::reference;
use crate::rng::SplitMix;

/// The bound a kernel must meet against its f64 reference (relative L2 error), as in the kernel tests.
pub const VERIFY_TOL: f64 = 1e-4;

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

/// The reduced problems verification runs on the CPU: batch 1 and at most a 6x5 map for convs, 30 rows
/// for the GEMM; small enough that the widest layer (2048 -> 1024) costs about a GFLOP in the f64
/// reference, and sizes that are multiples of no tile.
const VERIFY_H: usize = 6;
const VERIFY_W: usize = 5;

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
        .map(|&(cin, cout, hw)| Conv2dShape { n, h: hw, w: hw, cin: channels(cin), cout: channels(cout), kh: 3, kw: 3 })
        .collect()
}

/// The 3x3 convolutions of the default preset (fmnist-quick: 28x28 grey images, stages of width 16, 32
/// and 64, space-to-depth between stages) at batch `n`.
pub fn fmnist_quick_shapes(n: usize) -> Vec<Conv2dShape> {
    [(1, 16, 28), (64, 32, 14), (128, 64, 7)]
        .iter()
        .map(|&(cin, cout, hw)| Conv2dShape { n, h: hw, w: hw, cin, cout, kh: 3, kw: 3 })
        .collect()
}

fn shape_label(s: &Conv2dShape) -> String {
    let k = if s.kh == s.kw { format!("{}", s.kh) } else { format!("{}x{}", s.kh, s.kw) };
    format!("{}x{}x{} {}->{} k{k}", s.n, s.h, s.w, s.cin, s.cout)
}

const CONV_OPS: [&str; 3] = ["conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight"];

/// Verify (optionally) and time the three conv directions on one geometry.
fn bench_conv(gpu: &Gpu, s: &Conv2dShape, opts: &KernelBenchOptions, rows: &mut Vec<KernelBenchRow>) -> Result<()> {
    let label = shape_label(s);
    // The kernel variants the library picks for this shape on this adapter; verified on the reduced shape
    // with the same variants.
    let kernels = [Conv2dDirection::Forward, Conv2dDirection::BackwardInput, Conv2dDirection::BackwardWeight]
        .map(|d| ops::conv2d_choose(gpu, s, d));
    let errors = if opts.verify {
        let small = Conv2dShape { n: 1, h: s.h.min(VERIFY_H), w: s.w.min(VERIFY_W), ..*s };
        let errs = verify_conv(gpu, &small, kernels)?;
        for (op, e) in CONV_OPS.iter().zip(errs) {
            check_err(gpu, op, &label, &shape_label(&small), e)?;
        }
        errs.map(Some)
    } else {
        [None; 3]
    };
    // Everything timed is allocated here, once; the plans only record dispatches into these tensors.
    // x: [N, H, W, Cin], w: [Cout, KH, KW, Cin], y and d_y: [N, H, W, Cout].
    let x = gpu.tensor(&[s.n, s.h, s.w, s.cin], "bench x")?;
    let w = gpu.tensor(&[s.cout, s.kh, s.kw, s.cin], "bench w")?;
    let y = gpu.tensor(&[s.n, s.h, s.w, s.cout], "bench y")?;
    let d_y = gpu.tensor(&[s.n, s.h, s.w, s.cout], "bench d_y")?;
    let d_x = gpu.tensor(&[s.n, s.h, s.w, s.cin], "bench d_x")?;
    let d_w = gpu.tensor(&[s.cout, s.kh, s.kw, s.cin], "bench d_w")?;
    let workspace = gpu.tensor(&[ops::conv2d_backward_weight_workspace_len(s, false)], "bench workspace")?;
    // Finite, unremarkable values: the timing must not depend on NaNs or denormals.
    gpu.fill(&x, 0.5);
    gpu.fill(&w, 0.01);
    gpu.fill(&d_y, 0.01);
    let plans = [
        record(gpu, CONV_OPS[0], opts.reps, |p| ops::conv2d_forward_with(p, kernels[0], &x, &w, None, &y, false))?,
        record(gpu, CONV_OPS[1], opts.reps, |p| ops::conv2d_backward_input_with(p, kernels[1], &d_y, &w, &d_x))?,
        record(gpu, CONV_OPS[2], opts.reps, |p| {
            ops::conv2d_backward_weight_with(p, kernels[2], &x, &d_y, &d_w, None, &workspace)
        })?,
    ];
    for (((op, plan), err), k) in CONV_OPS.iter().zip(&plans).zip(errors).zip(kernels) {
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
    let err = if opts.verify {
        let rows = n.min(VERIFY_H * VERIFY_W);
        let e = verify_gemm(gpu, rows, n, kernel)?;
        check_err(gpu, "gemm", &label, &format!("{rows}x{n}x{n}"), e)?;
        Some(e)
    } else {
        None
    };
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

fn check_err(gpu: &Gpu, op: &str, shape: &str, reduced: &str, err: f64) -> Result<()> {
    // Written so that NaN (an output the kernel never wrote) fails too.
    if err < VERIFY_TOL {
        return Ok(());
    }
    Err(Error::gpu(format!(
        "{op} {shape}: relative error {err:.3e} against the CPU reference (on the reduced shape {reduced}) exceeds {VERIFY_TOL:e} on {}; not timing a wrong kernel",
        gpu.summary.name
    )))
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

/// Run the three conv directions once on `s` and return each one's relative error against the reference.
fn verify_conv(gpu: &Gpu, s: &Conv2dShape, kernels: [&'static Conv2dKernel; 3]) -> Result<[f64; 3]> {
    let mut rng = SplitMix::new(0x5eed ^ (s.cin * 4099 + s.cout) as u64);
    let x = rng.normals(s.x_len());
    let w = rng.normals(s.w_len());
    let d_y = rng.normals(s.y_len());
    let tx = gpu.tensor_from(&[s.n, s.h, s.w, s.cin], &to_f32(&x), "verify x")?;
    let tw = gpu.tensor_from(&[s.cout, s.kh, s.kw, s.cin], &to_f32(&w), "verify w")?;
    let tdy = gpu.tensor_from(&[s.n, s.h, s.w, s.cout], &to_f32(&d_y), "verify d_y")?;
    let ty = gpu.tensor(&[s.n, s.h, s.w, s.cout], "verify y")?;
    let tdx = gpu.tensor(&[s.n, s.h, s.w, s.cin], "verify d_x")?;
    let tdw = gpu.tensor(&[s.cout, s.kh, s.kw, s.cin], "verify d_w")?;
    let ws = gpu.tensor(&[ops::conv2d_backward_weight_workspace_len(s, false)], "verify workspace")?;
    // An element a kernel forgets to write stays NaN and fails the check.
    for t in [&ty, &tdx, &tdw, &ws] {
        gpu.fill(t, f32::NAN);
    }
    let mut p = PlanBuilder::new(gpu, "verify conv2d");
    ops::conv2d_forward_with(&mut p, kernels[0], &tx, &tw, None, &ty, false)?;
    ops::conv2d_backward_input_with(&mut p, kernels[1], &tdy, &tw, &tdx)?;
    ops::conv2d_backward_weight_with(&mut p, kernels[2], &tx, &tdy, &tdw, None, &ws)?;
    gpu.run(&[&p.finish()?])?;

    let mut y_ref = vec![0.0; s.y_len()];
    let mut dx_ref = vec![0.0; s.x_len()];
    let mut dw_ref = vec![0.0; s.w_len()];
    reference::conv2d_forward(&x, &w, None, &mut y_ref, false, s);
    reference::conv2d_backward_input(&d_y, &w, &mut dx_ref, s);
    reference::conv2d_backward_weight(&x, &d_y, &mut dw_ref, None, s);
    Ok([
        rel_err(&gpu.download(&ty)?, &y_ref),
        rel_err(&gpu.download(&tdx)?, &dx_ref),
        rel_err(&gpu.download(&tdw)?, &dw_ref),
    ])
}

/// Run the GEMM once with `rows` rows (x [rows, n], w [n, n]) and return its relative error.
fn verify_gemm(gpu: &Gpu, rows: usize, n: usize, kernel: &'static Conv2dKernel) -> Result<f64> {
    let mut rng = SplitMix::new(0x6e33 ^ n as u64);
    let x = rng.normals(rows * n);
    let w = rng.normals(n * n);
    let tx = gpu.tensor_from(&[rows, 1, 1, n], &to_f32(&x), "verify gemm x")?;
    let tw = gpu.tensor_from(&[n, 1, 1, n], &to_f32(&w), "verify gemm w")?;
    let ty = gpu.tensor(&[rows, 1, 1, n], "verify gemm y")?;
    gpu.fill(&ty, f32::NAN);
    let mut p = PlanBuilder::new(gpu, "verify gemm");
    ops::conv2d_forward_with(&mut p, kernel, &tx, &tw, None, &ty, false)?;
    gpu.run(&[&p.finish()?])?;
    let mut y_ref = vec![0.0; rows * n];
    reference::linear_forward(&x, &w, None, &mut y_ref, false, rows, n, n);
    Ok(rel_err(&gpu.download(&ty)?, &y_ref))
}

/// ||got - want|| / ||want||; NaN when the GPU left any NaN.
fn rel_err(got: &[f32], want: &[f64]) -> f64 {
    let (mut num, mut den) = (0f64, 0f64);
    for (&g, &w) in got.iter().zip(want) {
        let d = g as f64 - w;
        num += d * d;
        den += w * w;
    }
    if den == 0.0 {
        num.sqrt()
    } else {
        (num / den).sqrt()
    }
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

impl KernelBenchReport {
    /// A Markdown section: adapter, how it was measured, one table line per row.
    pub fn markdown(&self) -> String {
        let a = &self.adapter;
        let mut s = format!("### Kernel benchmark: {} ({}, {})\n\n", a.name, a.backend, a.device_type);
        let _ = writeln!(
            s,
            "Shader runtime checks {}; wall clock, best of 3; peak GPU memory {:.1} MiB; GEMM {:.1} GFLOP/s.\n",
            if self.runtime_checks { "on" } else { "off" },
            self.peak_gpu_bytes as f64 / (1u64 << 20) as f64,
            self.gemm_gflops
        );
        s.push_str(
            "| op | shape | GFLOP | ms/call | GFLOP/s | rel. error | kernel |\n|---|---|---:|---:|---:|---:|---|\n",
        );
        for r in &self.rows {
            let err = r.max_rel_err.map_or("-".to_string(), |e| format!("{e:.1e}"));
            let _ = writeln!(
                s,
                "| {} | {} | {:.3} | {:.3} | {:.1} | {err} | {} |",
                r.op,
                r.shape,
                r.flops as f64 / 1e9,
                r.seconds_per_call * 1e3,
                r.gflops,
                r.kernel
            );
        }
        s
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a benchmark report always serialises")
    }

    /// Parse a report written by `to_json` (or a baseline in the same schema; unknown fields are ignored).
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| Error::usage(format!("not a kernel benchmark report: {e}")))
    }

    pub fn load(path: &Path) -> Result<Self> {
        let json = std::fs::read_to_string(path).at(path)?;
        serde_json::from_str(&json).map_err(|e| Error::data(path, format!("not a kernel benchmark report: {e}")))
    }

    /// Markdown table of GFLOP/s ratios (this / baseline) for rows with the same op and shape; rows only one
    /// side has are listed with a dash. The GEMM line compares the two `gemm_gflops`, whatever their sizes.
    pub fn compare(&self, baseline: &KernelBenchReport) -> String {
        let mut s = format!("### {} vs {}\n\n", self.adapter.name, baseline.adapter.name);
        s.push_str("| op | shape | GFLOP/s | baseline GFLOP/s | ratio |\n|---|---|---:|---:|---:|\n");
        let find =
            |rows: &[KernelBenchRow], r: &KernelBenchRow| rows.iter().position(|b| b.op == r.op && b.shape == r.shape);
        for r in &self.rows {
            match find(&baseline.rows, r) {
                Some(i) => {
                    let b = baseline.rows[i].gflops;
                    let _ =
                        writeln!(s, "| {} | {} | {:.1} | {b:.1} | {} |", r.op, r.shape, r.gflops, ratio(r.gflops, b));
                }
                None => {
                    let _ = writeln!(s, "| {} | {} | {:.1} | - | - |", r.op, r.shape, r.gflops);
                }
            }
        }
        for b in baseline.rows.iter().filter(|b| find(&self.rows, b).is_none()) {
            let _ = writeln!(s, "| {} | {} | - | {:.1} | - |", b.op, b.shape, b.gflops);
        }
        let _ = writeln!(
            s,
            "\nGEMM: {:.1} GFLOP/s vs {:.1} GFLOP/s baseline: {}",
            self.gemm_gflops,
            baseline.gemm_gflops,
            ratio(self.gemm_gflops, baseline.gemm_gflops)
        );
        s
    }
}

fn ratio(a: f64, b: f64) -> String {
    let r = a / b;
    if !(b > 0.0 && r.is_finite()) {
        "-".to_string()
    } else if r >= 0.01 || r == 0.0 {
        format!("{r:.3}x")
    } else {
        // A CPU adapter against an H100 is many orders of magnitude off; keep the digits visible.
        format!("{r:.2e}x")
    }
}
