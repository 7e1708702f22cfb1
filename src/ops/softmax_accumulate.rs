//! Ensemble of auxiliary heads: probs += weight * softmax(logits), one call per head.

use super::row_team;
use crate::error::Result;
use crate::gpu::{groups_for, Access, KernelSpec, PlanBuilder, Tensor, ELEMENTWISE_WG};

pub static SOFTMAX_ACCUMULATE: KernelSpec = KernelSpec::new("softmax_accumulate", &[Access::Read, Access::ReadWrite]);

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    k: u32,
    team: u32,
    weight: f32,
}

/// logits: [N, K], probs: [N, K]; probs += weight * softmax(logits) row-wise. The weight is fixed
/// when the plan is recorded (the 2^j weights of the heads never change).
pub fn softmax_accumulate(p: &mut PlanBuilder, logits: &Tensor, probs: &Tensor, weight: f32) -> Result<()> {
    let s = logits.shape();
    assert_eq!(s.len(), 2, "softmax_accumulate: logits {logits:?} is not [N, K]");
    assert_eq!(probs.shape(), s, "softmax_accumulate: probs {probs:?} for logits {logits:?}");
    let (n, k) = (s[0], s[1]);
    let team = row_team(k);
    let params = Params { n: n as u32, k: k as u32, team, weight };
    p.dispatch(&SOFTMAX_ACCUMULATE, &params, &[logits, probs], [groups_for(n, ELEMENTWISE_WG / team), 1, 1])
}
