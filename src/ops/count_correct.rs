//! Accuracy counting on the GPU (top-1 and top-5), so evaluation reads back two numbers per count at most.

use crate::error::Result;
use crate::gpu::{Access, DType, KernelSpec, PlanBuilder, Tensor};

pub static COUNT_CORRECT: KernelSpec =
    KernelSpec::new("count_correct", &[Access::Read, Access::Read, Access::ReadWrite]);

/// The second count's k: top-5, as ImageNet results are reported.
pub const TOP_K: usize = 5;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    k: u32,
    top: u32,
    _pad: u32,
}

/// scores: [N, K] f32 (logits or probabilities), labels: [N] u32, counts: [2] f32;
/// counts[0] += number of rows with a valid label (not `IGNORE_LABEL`) equal to the row's first
/// argmax; counts[1] += such rows whose label is among the `TOP_K` best scores (ties ranked by class
/// index, so the first argmax is the best). One workgroup: the counts are exact and reduced in a fixed
/// order.
pub fn count_correct(p: &mut PlanBuilder, scores: &Tensor, labels: &Tensor, counts: &Tensor) -> Result<()> {
    let s = scores.shape();
    assert_eq!(s.len(), 2, "count_correct: scores {scores:?} is not [N, K]");
    assert_eq!(labels.dtype(), DType::U32, "count_correct: labels {labels:?} must be u32");
    assert_eq!(labels.len(), s[0], "count_correct: labels {labels:?} for scores {scores:?}");
    assert_eq!(counts.len(), 2, "count_correct: counts {counts:?} must be [2]");
    let params = Params { n: s[0] as u32, k: s[1] as u32, top: TOP_K as u32, _pad: 0 };
    p.dispatch(&COUNT_CORRECT, &params, &[scores, labels, counts], [1, 1, 1])
}
