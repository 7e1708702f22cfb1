//! The PyTorch reference numbers (assets/bench/pytorch-h100.json), built into the binary so a comparison
//! works from any directory. The file is a `KernelBenchReport` (the cuBLAS GEMM peaks) plus a `training`
//! table of per-stage training throughput; its "source" field documents both.

use serde::{Deserialize, Serialize};

use super::kernels::KernelBenchReport;
use crate::error::{Error, Result};

pub const PYTORCH_H100_JSON: &str = include_str!("../../assets/bench/pytorch-h100.json");

/// Per-stage training throughput of one configuration at a fixed batch size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingBaseline {
    pub batch: usize,
    pub unit: String,
    pub runs: Vec<TrainingRun>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRun {
    /// Preset name, e.g. "paper1-cifar-k1".
    pub preset: String,
    /// Arithmetic, e.g. "fp32 (TF32 off)", "tf32", "bf16 autocast, channels_last".
    pub precision: String,
    /// Training images/s while stage i+1 trains (frozen prefix forward + stage + head + SGD).
    pub img_per_s: Vec<f64>,
    /// Wall time of the whole greedy run.
    pub total_seconds: f64,
    pub epochs_per_stage: usize,
}

#[derive(Deserialize)]
struct TrainingPart {
    training: TrainingBaseline,
}

/// The PyTorch H100 baseline: GEMM peaks as a kernel report, and the training-throughput table.
pub fn pytorch_h100() -> Result<(KernelBenchReport, TrainingBaseline)> {
    let bad = |e: serde_json::Error| Error::data("assets/bench/pytorch-h100.json", format!("malformed baseline: {e}"));
    let kernels = serde_json::from_str(PYTORCH_H100_JSON).map_err(bad)?;
    let TrainingPart { training } = serde_json::from_str(PYTORCH_H100_JSON).map_err(bad)?;
    Ok((kernels, training))
}
