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
    /// Top-5 validation accuracy (%) of every head 0..=stage and of the ensemble, for datasets of more
    /// than 5 classes (on fewer it is always 100%).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub val_top5: Vec<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble_top5: Option<f64>,
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
    /// Streamed data: seconds of the epoch's training the trainer waited for the input pipeline's
    /// batches (the device idle for want of data); absent for data held in memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_wait: Option<f64>,
}

impl EpochRecord {
    /// The top-5 columns are empty for datasets of 5 classes or fewer, `data_wait` for data in memory.
    pub const CSV_HEADER: &'static str =
        "method,stage,epoch,lr,train_loss,train_acc,val_acc_last,ensemble_acc,img_per_s,\
                                          seconds,elapsed,val_acc_all,val_top5_last,ensemble_top5,data_wait";

    /// The accuracy of this stage's own head.
    pub fn head_acc(&self) -> f64 {
        self.val_acc.last().copied().unwrap_or(f64::NAN)
    }

    /// The top-5 accuracy of this stage's own head, when recorded.
    pub fn head_top5(&self) -> Option<f64> {
        self.val_top5.last().copied()
    }

    /// Set the validation accuracies from an evaluation of heads 0..=stage.
    pub fn with_accuracy(self, acc: Accuracy) -> EpochRecord {
        EpochRecord {
            val_acc: acc.top1,
            ensemble_acc: acc.ensemble_top1,
            val_top5: acc.top5.unwrap_or_default(),
            ensemble_top5: acc.ensemble_top5,
            ..self
        }
    }

    pub fn csv_row(&self) -> String {
        let all: Vec<String> = self.val_acc.iter().map(|a| format!("{a:.2}")).collect();
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.2}"));
        format!(
            "{},{},{},{},{:.6},{:.2},{:.2},{:.2},{:.1},{:.2},{:.2},{},{},{},{}",
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
            all.join(";"),
            opt(self.head_top5()),
            opt(self.ensemble_top5),
            opt(self.data_wait)
        )
    }
}

/// Validation accuracy (%) of some heads, in stage order, and of their ensemble: top 1, and top 5 for
/// datasets of more than 5 classes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Accuracy {
    pub top1: Vec<f64>,
    pub ensemble_top1: f64,
    pub top5: Option<Vec<f64>>,
    pub ensemble_top5: Option<f64>,
}

impl Accuracy {
    /// Whether top 5 says anything about `classes` classes: on 5 or fewer it is always 100%.
    pub fn top5_meaningful(classes: usize) -> bool {
        classes > crate::ops::count_correct::TOP_K
    }

    /// The heads' accuracies after `frozen` (earlier heads' accuracies measured before, top 1 and
    /// top 5) in stage order.
    pub fn after(self, frozen: &Accuracy) -> Accuracy {
        let top5 = match (&frozen.top5, self.top5) {
            (Some(f), Some(s)) => Some(f.iter().copied().chain(s).collect()),
            _ => None,
        };
        Accuracy { top1: frozen.top1.iter().copied().chain(self.top1).collect(), top5, ..self }
    }

    /// An evaluation of `heads` heads followed by the ensembles of heads 0..=j for every j (its last
    /// count as the ensemble), as (the heads, the ensembles), each in `top1` and `top5`.
    pub fn split_heads(self, heads: usize) -> (Accuracy, Accuracy) {
        let split = |mut all: Vec<f64>, last: f64| {
            all.push(last);
            let ensembles = all.split_off(heads);
            (all, ensembles)
        };
        let (heads1, ensembles1) = split(self.top1, self.ensemble_top1);
        let (heads5, ensembles5) = match (self.top5, self.ensemble_top5) {
            (Some(t), Some(e)) => {
                let (h, e) = split(t, e);
                (Some(h), Some(e))
            }
            _ => (None, None),
        };
        let heads = Accuracy { top1: heads1, top5: heads5, ..Default::default() };
        (heads, Accuracy { top1: ensembles1, top5: ensembles5, ..Default::default() })
    }

    /// " (top-5 X%)" after a top-1 number, when there is a top-5 one.
    pub fn top5_note(top5: Option<f64>) -> String {
        top5.map_or(String::new(), |a| format!(" (top-5 {a:.2}%)"))
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
    /// Their top-5 accuracy (%), for datasets of more than 5 classes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_top5: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble_top5: Option<f64>,
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
