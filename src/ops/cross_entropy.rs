//! Fused softmax cross-entropy: gradient and running loss/accuracy statistics in one dispatch.

use super::row_team;
use crate::error::Result;
use crate::gpu::{Access, DType, KernelSpec, PlanBuilder, Tensor, ELEMENTWISE_WG};

pub static CROSS_ENTROPY: KernelSpec =
    KernelSpec::new("cross_entropy", &[Access::Read, Access::Read, Access::ReadWrite, Access::ReadWrite]);

/// The label that marks a padding row (a partial last batch filled up to the plan's batch size).
pub const IGNORE_LABEL: u32 = u32::MAX;

/// Workgroups writing d_logits. More than this only repeats the per-workgroup label count.
const MAX_ROW_GROUPS: usize = 1024;

/// A batch's mean loss above this many times ln K (the loss of a uniform guess over K classes) counts
/// as divergence. At 1000 ln K the right class gets, on average, a probability below K^-1000: only
/// weights that have blown up produce that (a diverging run's loss goes on to 1e20 and beyond, while a
/// healthy one stays within a few times ln K, early spikes included), and no update from there is
/// worth keeping.
pub const DIVERGED_LOSS_FACTOR: f64 = 1000.0;

/// The mean loss above which a batch of `k`-class logits has diverged.
pub fn loss_limit(k: usize) -> f32 {
    (DIVERGED_LOSS_FACTOR * (k.max(2) as f64).ln()) as f32
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    k: u32,
    team: u32,
    row_groups: u32,
    max_loss: f32,
    _pad: [u32; 3],
}

/// logits: [N, K] f32, labels: [N] u32 (`IGNORE_LABEL` rows, and labels >= K, are ignored: excluded
/// from the mean, zero gradient), d_logits: [N, K] = (softmax - onehot) / n_valid, stats: [3] f32
/// with stats[0] += mean loss over valid rows, stats[1] += valid rows whose first argmax is the
/// label, and stats[2] = 1 when that mean loss is NaN, infinite or above `loss_limit(K)` (left as it
/// is otherwise: the flag stays until the host clears it). Accumulating lets an epoch keep its
/// statistics on the GPU and read them every few steps; the flag stops `sgd_update` at once.
pub fn cross_entropy(
    p: &mut PlanBuilder,
    logits: &Tensor,
    labels: &Tensor,
    d_logits: &Tensor,
    stats: &Tensor,
) -> Result<()> {
    let s = logits.shape();
    assert_eq!(s.len(), 2, "cross_entropy: logits {logits:?} is not [N, K]");
    let (n, k) = (s[0], s[1]);
    assert_eq!(labels.dtype(), DType::U32, "cross_entropy: labels {labels:?} must be u32");
    assert_eq!(labels.len(), n, "cross_entropy: labels {labels:?} for logits {logits:?}");
    assert_eq!(d_logits.shape(), s, "cross_entropy: d_logits {d_logits:?} for logits {logits:?}");
    assert_eq!(stats.len(), 3, "cross_entropy: stats {stats:?} must hold [loss, correct, diverged]");
    let team = row_team(k);
    let rows_per_group = (ELEMENTWISE_WG / team) as usize;
    let row_groups = n.div_ceil(rows_per_group).clamp(1, MAX_ROW_GROUPS);
    let params =
        Params { n: n as u32, k: k as u32, team, row_groups: row_groups as u32, max_loss: loss_limit(k), _pad: [0; 3] };
    // Workgroup 0 computes the statistics; the rest write d_logits.
    p.dispatch(&CROSS_ENTROPY, &params, &[logits, labels, d_logits, stats], [1 + row_groups as u32, 1, 1])
}
