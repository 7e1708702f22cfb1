//! What the study report shows of one finished run: its final accuracy, time and size from the run
//! folder, and the linear separability of every stage's features, computed from its checkpoint the way
//! `layerwise viz` computes it (each stage's output averaged to 2x2 on ~1000 validation images, then the
//! leave-one-out nearest-class-mean accuracy and the variance the top two principal components hold).
//! Training itself does nothing extra. The numbers are kept in the run folder beside the checkpoint
//! they were measured on (its md5), so a later report reads them instead of measuring again, and a
//! different checkpoint is never described by them.

use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::fsutil::atomic_write;
use crate::gpu::GpuOptions;
use crate::train::{report, RunDir, TrainedRun};
use crate::viz::{nearest_class_mean_accuracy, pca_2d};

/// The measurements' file in a run folder.
pub const MEASURES_FILE: &str = "study-measures.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageMeasure {
    pub stage: usize,
    /// Final validation accuracy (%) of the stage's own head, where the method trains one (e2e trains
    /// only the last).
    pub head_acc: Option<f64>,
    /// Nearest-class-mean accuracy (%) of the stage's 2x2-pooled features: how linearly separable the
    /// classes are at this depth.
    pub separability: f64,
    /// Share of the pooled features' variance held by their top two principal components.
    pub explained: f64,
    /// Floats per image of the pooled features (4 x channels).
    pub dim: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measures {
    /// md5 of the checkpoint these numbers describe.
    pub checkpoint_md5: String,
    pub stages: usize,
    /// Parameters of the network kept for inference: every stage and the last head.
    pub params: u64,
    /// Wall time of the run, resumes included (the checkpoint's count).
    pub seconds: f64,
    /// Final validation accuracy (%) of the last head, and of the ensemble of all heads.
    pub head_acc: f64,
    pub ensemble_acc: f64,
    pub per_stage: Vec<StageMeasure>,
}

fn checkpoint_md5(dir: &Path) -> Result<String> {
    let path = RunDir { path: dir.to_path_buf() }.checkpoint_path();
    let bytes = std::fs::read(&path).at(&path)?;
    Ok(Md5::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

fn measures_path(dir: &Path) -> PathBuf {
    dir.join(MEASURES_FILE)
}

impl Measures {
    /// The measurements kept in `dir`, if they describe its checkpoint as it is now (a missing,
    /// unreadable or stale file is None: measure again).
    pub fn read_valid(dir: &Path) -> Result<Option<Measures>> {
        let text = match std::fs::read_to_string(measures_path(dir)) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(measures_path(dir), e)),
        };
        let Ok(m) = serde_json::from_str::<Measures>(&text) else { return Ok(None) };
        Ok((m.checkpoint_md5 == checkpoint_md5(dir)?).then_some(m))
    }

    /// Measure the run in `dir` and keep the numbers there; None when its training has not finished.
    pub fn measure(dir: &Path, data_dir: Option<&Path>, gpu: &GpuOptions) -> Result<Option<Measures>> {
        let md5 = checkpoint_md5(dir)?;
        let run = TrainedRun::open_with_data_dir(dir, data_dir, gpu)?;
        let stages = run.model.stages.len();
        if run.progress.stage < stages {
            return Ok(None);
        }
        let input = report::report_input(&run.gpu, &run.cfg, &run.model, &run.data.val, stages - 1, &[], &[])?;
        let summaries = run.dir.read_summaries()?;
        let last = summaries.iter().max_by_key(|s| s.stage).ok_or_else(|| {
            Error::data(run.dir.summary_path(), "a finished run without stage summaries cannot be reported")
        })?;
        let labels = &input.pooled_labels;
        let per_stage = input
            .pooled
            .iter()
            .map(|(stage, x, d)| StageMeasure {
                stage: *stage,
                head_acc: summaries.iter().find(|s| s.stage == *stage).map(|s| s.head_acc),
                separability: nearest_class_mean_accuracy(x, *d, labels),
                explained: pca_2d(x, labels.len(), *d).explained(),
                dim: *d,
            })
            .collect();
        let spec = &run.model.spec;
        let params = spec.stages.iter().chain(spec.heads.last()).map(|b| b.param_count() as u64).sum();
        let m = Measures {
            checkpoint_md5: md5,
            stages,
            params,
            seconds: run.progress.elapsed,
            head_acc: last.head_acc,
            ensemble_acc: last.ensemble_acc,
            per_stage,
        };
        let text = serde_json::to_string_pretty(&m).expect("measures serialise");
        atomic_write(&measures_path(dir), text.as_bytes())?;
        Ok(Some(m))
    }
}
