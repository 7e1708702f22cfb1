//! 2x2 max pooling with stride 2 in floor mode (an odd last row or column is dropped, as PyTorch's
//! default). The backward pass recomputes each window's argmax from x instead of storing indices:
//! one read of x is cheaper than writing and reading an index tensor.
//!
//! Both kernels cover pixels x C as a row grid (`grid::RowGrid`): y's pixels for the forward, d_x's 2x2
//! blocks for the backward. Both come in f32 and vec4 (C % 4 == 0) variants.

use super::grid::{variants, vec4_fits, RowGrid, Variants};
use crate::error::Result;
use crate::gpu::{Access, KernelSpec, PlanBuilder, Tensor};

pub(crate) static MAXPOOL2D_FORWARD: Variants = variants!("maxpool2d_forward", &[Access::Read, Access::ReadWrite]);
pub(crate) static MAXPOOL2D_BACKWARD: Variants =
    variants!("maxpool2d_backward", &[Access::Read, Access::Read, Access::ReadWrite]);

/// Every maxpool2d kernel spec, for `ops::all_kernels()`.
pub(crate) fn kernels() -> impl Iterator<Item = &'static KernelSpec> {
    [&MAXPOOL2D_FORWARD, &MAXPOOL2D_BACKWARD].into_iter().flat_map(|v| v.both())
}

/// Mirrors `Params` in shaders/lib/pool.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    grid: [u32; 5],
    h: u32,
    w: u32,
    c: u32,
    oh: u32,
    ow: u32,
    _pad: [u32; 2],
}

fn nhwc(t: &Tensor) -> [usize; 4] {
    let s = t.shape();
    assert_eq!(s.len(), 4, "maxpool2d: {t:?} is not NHWC");
    [s[0], s[1], s[2], s[3]]
}

/// Record `kernel` over a grid of N * `pixels` rows of C.
fn record(
    p: &mut PlanBuilder,
    kernel: &'static Variants,
    [n, h, w, c]: [usize; 4],
    pixels: usize,
    tensors: &[&Tensor],
) -> Result<()> {
    let vec4 = vec4_fits(p.gpu(), c);
    let cv = if vec4 { c / 4 } else { c };
    let g = RowGrid::new(p.gpu(), n * pixels, cv)?;
    let params = Params {
        grid: g.params(),
        h: h as u32,
        w: w as u32,
        c: cv as u32,
        oh: (h / 2) as u32,
        ow: (w / 2) as u32,
        _pad: [0; 2],
    };
    p.dispatch(kernel.pick(vec4), &params, tensors, g.groups())
}

/// x: [N, H, W, C] -> y: [N, H/2, W/2, C] (floor).
pub fn maxpool2d_forward(p: &mut PlanBuilder, x: &Tensor, y: &Tensor) -> Result<()> {
    let [n, h, w, c] = nhwc(x);
    assert_eq!(y.shape(), [n, h / 2, w / 2, c], "maxpool2d_forward: {x:?} -> {y:?}");
    record(p, &MAXPOOL2D_FORWARD, [n, h, w, c], (h / 2) * (w / 2), &[x, y])
}

/// x: [N, H, W, C] (the forward input), d_y: [N, H/2, W/2, C] -> d_x: [N, H, W, C]. Each window's
/// gradient goes to its first maximum in (dh, dw) raster order, as PyTorch; every other element,
/// including an odd trailing row/column, gets zero.
pub fn maxpool2d_backward(p: &mut PlanBuilder, x: &Tensor, d_y: &Tensor, d_x: &Tensor) -> Result<()> {
    let [n, h, w, c] = nhwc(x);
    assert_eq!(d_y.shape(), [n, h / 2, w / 2, c], "maxpool2d_backward: {x:?} vs d_y {d_y:?}");
    assert_eq!(d_x.shape(), x.shape(), "maxpool2d_backward: {x:?} vs d_x {d_x:?}");
    // The 2x2 blocks of d_x, counting the partial blocks of an odd last row/column.
    record(p, &MAXPOOL2D_BACKWARD, [n, h, w, c], h.div_ceil(2) * w.div_ceil(2), &[x, d_y, d_x])
}
