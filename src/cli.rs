//! The command line. Every failure becomes a message and an exit code (2: usage, 1: runtime, 3: stopped
//! by a signal after writing a checkpoint, 130: stopped at once by a second signal), never a panic
//! trace.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::bench::{bench_kernels, bench_training, KernelBenchOptions, KernelBenchReport, TrainBenchOptions};
use crate::config::{Config, DEFAULT_PRESET};
use crate::error::{Error, Result};
use crate::gpu::{list_adapters, BackendChoice, Gpu, GpuOptions};
use crate::metrics::Accuracy;
use crate::train::{self, TrainOptions};

#[derive(Parser, Debug)]
#[command(
    name = "layerwise",
    version,
    about = "Greedy layerwise and decoupled greedy training of CNNs on any GPU (wgpu)"
)]
pub struct Cli {
    #[command(flatten)]
    pub gpu: GpuArgs,
    /// Print only errors and final results.
    #[arg(long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Debug, Clone)]
pub struct GpuArgs {
    /// Graphics backend [env: LAYERWISE_BACKEND].
    #[arg(long, global = true, value_enum)]
    pub backend: Option<BackendChoice>,
    /// Adapter index from `layerwise devices` [env: LAYERWISE_ADAPTER].
    #[arg(long, global = true)]
    pub adapter: Option<usize>,
    /// Keep the shader runtime bounds checks (slow; for debugging) [env: LAYERWISE_SHADER_CHECKS=1].
    #[arg(long, global = true)]
    pub shader_checks: bool,
}

impl GpuArgs {
    pub fn options(&self) -> Result<GpuOptions> {
        let mut o = GpuOptions::from_env()?;
        if let Some(b) = self.backend {
            o.backend = b;
        }
        if let Some(a) = self.adapter {
            o.adapter = Some(a);
        }
        if self.shader_checks {
            o.runtime_checks = true;
        }
        Ok(o)
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a model (default: the fmnist-quick preset on Fashion-MNIST).
    Train(TrainArgs),
    /// Evaluate every head of a run's checkpoint on its validation data (or another dataset).
    Eval {
        /// Run folder.
        run: PathBuf,
        /// Dataset to evaluate on instead of the run's own (name or path).
        #[arg(long)]
        data: Option<String>,
    },
    /// List the GPU adapters wgpu can see, with limits and features, numbered as --adapter takes them
    /// (GL adapters appear with --backend gl or --backend all).
    Devices {
        /// Also compile every kernel on each adapter.
        #[arg(long)]
        check: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild a run's report (filters, feature maps, separability, curves) from its checkpoint.
    Viz {
        /// Run folder.
        run: PathBuf,
        /// Draw stages 0..=STAGE only.
        #[arg(long)]
        stage: Option<usize>,
    },
    /// Train a grid of runs from a study file (axes of config values, seeds), resumably, each into its
    /// own run folder, and write one report over them.
    Study(crate::study::StudyArgs),
    /// Benchmarks (not tests): kernel GFLOP/s.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
    /// Datasets.
    Data {
        #[command(subcommand)]
        what: DataCommand,
    },
    /// List the presets, or print one as a config file.
    Presets {
        /// Preset to print.
        name: Option<String>,
    },
}

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

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Download a dataset's official files, verify their checksums and unpack them.
    Fetch {
        /// fashion-mnist, mnist or cifar10.
        name: String,
        /// Destination folder (default: $LAYERWISE_DATA/NAME or the user cache folder).
        #[arg(long)]
        dest: Option<PathBuf>,
        /// Download from this base URL instead of the official one (a mirror).
        #[arg(long)]
        mirror: Option<String>,
    },
    /// Write a pre-processed copy of an image dataset (one file: images resized to a short side, with an
    /// index) that the streaming pipeline reads with little or no decoding.
    Pack(PackArgs),
}

#[derive(Args, Debug)]
pub struct PackArgs {
    /// Image folders or .tar shards of one split (e.g. ImageNet's train/).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The packed file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Only images below a folder of this name (e.g. train).
    #[arg(long)]
    pub split: Option<String>,
    /// Label file of a flat folder or tar (LOC_val_solution.csv, or `name label` lines).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Resize images whose short side is longer to this short side.
    #[arg(long, default_value_t = 256)]
    pub short_side: usize,
    /// Store JPEG at this quality instead of raw RGB (smaller; decoded when read).
    #[arg(long)]
    pub jpeg: Option<u8>,
}

#[derive(Args, Debug, Default)]
pub struct TrainArgs {
    /// Preset name (see `layerwise presets`).
    #[arg(long, conflicts_with = "config")]
    pub preset: Option<String>,
    /// Config file (TOML), e.g. a preset printed by `layerwise presets NAME` and edited.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override a config value: --set epochs=3 --set stages.0.width=32 (repeatable). With --resume only
    /// the learning-rate schedule (optimizer.lr, optimizer.lr_decay, optimizer.lr_step),
    /// checkpoint_minutes and cache.* may change.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Run folder (default: runs/<config name>, or the next free runs/<name>-N).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in this folder from its last checkpoint.
    #[arg(long, conflicts_with_all = ["preset", "config", "out"])]
    pub resume: Option<PathBuf>,
    /// Where the dataset is: the dataset's own folder or archive, or a folder holding it as
    /// <name>/. Only there: a place without it is an error. Without it, datasets are searched in
    /// $LAYERWISE_DATA, ./data, the user cache (and /usr/share/datasets for Fashion-MNIST); a resumed
    /// run reads the data it recorded.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// With --resume: continue on data that differs from what the run trained on (refused otherwise).
    #[arg(long, requires = "resume")]
    pub force_data: bool,
    /// Training method: greedy, e2e, dgl or dgl-async (same as --set method=...).
    #[arg(long, conflicts_with = "resume")]
    pub method: Option<String>,
    /// Place stages on these adapters, e.g. 0,1 (DGL; same as --set dgl.devices=[0,1]).
    #[arg(long, value_delimiter = ',', conflicts_with = "resume")]
    pub devices: Vec<usize>,
    /// Hold out N training images (a fixed random subset) for validation (same as --set val_split=N).
    #[arg(long, conflicts_with = "resume")]
    pub val_split: Option<usize>,
    /// Skip the end-of-stage report (filters, feature maps, curves).
    #[arg(long)]
    pub no_report: bool,
}

/// The first of runs/NAME, runs/NAME-2, ... that does not exist yet.
fn default_out(name: &str) -> PathBuf {
    let base = Path::new("runs");
    let first = base.join(name);
    if !first.exists() {
        return first;
    }
    (2..).map(|i| base.join(format!("{name}-{i}"))).find(|p| !p.exists()).expect("some name is free")
}

pub fn run(cli: Cli) -> Result<()> {
    let (gpu, quiet) = (&cli.gpu, cli.quiet);
    match cli.command.unwrap_or_else(|| Command::Train(TrainArgs::default())) {
        Command::Train(a) => train_command(&a, gpu.options()?, quiet),
        Command::Eval { run, data } => {
            println!("{}", train::eval_run(&run, data.as_deref(), &gpu.options()?)?);
            Ok(())
        }
        Command::Devices { check, json } => devices(gpu, check, json),
        Command::Viz { run, stage } => {
            println!("{}", train::viz_run(&run, stage, &gpu.options()?)?.display());
            Ok(())
        }
        Command::Study(a) => crate::study::command(&a, gpu.options()?, quiet),
        Command::Bench { what } => bench_command(what, gpu, quiet),
        Command::Data { what: DataCommand::Pack(a) } => pack_command(a, quiet),
        Command::Data { what: DataCommand::Fetch { name, dest, mirror } } => {
            let dest = match dest {
                Some(d) => d,
                None => crate::data::default_fetch_dir(&name)?,
            };
            crate::data::fetch(&name, &dest, mirror.as_deref())?;
            println!("{name}: ready in {}", dest.display());
            Ok(())
        }
        Command::Presets { name } => presets_command(name.as_deref()),
    }
}

/// `layerwise train`: a new run from a preset or config file with overrides, or a resumed one.
fn train_command(a: &TrainArgs, gpu: GpuOptions, quiet: bool) -> Result<()> {
    let data_dir = a.data.clone();
    let (cfg, out, resume) = match &a.resume {
        Some(dir) => (Config::load(&train::RunDir::existing(dir)?.config_path())?, dir.clone(), true),
        None => {
            let cfg = a.config()?;
            let out = a.out.clone().unwrap_or_else(|| default_out(&cfg.name));
            (cfg, out, false)
        }
    };
    let resume_sets = if resume { a.sets.clone() } else { Vec::new() };
    let opts = TrainOptions {
        out: out.clone(),
        resume,
        data_dir,
        gpu,
        quiet,
        report: !a.no_report,
        resume_sets,
        force_data: a.force_data,
    };
    stop_on_signals();
    let summaries = train::train(cfg, &opts)?;
    println!("\nper-stage validation accuracy ({}):", out.display());
    for s in &summaries {
        let (head5, ens5) = (Accuracy::top5_note(s.head_top5), Accuracy::top5_note(s.ensemble_top5));
        println!(
            "  stage {}: head {:.2}%{head5}  ensemble {:.2}%{ens5}  ({}; {:.0}s)",
            s.stage, s.head_acc, s.ensemble_acc, s.description, s.seconds
        );
    }
    Ok(())
}

/// SIGINT, SIGTERM and SIGHUP (Ctrl-C, Ctrl-Break and closing the console on Windows) ask training to
/// stop after its current step with a checkpoint; a second one stops the process at once (the last
/// checkpoint stays, and every file in the run folder is whole: all are written atomically).
fn stop_on_signals() {
    let handler = || {
        if train::request_stop() {
            eprintln!("second stop signal: stopping now; the run resumes from its last checkpoint");
            std::process::exit(crate::error::EXIT_STOPPED_AT_ONCE);
        }
        eprintln!("stop signal: stopping after the current step with a checkpoint (send another to stop at once)");
    };
    // Fails only if a handler is already set (the library used by another program): then it decides.
    let _ = ctrlc::set_handler(handler);
}

impl TrainArgs {
    /// The config of a new run: the preset or file, then the overrides (the shortcut flags last).
    fn config(&self) -> Result<Config> {
        let base = match (&self.preset, &self.config) {
            (_, Some(path)) => Config::load(path)?,
            (Some(p), None) => Config::preset(p)?,
            (None, None) => Config::preset(DEFAULT_PRESET)?,
        };
        let mut sets = self.sets.clone();
        if let Some(v) = self.val_split {
            sets.push(format!("val_split={v}"));
        }
        if let Some(m) = &self.method {
            sets.push(format!("method=\"{m}\""));
        }
        if !self.devices.is_empty() {
            let list: Vec<String> = self.devices.iter().map(|d| d.to_string()).collect();
            sets.push(format!("dgl.devices=[{}]", list.join(",")));
        }
        base.with_overrides(&sets)
    }
}

fn bench_command(what: BenchCommand, gpu: &GpuArgs, quiet: bool) -> Result<()> {
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
        BenchCommand::Train { presets, quick, batch, steps, warmup, json, compare_pytorch } => {
            let gpu = Gpu::new(&gpu.options()?)?;
            let mut opts = if quick { TrainBenchOptions::quick() } else { TrainBenchOptions::default() };
            if !presets.is_empty() {
                opts.presets = presets;
            }
            opts.batch = batch.unwrap_or(opts.batch);
            opts.steps = steps.unwrap_or(opts.steps);
            opts.warmup = warmup.unwrap_or(opts.warmup);
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

/// `layerwise presets [NAME]`: the list, or one preset's TOML and cost per stage.
fn presets_command(name: Option<&str>) -> Result<()> {
    print!("{}", name.map_or_else(crate::presets::list, crate::presets::show)?);
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

fn pack_command(a: PackArgs, quiet: bool) -> Result<()> {
    use crate::data::stream::{default_index_cache, pack, ImageList, ListOptions, PackEncoding, PackOptions};
    let list_opts = ListOptions { split: a.split, labels: a.labels, classes: None, index_cache: default_index_cache() };
    let list = ImageList::open(&a.inputs, &list_opts)?;
    let encoding = a.jpeg.map_or(PackEncoding::Raw, |quality| PackEncoding::Jpeg { quality });
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let opts = PackOptions { short_side: a.short_side, encoding, workers, progress: !quiet };
    let s = pack(&list, &a.out, &opts)?;
    println!(
        "{}: {} images, {} classes, {:.2} GB in {:.0} s",
        a.out.display(),
        s.images,
        list.classes.len(),
        s.bytes as f64 / 1e9,
        s.seconds
    );
    Ok(())
}

fn devices(args: &GpuArgs, check: bool, json: bool) -> Result<()> {
    // The same list, in the same order, that `--adapter N` indexes for this backend choice.
    let backend = args.options()?.backend;
    let list = list_adapters(backend);
    if json {
        println!("{}", serde_json::to_string_pretty(&list).expect("serialisable"));
    } else if list.is_empty() {
        return Err(Error::NoAdapter(String::new()));
    } else {
        for a in &list {
            println!("{}", a.describe());
        }
    }
    if check {
        for a in &list {
            let mut o = args.options()?;
            o.backend = BackendChoice::parse(&a.backend)?;
            o.adapter = Some(list_adapters(o.backend).iter().position(|b| b.name == a.name).unwrap_or(0));
            let gpu = Gpu::new(&o)?;
            // Kernels the adapter cannot run (subgroup variants on adapters without subgroups) are never
            // chosen there; only the rest must compile.
            let all = crate::ops::all_kernels();
            let usable: Vec<_> = all.iter().copied().filter(|k| k.runs_on(&gpu.summary)).collect();
            match gpu.prepare(&usable) {
                Ok(()) => println!(
                    "[{}] {}: all {} kernels it can use compile ({} need subgroups it lacks)",
                    a.index,
                    a.name,
                    usable.len(),
                    all.len() - usable.len()
                ),
                Err(e) => println!("[{}] {}: {e}", a.index, a.name),
            }
        }
    }
    Ok(())
}
