//! What a run records: one `EpochRecord` per (stage, epoch) in `metrics.jsonl` and `metrics.csv`, and one
//! `StageSummary` per finished stage in `summary.json`. The report and `layerwise viz` read these files.

use serde::{Deserialize, Serialize};

/// One epoch of one stage (for DGL, `stage` is the stage whose head the numbers describe).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Training method: "greedy", "e2e", "dgl" or "dgl-async".
    pub method: String,
    pub stage: usize,
    /// 1-based epoch within the stage.
    pub epoch: usize,
    /// Learning rate used during this epoch.
    pub lr: f64,
    /// Mean training loss and accuracy (%) over the epoch's batches (augmented inputs).
    pub train_loss: f64,
    pub train_acc: f64,
    /// Validation accuracy (%) of every head 0..=stage, in stage order.
    pub val_acc: Vec<f64>,
    /// Accuracy (%) of the 2^j-weighted ensemble of heads 0..=stage.
    pub ensemble_acc: f64,
    pub img_per_s: f64,
    /// Wall time of this epoch and since the run started (seconds).
    pub seconds: f64,
    pub elapsed: f64,
    /// Greedy with `keep_best`: the stage's best validation epoch so far (1-based), the one it is frozen
    /// at if no later epoch beats it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_epoch: Option<usize>,
    /// dgl-async: the stage's own completed epochs (it trains `epochs` of them, on its own clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_epochs: Option<usize>,
    /// dgl-async: mean age, in ticks, of the replay-buffer batches the stage read during this record's
    /// span (stage 0 reads fresh images: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_age: Option<f64>,
}

impl EpochRecord {
    pub const CSV_HEADER: &'static str =
        "method,stage,epoch,lr,train_loss,train_acc,val_acc_last,ensemble_acc,img_per_s,seconds,elapsed,val_acc_all";

    /// The accuracy of this stage's own head.
    pub fn head_acc(&self) -> f64 {
        self.val_acc.last().copied().unwrap_or(f64::NAN)
    }

    pub fn csv_row(&self) -> String {
        let all: Vec<String> = self.val_acc.iter().map(|a| format!("{a:.2}")).collect();
        format!(
            "{},{},{},{},{:.6},{:.2},{:.2},{:.2},{:.1},{:.2},{:.2},{}",
            self.method,
            self.stage,
            self.epoch,
            self.lr,
            self.train_loss,
            self.train_acc,
            self.head_acc(),
            self.ensemble_acc,
            self.img_per_s,
            self.seconds,
            self.elapsed,
            all.join(";")
        )
    }
}

/// A finished stage, as the summary table of the report shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageSummary {
    pub stage: usize,
    /// Short description, e.g. "s2d, conv3x3 16->32, bn, relu @14x14".
    pub description: String,
    /// Trainable parameters of the stage and of its auxiliary head.
    pub stage_params: usize,
    pub head_params: usize,
    /// Forward multiply-adds x2 per image of the stage and of its head.
    pub stage_flops: u64,
    pub head_flops: u64,
    /// Final validation accuracy (%) of this stage's head and of the ensemble up to it.
    pub head_acc: f64,
    pub ensemble_acc: f64,
    pub seconds: f64,
    pub img_per_s: f64,
    /// Peak GPU memory held while training this stage (MiB).
    pub peak_mib: f64,
    /// Greedy with `keep_best`: the epoch (1-based) the stage was frozen at, its best on validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_epoch: Option<usize>,
    /// dgl-async: mean age, in ticks, of the replay-buffer batches the stage read over the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_age: Option<f64>,
}
