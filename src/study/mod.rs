//! `layerwise study FILE`: a grid of runs (a base config, axes of config values or named variants,
//! seeds, exclusions), each cell trained into its own run folder through `train::train`, one after
//! another, and one report over all of them: a table of final accuracy per config (mean ± std over
//! seeds, time, parameters), accuracy against the axis the file names, and each stage's linear
//! separability and head accuracy against depth.
//!
//! - `spec.rs`: the study file; `grid.rs`: its cells and their configs; `status.rs`: where a cell
//!   stands, read from its run folder (the study keeps no state of its own); `measure.rs`: a finished
//!   run's numbers, separability from its checkpoint; `results.rs`: the numbers over seeds;
//!   `report.rs` + `page.rs`: results.json, the charts and report.html.
//!
//! Rerunning a study skips finished cells, resumes interrupted ones from their checkpoints (the
//! trainer's exact resume) and starts the rest. A run folder whose saved config differs from its
//! cell's is refused before anything trains. A cell that fails is recorded in its run folder and the
//! study goes on; the command then exits with an error naming the failed cells.

mod grid;
mod measure;
mod page;
mod report;
mod results;
mod spec;
mod status;

use std::path::{Path, PathBuf};

use clap::Args;

pub use grid::{Cell, Grid};
pub use measure::{Measures, StageMeasure, MEASURES_FILE};
pub use report::{REPORT_HTML, RESULTS_JSON};
pub use results::{Results, Stat};
pub use spec::{Axis, Base, Choice, Study};
pub use status::{differences, CellStatus, Difference, State, FAILURE_FILE};

use crate::error::{Error, Result};
use crate::gpu::GpuOptions;
use crate::train::{self, TrainOptions};

#[derive(Args, Debug)]
pub struct StudyArgs {
    /// The study file (TOML: base, axes, seeds, exclusions; see the README's Studies section).
    pub file: PathBuf,
    /// Study folder: the report and runs/<cell>/ (default: studies/<study name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// List the cells, what each changes in the base config and where each stands; train nothing.
    #[arg(long, conflicts_with = "report_only")]
    pub dry_run: bool,
    /// Redraw the report from what the run folders hold; train nothing.
    #[arg(long)]
    pub report_only: bool,
    /// Dataset location (file or folder) [env: LAYERWISE_DATA].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Also write every run's own report (filters, feature maps, curves) after each of its stages.
    #[arg(long)]
    pub run_reports: bool,
}

/// How a study runs, beside its grid.
#[derive(Debug, Clone)]
pub struct StudyOptions {
    /// The study folder.
    pub dir: PathBuf,
    pub data_dir: Option<PathBuf>,
    pub gpu: GpuOptions,
    pub quiet: bool,
    pub run_reports: bool,
}

/// `layerwise study`: dispatch on the flags.
pub fn command(a: &StudyArgs, gpu: GpuOptions, quiet: bool) -> Result<()> {
    let grid = Grid::new(Study::load(&a.file)?)?;
    let dir = a.out.clone().unwrap_or_else(|| Path::new("studies").join(&grid.study.name));
    let data_dir = a.data.clone().or_else(|| std::env::var_os("LAYERWISE_DATA").map(PathBuf::from));
    let opts = StudyOptions { dir, data_dir, gpu, quiet, run_reports: a.run_reports };
    if a.dry_run {
        print!("{}", dry_run(&grid, &opts.dir)?);
        return Ok(());
    }
    let done = if a.report_only { report_only(&grid, &opts)? } else { run(&grid, &opts)? };
    println!("\n{}", summary(&Results::collect(&grid, &done.statuses)));
    println!("report: {}", done.report.display());
    Ok(())
}

/// Where a study stands after `run` or `report_only`.
#[derive(Debug)]
pub struct Outcome {
    /// report.html
    pub report: PathBuf,
    /// Every cell's status, in grid order.
    pub statuses: Vec<CellStatus>,
}

/// Every cell's status, in grid order.
pub fn statuses(grid: &Grid, dir: &Path) -> Result<Vec<CellStatus>> {
    grid.cells.iter().map(|c| CellStatus::read(&Grid::run_dir(dir, c), c)).collect()
}

/// Refuse to train while any run folder holds a config other than its cell's: its results would be
/// reported as the cell's, or training would continue a run the study no longer describes.
fn refuse_changed(grid: &Grid, statuses: &[CellStatus]) -> Result<()> {
    let mut lines = Vec::new();
    for s in statuses {
        if let State::Changed(d) = &s.state {
            let keys: Vec<String> = d.iter().map(|x| format!("    {x}")).collect();
            lines.push(format!("  {}:\n{}", s.dir.display(), keys.join("\n")));
        }
    }
    if lines.is_empty() {
        return Ok(());
    }
    Err(Error::usage(format!(
        "study {}: {} run folder(s) hold a config other than the study file now gives their cell:\n{}\nRestore the \
         study file, or move those run folders away to train the cells again; nothing was trained.",
        grid.study.name,
        lines.len(),
        lines.join("\n")
    )))
}

/// Train every cell that has not finished, in order, redrawing the report after each. A failed cell is
/// recorded in its run folder and the others still run; the result is then an error naming them.
pub fn run(grid: &Grid, opts: &StudyOptions) -> Result<Outcome> {
    let mut statuses = statuses(grid, &opts.dir)?;
    refuse_changed(grid, &statuses)?;
    let n = grid.cells.len();
    let mut failed = Vec::new();
    for (i, cell) in grid.cells.iter().enumerate() {
        if matches!(statuses[i].state, State::Done(_)) {
            continue;
        }
        let dir = Grid::run_dir(&opts.dir, cell);
        if !opts.quiet {
            println!("[{}/{n}] {}: {}", i + 1, cell.name, statuses[i].describe());
        }
        match run_cell(cell, &statuses[i], &dir, opts) {
            Ok(()) => status::clear_failure(&dir)?,
            Err(e @ Error::NoAdapter(_)) => return Err(e),
            Err(e) => {
                eprintln!("[{}/{n}] {} failed: {e}", i + 1, cell.name);
                status::record_failure(&dir, &e.to_string())?;
                failed.push(cell.name.clone());
            }
        }
        statuses[i] = CellStatus::read(&dir, cell)?;
        if !opts.quiet {
            println!("[{}/{n}] {}: {}", i + 1, cell.name, statuses[i].describe());
        }
        report::write(&opts.dir, grid, &statuses)?;
    }
    let report = report::write(&opts.dir, grid, &statuses)?;
    if !failed.is_empty() {
        return Err(Error::data(
            &opts.dir,
            format!(
                "{} of {n} cells failed (each error is kept in runs/<cell>/{FAILURE_FILE}; rerun the study to retry \
                 them): {}",
                failed.len(),
                failed.join(" ")
            ),
        ));
    }
    Ok(Outcome { report, statuses })
}

/// Train one cell to its end (new, or resumed from its checkpoint) and measure it.
fn run_cell(cell: &Cell, status: &CellStatus, dir: &Path, opts: &StudyOptions) -> Result<()> {
    let resume = matches!(status.state, State::Started(_));
    let train_opts = TrainOptions {
        out: dir.to_path_buf(),
        resume,
        data_dir: opts.data_dir.clone(),
        gpu: opts.gpu.clone(),
        quiet: opts.quiet,
        report: opts.run_reports,
        resume_sets: Vec::new(),
        force_data: false,
    };
    train::train(cell.config.clone(), &train_opts)?;
    match Measures::measure(dir, opts.data_dir.as_deref(), &opts.gpu)? {
        Some(_) => Ok(()),
        None => Err(Error::data(dir, "training returned, but the checkpoint does not show the run finished")),
    }
}

/// Redraw the report from the run folders, measuring finished runs not measured yet; trains nothing.
pub fn report_only(grid: &Grid, opts: &StudyOptions) -> Result<Outcome> {
    let mut statuses = statuses(grid, &opts.dir)?;
    for (cell, s) in grid.cells.iter().zip(statuses.iter_mut()) {
        if let State::Started(Some(_)) = s.state {
            if Measures::measure(&s.dir, opts.data_dir.as_deref(), &opts.gpu)?.is_some() {
                *s = CellStatus::read(&s.dir, cell)?;
            }
        }
    }
    let changed = statuses.iter().filter(|s| matches!(s.state, State::Changed(_))).count();
    if changed > 0 {
        eprintln!(
            "warning: {changed} run folder(s) hold a config other than their cell's (see --dry-run): the report leaves \
             them out"
        );
    }
    let report = report::write(&opts.dir, grid, &statuses)?;
    Ok(Outcome { report, statuses })
}

/// The cells in training order, what each sets on top of the base config (with the study's common
/// overrides), and where each stands.
pub fn dry_run(grid: &Grid, dir: &Path) -> Result<String> {
    let study = &grid.study;
    let statuses = statuses(grid, dir)?;
    let configs = grid.cells.iter().map(|c| &c.choices).collect::<std::collections::BTreeSet<_>>().len();
    let mut out = format!(
        "study {} ({}): {} cells ({configs} configs x {} seed(s), {} left out by [[exclude]]), in {}\n",
        study.name,
        study.path.display(),
        grid.cells.len(),
        study.seeds.len().max(1),
        grid.excluded,
        dir.display()
    );
    let base = study.base.load()?.with_overrides(&study.sets)?;
    let sets =
        if study.sets.is_empty() { "no overrides".into() } else { format!("--set {}", study.sets.join(" --set ")) };
    out += &format!("base: {}, {sets}; each cell sets:\n", study.base);
    for (i, (c, s)) in grid.cells.iter().zip(&statuses).enumerate() {
        out += &format!("[{}/{}] {}: {}\n", i + 1, grid.cells.len(), c.name, s.describe());
        for d in differences(&base, &c.config).iter().filter(|d| d.key != "name") {
            out += &format!("    {} = {}\n", d.key, d.now);
        }
        if let State::Changed(diffs) = &s.state {
            for d in diffs {
                out += &format!("    changed: {d}\n");
            }
        }
    }
    let others = orphans(grid, dir);
    if !others.is_empty() {
        out += &format!("run folders of no cell (ignored): {}\n", others.join(" "));
    }
    Ok(out)
}

/// Folders under runs/ that no cell of the grid names (left by an earlier version of the study file).
fn orphans(grid: &Grid, dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join("runs")) else { return Vec::new() };
    let mut out: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !grid.cells.iter().any(|c| &c.name == n))
        .collect();
    out.sort();
    out
}

/// One line per config: its values and final accuracy over seeds.
fn summary(results: &Results) -> String {
    let mut out = format!("study {}: final accuracy of the last head, mean ± std over seeds:\n", results.study);
    for c in &results.configs {
        let values: Vec<String> = c.values.iter().map(|v| format!("{}={}", v.axis, v.value)).collect();
        let acc = c.head_acc.as_ref().map_or("-".to_string(), |s| format!("{}%", s.show(2)));
        out += &format!("  {:<48} {acc} ({} of {} seeds)\n", values.join(", "), c.done, c.cells.len());
    }
    out
}
