//! `layerwise train`: run folders, the epoch loop shared by every method, evaluation, metrics,
//! checkpoints and resume. The algorithms themselves read top to bottom in `greedy.rs` (greedy,
//! end-to-end) and `dgl/` (decoupled greedy learning, its async schedule in `replay.rs`).
//!
//! - `run.rs`: a run while it trains (open or resume, record, checkpoint, summarise, report);
//!   `epoch.rs`: the epoch loop every method drives; `state.rs`: where a run stands (what a checkpoint
//!   saves besides the weights).
//! - `plans.rs`: the recorded steps and their `StepContext`; `prefix_cache.rs`: greedy's frozen-prefix
//!   caches; `best.rs`: a stage kept at its best epoch (`keep_best`); `feed.rs`: batches to the device.
//! - `split.rs`: the training and validation data; `source.rs`: a split in memory or streamed from
//!   files, read an epoch at a time in batches; `rundir.rs`: the run folder; `trained.rs`: a
//!   finished run opened for `eval` and `viz`; `report.rs`: what the report shows.
//! - `parallel.rs`: greedy and e2e data parallel over several devices (`devices`).
//! - `resume.rs`: a run continued from its folder; `fits.rs`: whether a run fits its device, before
//!   its folder exists; `stop.rs`: a graceful stop on request (signals).

mod accumulate;
mod best;
mod dgl;
mod display;
mod epoch;
pub mod feed;
mod fits;
mod greedy;
pub mod memory;
mod parallel;
pub mod plans;
pub mod prefix_cache;
pub mod replay;
pub mod report;
mod resume;
mod run;
mod rundir;
pub mod source;
mod split;
pub mod state;
mod stop;
mod trained;

use std::path::PathBuf;

pub use dgl::{device_options, train_dgl};
pub use greedy::{train_e2e, train_greedy};
pub use resume::RESUME_SETTABLE;
pub use run::Run;
pub use rundir::RunDir;
pub use split::{load_data, Data, VAL_SPLIT_SEED};
pub use stop::{request_stop, stop_requested};
pub use trained::{eval_run, viz_run, TrainedRun};

use crate::config::{Config, Method};
use crate::error::Result;
use crate::gpu::GpuOptions;
use crate::metrics::StageSummary;

/// How `train` runs, beside the config itself.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub out: PathBuf,
    /// Continue the run in `out` from its checkpoint.
    pub resume: bool,
    pub data_dir: Option<PathBuf>,
    pub gpu: GpuOptions,
    pub quiet: bool,
    /// Write the report (filters, feature maps, curves) at the end of every stage.
    pub report: bool,
    /// With `resume`: `key=value` overrides of the saved config, among `RESUME_SETTABLE`.
    pub resume_sets: Vec<String>,
    /// With `resume`: continue on data that differs from what the run recorded.
    pub force_data: bool,
}

/// Train as the config says; returns the per-stage summaries.
pub fn train(cfg: Config, opts: &TrainOptions) -> Result<Vec<StageSummary>> {
    let mut run = Run::open(cfg, opts)?;
    match run.cfg.method {
        Method::Greedy => train_greedy(&mut run)?,
        Method::E2e => train_e2e(&mut run)?,
        Method::Dgl | Method::DglAsync => train_dgl(&mut run)?,
    }
    Ok(run.summaries)
}
