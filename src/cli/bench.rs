//! `layerwise bench kernels|train|data`: the benchmarks' flags and their reports.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::GpuArgs;
use crate::bench::{bench_kernels, bench_training, KernelBenchOptions, KernelBenchReport, TrainBenchOptions};
use crate::error::Result;
use crate::gpu::Gpu;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// GFLOP/s of every conv direction on the paper's CIFAR shapes and of a square GEMM, each checked
    /// against the CPU reference before it is timed.
    Kernels {
        /// Tiny shapes (seconds on a CPU driver).
        #[arg(long)]
        quick: bool,
        /// Batch size of the conv shapes.
        #[arg(long, default_value_t = 128)]
        batch: usize,
        /// The residual networks' convolutions (CIFAR and ImageNet ResNets: strides 1 and 2, kernels 1, 3
        /// and 7) instead of the paper's CIFAR shapes.
        #[arg(long)]
        resnet: bool,
        /// GEMM size n (n x n x n).
        #[arg(long)]
        gemm: Option<usize>,
        /// Write the result as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Print ratios against a saved result (JSON from --json, or the PyTorch baseline in assets/bench).
        #[arg(long)]
        compare: Option<PathBuf>,
    },
    /// Per-stage training images/s and peak GPU memory of greedy presets on synthetic data.
    Train {
        /// Presets to measure (repeatable; default paper1-cifar-k1 and paper1-cifar-k3).
        #[arg(long = "preset")]
        presets: Vec<String>,
        /// Widths / 16 and batch 16 (seconds on a CPU driver).
        #[arg(long)]
        quick: bool,
        #[arg(long)]
        batch: Option<usize>,
        /// Timed steps per stage.
        #[arg(long)]
        steps: Option<usize>,
        /// Untimed steps per stage before timing (default 5; 0 for a quick peak-memory survey on slow adapters).
        #[arg(long)]
        warmup: Option<usize>,
        /// Only the memory planner's MiB per stage, no step run (nets too slow to step on this adapter).
        #[arg(long)]
        plan_only: bool,
        /// Write the result as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Print ratios against the PyTorch H100 numbers shipped in assets/bench/pytorch-h100.json.
        #[arg(long)]
        compare_pytorch: bool,
    },
    /// Images/s of the streaming input pipeline (decode, + ImageNet train / eval transforms) on 1..N
    /// workers, side by side with Pillow on the same files.
    Data(DataBenchArgs),
}

#[derive(Args, Debug)]
pub struct DataBenchArgs {
    /// Image folders, .tar shards or a packed copy (e.g. an ImageNet train/ folder).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Only images below a folder of this name (e.g. train).
    #[arg(long)]
    pub split: Option<String>,
    /// Images measured (the first listed).
    #[arg(long, default_value_t = 1024)]
    pub images: usize,
    /// Worker counts, e.g. 1,2,4 (default: powers of two up to the core count, and the core count).
    #[arg(long, value_delimiter = ',')]
    pub workers: Vec<usize>,
    /// Also run the Pillow side with this Python (needs Pillow; uses torchvision's transforms if present).
    #[arg(long, value_name = "PYTHON", num_args = 0..=1, default_missing_value = "python3")]
    pub pillow: Option<String>,
    /// Write the result as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub(super) fn bench_command(what: BenchCommand, gpu: &GpuArgs, quiet: bool) -> Result<()> {
    match what {
        BenchCommand::Kernels { quick, batch, resnet, gemm, json, compare } => {
            let gpu = Gpu::new(&gpu.options()?)?;
            let mut opts = if quick { KernelBenchOptions::quick() } else { KernelBenchOptions::default() };
            if !quick {
                opts.batch = batch;
            }
            if resnet {
                opts.shapes = crate::bench::resnet_shapes(batch, quick);
            }
            if let Some(n) = gemm {
                opts.gemm_size = n;
            }
            opts.progress = !quiet;
            let report = bench_kernels(&gpu, &opts)?;
            println!("{}", report.markdown());
            if let Some(path) = json {
                crate::fsutil::atomic_write(&path, report.to_json().as_bytes())?;
            }
            if let Some(path) = compare {
                println!("{}", report.compare(&KernelBenchReport::load(&path)?));
            }
        }
        BenchCommand::Train { presets, quick, batch, steps, warmup, plan_only, json, compare_pytorch } => {
            let gpu = Gpu::new(&gpu.options()?)?;
            let mut opts = if quick { TrainBenchOptions::quick() } else { TrainBenchOptions::default() };
            if !presets.is_empty() {
                opts.presets = presets;
            }
            opts.batch = batch.unwrap_or(opts.batch);
            opts.steps = steps.unwrap_or(opts.steps);
            opts.warmup = warmup.unwrap_or(opts.warmup);
            opts.plan_only = plan_only;
            let report = bench_training(&gpu, &opts)?;
            println!("{}", report.markdown());
            if let Some(path) = json {
                crate::fsutil::atomic_write(&path, report.to_json().as_bytes())?;
            }
            if compare_pytorch {
                println!("{}", report.compare(&crate::bench::pytorch_h100()?.1));
            }
        }
        BenchCommand::Data(a) => bench_data_command(a, quiet)?,
    }
    Ok(())
}

fn bench_data_command(a: DataBenchArgs, quiet: bool) -> Result<()> {
    let mut opts = crate::bench::DataBenchOptions::new(a.inputs);
    opts.split = a.split;
    opts.images = a.images;
    if !a.workers.is_empty() {
        opts.workers = a.workers;
    }
    opts.python = a.pillow;
    if !quiet {
        eprintln!("measuring {} images on worker counts {:?}...", opts.images, opts.workers);
    }
    let report = crate::bench::bench_data(&opts)?;
    println!("{}", report.markdown());
    if let Some(path) = a.json {
        crate::fsutil::atomic_write(&path, report.to_json().as_bytes())?;
    }
    Ok(())
}
