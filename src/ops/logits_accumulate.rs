//! Ensemble of auxiliary heads by raw logits: acc += weight * logits, one call per head (paper 1's CIFAR
//! code; `softmax_accumulate` sums probabilities instead).

use crate::error::Result;
use crate::gpu::{groups_for, Access, KernelSpec, PlanBuilder, Tensor, ELEMENTWISE_WG};

pub static LOGITS_ACCUMULATE: KernelSpec = KernelSpec::new("logits_accumulate", &[Access::Read, Access::ReadWrite]);

/// Mirrors `Params` in shaders/logits_accumulate.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    len: u32,
    weight: f32,
    _pad: [u32; 2],
}

/// logits: [N, K], acc: [N, K]; acc += weight * logits. The weight is fixed when the plan is recorded
/// (the 2^j weights of the heads never change).
pub fn logits_accumulate(p: &mut PlanBuilder, logits: &Tensor, acc: &Tensor, weight: f32) -> Result<()> {
    let s = logits.shape();
    assert_eq!(s.len(), 2, "logits_accumulate: logits {logits:?} is not [N, K]");
    assert_eq!(acc.shape(), s, "logits_accumulate: acc {acc:?} for logits {logits:?}");
    let len = logits.len();
    let params = Params { len: len as u32, weight, _pad: [0; 2] };
    p.dispatch(&LOGITS_ACCUMULATE, &params, &[logits, acc], [groups_for(len, ELEMENTWISE_WG), 1, 1])
}
