//! 2x2 max pooling with stride 2 in floor mode (an odd last row or column is dropped, as PyTorch's
//! default). The backward pass recomputes each window's argmax from x instead of storing indices:
//! one read of x is cheaper than writing and reading an index tensor.

use crate::error::Result;
use crate::gpu::{groups_for, Access, KernelSpec, PlanBuilder, Tensor, ELEMENTWISE_WG};

pub static MAXPOOL2D_FORWARD: KernelSpec =
    KernelSpec::new("maxpool2d_forward", "maxpool2d_forward", &[Access::Read, Access::ReadWrite]);
pub static MAXPOOL2D_BACKWARD: KernelSpec =
    KernelSpec::new("maxpool2d_backward", "maxpool2d_backward", &[Access::Read, Access::Read, Access::ReadWrite]);

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    total: u32,
    h: u32,
    w: u32,
    c: u32,
}

fn nhwc(t: &Tensor) -> [usize; 4] {
    let s = t.shape();
    assert_eq!(s.len(), 4, "maxpool2d: {t:?} is not NHWC");
    [s[0], s[1], s[2], s[3]]
}

/// x: [N, H, W, C] -> y: [N, H/2, W/2, C] (floor).
pub fn maxpool2d_forward(p: &mut PlanBuilder, x: &Tensor, y: &Tensor) -> Result<()> {
    let [n, h, w, c] = nhwc(x);
    assert_eq!(y.shape(), [n, h / 2, w / 2, c], "maxpool2d_forward: {x:?} -> {y:?}");
    let params = Params { total: y.len() as u32, h: h as u32, w: w as u32, c: c as u32 };
    p.dispatch(&MAXPOOL2D_FORWARD, &params, &[x, y], [groups_for(y.len(), ELEMENTWISE_WG), 1, 1])
}

/// x: [N, H, W, C] (the forward input), d_y: [N, H/2, W/2, C] -> d_x: [N, H, W, C]. Each window's
/// gradient goes to its first maximum in (dh, dw) raster order, as PyTorch; every other element,
/// including an odd trailing row/column, gets zero.
pub fn maxpool2d_backward(p: &mut PlanBuilder, x: &Tensor, d_y: &Tensor, d_x: &Tensor) -> Result<()> {
    let [n, h, w, c] = nhwc(x);
    assert_eq!(d_y.shape(), [n, h / 2, w / 2, c], "maxpool2d_backward: {x:?} vs d_y {d_y:?}");
    assert_eq!(d_x.shape(), x.shape(), "maxpool2d_backward: {x:?} vs d_x {d_x:?}");
    // One thread per 2x2 block of d_x, counting the partial blocks of an odd last row/column.
    let blocks = n * h.div_ceil(2) * w.div_ceil(2) * c;
    let params = Params { total: blocks as u32, h: h as u32, w: w as u32, c: c as u32 };
    p.dispatch(&MAXPOOL2D_BACKWARD, &params, &[x, d_y, d_x], [groups_for(blocks, ELEMENTWISE_WG), 1, 1])
}
