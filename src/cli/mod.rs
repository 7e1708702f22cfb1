//! The command line. Every failure becomes a message and an exit code (2: usage, 1: runtime, 3: stopped
//! by a signal after writing a checkpoint, 130: stopped at once by a second signal), never a panic
//! trace.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, DEFAULT_PRESET};
use crate::error::{Error, Result};
use crate::gpu::{list_adapters, BackendChoice, Gpu, GpuOptions};
use crate::metrics::Accuracy;
use crate::train::{self, TrainOptions};

mod bench;
mod data;
use bench::bench_command;
pub use bench::{BenchCommand, DataBenchArgs};
use data::pack_command;
pub use data::{DataCommand, PackArgs};

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
    /// Train on these adapters, e.g. 0,1 (same as --set devices=[0,1]): greedy and e2e split each
    /// batch over them (data parallel); DGL places stage j on the (j mod n)-th.
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
            sets.push(format!("devices=[{}]", list.join(",")));
        }
        base.with_overrides(&sets)
    }
}

/// `layerwise presets [NAME]`: the list, or one preset's TOML and cost per stage.
fn presets_command(name: Option<&str>) -> Result<()> {
    print!("{}", name.map_or_else(crate::presets::list, crate::presets::show)?);
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
