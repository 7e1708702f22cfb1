//! Where a run stands: what a checkpoint saves besides the tensors, enough to continue exactly where
//! training stopped. A leaf module (it uses nothing else of the trainer), so that `checkpoint` and the
//! training loops share these types without depending on each other.

use serde::{Deserialize, Serialize};

use crate::config::Method;

/// Where training stands. Greedy: `stage` is the stage in training and `epoch` counts its epochs;
/// e2e and DGL train every stage at once, so `epoch` counts the run's epochs and `stage` only says
/// whether the run has finished (it then equals the number of stages).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub method: String,
    /// Stage being trained (greedy); equals the number of stages when training is complete.
    pub stage: usize,
    /// Epochs completed within the stage (or the run for e2e/DGL).
    pub epoch: usize,
    /// Steps completed within the current epoch (non-zero only for mid-epoch checkpoints).
    pub step: usize,
    /// Greedy and e2e: the current epoch's running sums so far (mean-loss sum, correct count, batches).
    /// DGL keeps one per stage in `dgl` instead.
    pub loss_sum: f64,
    pub correct: f64,
    pub batches: usize,
    /// Seconds spent in the current epoch before this checkpoint.
    pub epoch_seconds: f64,
    /// Streamed data: seconds of them the steps waited for the input pipeline's batches.
    #[serde(default)]
    pub epoch_data_wait: f64,
    /// Data-parallel greedy and e2e: each device's running (loss sum, correct count) of the current
    /// epoch, device 0 first (they add up to `loss_sum` and `correct`), so that a resumed epoch
    /// continues every device's own sums.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_sums: Vec<[f64; 2]>,
    /// Metric records written so far (metrics files are cut back to this on resume).
    pub records: usize,
    /// Wall time of the run so far, seconds.
    pub elapsed: f64,
    /// DGL only: per-stage running sums and the async schedule (absent for greedy and e2e).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dgl: Option<DglProgress>,
    /// Greedy with `keep_best`: the current stage's best validation epoch so far (its weights are in
    /// the checkpoint as `best.NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best: Option<BestEpoch>,
}

/// A stage's best validation epoch so far.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BestEpoch {
    /// 1-based, as in the metrics.
    pub epoch: usize,
    /// The stage's head's validation accuracy (%) after it.
    pub acc: f64,
}

/// What a DGL checkpoint adds to the progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DglProgress {
    /// Per stage, for the current epoch so far: loss sum, correct count, batches trained.
    pub loss_sum: Vec<f64>,
    pub correct: Vec<f64>,
    pub batches: Vec<usize>,
    /// dgl-async: where the schedule stands (None: not started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleState>,
    /// dgl-async: the replay buffers' contents are not saved.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub buffers: String,
}

/// Where the schedule stands: everything a checkpoint needs to continue it (the buffers'
/// contents are not saved: a resumed schedule starts them empty and, in random order, warms up again).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    pub tick: u64,
    pub rng: u64,
    /// Steps each stage has run (training, then forward only once it has trained its epochs).
    pub runs: Vec<u64>,
    /// The last of its own epochs whose start each stage has handled.
    pub epoch: Vec<usize>,
    /// An epoch start handled but not yet applied (the stage has not run since).
    pub pending: Vec<Option<usize>>,
    /// Random order: the position in the warm-up sequence 0, 0, 1, 1, ...; None when not warming up.
    pub warmup: Option<usize>,
    /// Per stage: summed age (ticks) of the buffered batches it read, and how many, over the run; and
    /// the same at the last `mark`.
    pub age_sum: Vec<u64>,
    pub age_count: Vec<u64>,
    pub marked_sum: Vec<u64>,
    pub marked_count: Vec<u64>,
}

/// The running sums of the current epoch, one entry per stage that trains (one for greedy and e2e).
#[derive(Debug, Clone, PartialEq)]
pub struct EpochSums {
    /// Sum of the batch-mean losses.
    pub loss_sum: Vec<f64>,
    /// Correctly classified training images.
    pub correct: Vec<f64>,
    pub batches: Vec<usize>,
}

impl EpochSums {
    pub fn zeros(stages: usize) -> EpochSums {
        EpochSums { loss_sum: vec![0.0; stages], correct: vec![0.0; stages], batches: vec![0; stages] }
    }

    pub fn stages(&self) -> usize {
        self.batches.len()
    }

    /// Mean training loss of stage `j` over its batches so far (0 before its first batch).
    pub fn mean_loss(&self, j: usize) -> f64 {
        self.loss_sum[j] / self.batches[j].max(1) as f64
    }

    /// Training accuracy (%) of stage `j` over its `batches * batch` images so far.
    pub fn accuracy(&self, j: usize, batch: usize) -> f64 {
        100.0 * self.correct[j] / (self.batches[j].max(1) * batch) as f64
    }
}

/// The name a method has in configs, metrics and progress.
pub fn method_name(m: Method) -> &'static str {
    match m {
        Method::Greedy => "greedy",
        Method::E2e => "e2e",
        Method::Dgl => "dgl",
        Method::DglAsync => "dgl-async",
    }
}

impl Progress {
    /// A run that has not started.
    pub fn start(method: Method) -> Progress {
        let dgl = matches!(method, Method::Dgl | Method::DglAsync).then(DglProgress::default);
        Progress { method: method_name(method).to_string(), dgl, ..Default::default() }
    }

    /// Nothing of the current stage (greedy) or run (e2e, DGL) has trained yet: its optimizers start
    /// from zero momentum.
    pub fn fresh(&self) -> bool {
        self.epoch == 0 && self.step == 0
    }

    /// The current epoch's running sums for `stages` stages, as the last checkpoint left them; zeros at
    /// an epoch's start.
    pub fn epoch_sums(&self, stages: usize) -> EpochSums {
        match &self.dgl {
            Some(d) if d.batches.len() == stages => {
                EpochSums { loss_sum: d.loss_sum.clone(), correct: d.correct.clone(), batches: d.batches.clone() }
            }
            Some(_) => EpochSums::zeros(stages),
            None => {
                EpochSums { loss_sum: vec![self.loss_sum], correct: vec![self.correct], batches: vec![self.batches] }
            }
        }
    }

    /// Record a mid-epoch point: `step` steps done with `sums`, after `seconds` of the epoch, `data_wait`
    /// of them waiting for streamed batches.
    pub fn set_epoch_point(&mut self, step: usize, sums: &EpochSums, seconds: f64, data_wait: f64) {
        self.step = step;
        (self.epoch_seconds, self.epoch_data_wait) = (seconds, data_wait);
        match &mut self.dgl {
            Some(d) => {
                (d.loss_sum, d.correct, d.batches) = (sums.loss_sum.clone(), sums.correct.clone(), sums.batches.clone())
            }
            None => (self.loss_sum, self.correct, self.batches) = (sums.loss_sum[0], sums.correct[0], sums.batches[0]),
        }
    }

    /// The epoch is over: no step, running sum or second of it remains to carry over.
    pub fn end_epoch(&mut self) {
        self.device_sums.clear();
        self.set_epoch_point(0, &EpochSums::zeros(if self.dgl.is_some() { 0 } else { 1 }), 0.0, 0.0);
    }
}
