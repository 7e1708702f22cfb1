//! Adaptive average pooling with PyTorch `AdaptiveAvgPool2d` semantics: output cell (i, j) of an
//! [OH, OW] grid averages input rows [floor(i*H/OH), ceil((i+1)*H/OH)) and the same columns. When OH
//! divides H this is avg_pool2d with kernel = stride = H/OH (the auxiliary heads' "average to 2x2").

use crate::error::Result;
use crate::gpu::{groups_for, Access, KernelSpec, PlanBuilder, Tensor, ELEMENTWISE_WG};

pub static AVGPOOL2D_FORWARD: KernelSpec =
    KernelSpec::new("avgpool2d_forward", "avgpool2d_forward", &[Access::Read, Access::ReadWrite]);
pub static AVGPOOL2D_BACKWARD: KernelSpec =
    KernelSpec::new("avgpool2d_backward", "avgpool2d_backward", &[Access::Read, Access::ReadWrite]);

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    total: u32,
    h: u32,
    w: u32,
    c: u32,
    oh: u32,
    ow: u32,
    _pad: [u32; 2],
}

/// Parameters from the full-resolution tensor [N, H, W, C] and the pooled one [N, OH, OW, C];
/// `total` is the element count of the tensor the kernel writes.
fn params(full: &Tensor, pooled: &Tensor, total: usize) -> Params {
    let (f, s) = (full.shape(), pooled.shape());
    assert!(f.len() == 4 && s.len() == 4 && f[0] == s[0] && f[3] == s[3], "avgpool2d: {full:?} and {pooled:?} do not match");
    assert!((s[1] > 0 && s[2] > 0) || f[1] * f[2] == 0, "avgpool2d: empty output grid {pooled:?} for {full:?}");
    Params { total: total as u32, h: f[1] as u32, w: f[2] as u32, c: f[3] as u32, oh: s[1] as u32, ow: s[2] as u32, _pad: [0; 2] }
}

/// x: [N, H, W, C] -> y: [N, OH, OW, C] (OH, OW taken from y's shape).
pub fn avgpool2d_forward(p: &mut PlanBuilder, x: &Tensor, y: &Tensor) -> Result<()> {
    let params = params(x, y, y.len());
    p.dispatch(&AVGPOOL2D_FORWARD, &params, &[x, y], [groups_for(y.len(), ELEMENTWISE_WG), 1, 1])
}

/// d_y: [N, OH, OW, C] -> d_x: [N, H, W, C]. Windows overlap when OH does not divide H; each d_x
/// element gathers from every window that holds it, so no atomics are needed.
pub fn avgpool2d_backward(p: &mut PlanBuilder, d_y: &Tensor, d_x: &Tensor) -> Result<()> {
    let params = params(d_x, d_y, d_x.len());
    p.dispatch(&AVGPOOL2D_BACKWARD, &params, &[d_y, d_x], [groups_for(d_x.len(), ELEMENTWISE_WG), 1, 1])
}
