//! The `[dgl]` table: decoupled greedy learning's replay buffers, slowdowns and asynchronous schedule.

use serde::{Deserialize, Serialize};

use super::*;

/// dgl-async: which stages run at each tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AsyncOrder {
    /// One stage per tick, drawn at random (weight 1 - its slowdown), after an in-order warm-up: the
    /// authors' buffer experiment (DGL buffer_experiments/cifar_buffer.py).
    #[default]
    Random,
    /// Every stage at every tick, in stage order, each skipping it with its slowdown probability:
    /// concurrent workers, one tick a unit of wall-clock time.
    Lockstep,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DglConfig {
    /// dgl-async: which stages run at each tick.
    #[serde(default)]
    pub order: AsyncOrder,
    /// Replay-buffer capacity between consecutive stages, in batches (a ring of the most recent ones).
    #[serde(default = "thirty")]
    pub buffer_size: usize,
    /// Times one buffered batch may be read (0 = unlimited). The reference's `--max-buffer-reuse R`
    /// allows R - 1 reads (its use counts start at 1), i.e. `max_reuse = R - 1`.
    #[serde(default)]
    pub max_reuse: usize,
    /// Per-stage slowdown p: stage j runs (1-p) times as often as the others, a slowdown of 1/(1-p)
    /// (random order: drawn with weight 1-p, as the reference's `--noise p --layer_noise j`; lockstep:
    /// skips each tick with probability p); empty = none.
    #[serde(default)]
    pub slowdown: Vec<f64>,
    /// Adapter indices (as `layerwise devices` lists them) to place stages on: stage j runs on
    /// `devices[j % len]`, each entry its own logical device (an index listed twice opens the adapter
    /// twice); empty = every stage on the run's one device.
    #[serde(default)]
    pub devices: Vec<usize>,
}

impl Default for DglConfig {
    fn default() -> Self {
        DglConfig {
            order: AsyncOrder::default(),
            buffer_size: thirty(),
            max_reuse: 0,
            slowdown: Vec::new(),
            devices: Vec::new(),
        }
    }
}

impl DglConfig {
    /// The DGL values for a network of `stages` stages.
    pub(super) fn check(&self, stages: usize) -> std::result::Result<(), String> {
        if self.buffer_size == 0 {
            return Err("dgl.buffer_size must be at least 1".into());
        }
        if self.slowdown.iter().any(|p| !(0.0..1.0).contains(p)) {
            return Err("dgl.slowdown probabilities must be in [0, 1)".into());
        }
        if self.slowdown.len() > stages {
            return Err(format!("dgl.slowdown has {} entries but there are {stages} stages", self.slowdown.len()));
        }
        Ok(())
    }
}
