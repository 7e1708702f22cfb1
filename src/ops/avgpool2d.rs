//! Adaptive average pooling with PyTorch `AdaptiveAvgPool2d` semantics: output cell (i, j) of an
//! [OH, OW] grid averages input rows [floor(i*H/OH), ceil((i+1)*H/OH)) and the same columns. When OH
//! divides H this is avg_pool2d with kernel = stride = H/OH (the auxiliary heads' "average to 2x2"),
//! whose gradient has its own cheaper kernel.
//!
//! Every kernel covers the tensor it writes as a row grid (`grid::RowGrid`): image rows x (width * C) for
//! the forward and the general gradient, where each thread keeps a column window, and pixels x C for the
//! strided gradient. Each comes in f32 and vec4 (C % 4 == 0) variants.

use super::grid::{variants, vec4_fits, RowGrid, Variants};
use crate::error::Result;
use crate::gpu::{Access, KernelSpec, PlanBuilder, Tensor};

pub(crate) static AVGPOOL2D_FORWARD: Variants = variants!("avgpool2d_forward", &[Access::Read, Access::ReadWrite]);
pub(crate) static AVGPOOL2D_BACKWARD: Variants = variants!("avgpool2d_backward", &[Access::Read, Access::ReadWrite]);
pub(crate) static AVGPOOL2D_BACKWARD_STRIDED: Variants =
    variants!("avgpool2d_backward_strided", &[Access::Read, Access::ReadWrite]);

/// Every avgpool2d kernel spec, for `ops::all_kernels()`.
pub(crate) fn kernels() -> impl Iterator<Item = &'static KernelSpec> {
    [&AVGPOOL2D_FORWARD, &AVGPOOL2D_BACKWARD, &AVGPOOL2D_BACKWARD_STRIDED].into_iter().flat_map(|v| v.both())
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
    _pad: [u32; 6],
}

/// [N, H, W, C] of the full-resolution tensor and [OH, OW] of the pooled one.
fn shapes(full: &Tensor, pooled: &Tensor) -> ([usize; 4], [usize; 2]) {
    let (f, s) = (full.shape(), pooled.shape());
    assert!(
        f.len() == 4 && s.len() == 4 && f[0] == s[0] && f[3] == s[3],
        "avgpool2d: {full:?} and {pooled:?} do not match"
    );
    assert!((s[1] > 0 && s[2] > 0) || f[1] * f[2] == 0, "avgpool2d: empty output grid {pooled:?} for {full:?}");
    ([f[0], f[1], f[2], f[3]], [s[1], s[2]])
}

/// The uniform block and grid for a kernel over the [N * `rows`, `cols` * C] view of the tensor it writes.
fn record(
    p: &mut PlanBuilder,
    kernel: &'static Variants,
    [n, h, w, c]: [usize; 4],
    [oh, ow]: [usize; 2],
    (rows, cols): (usize, usize),
    tensors: &[&Tensor],
) -> Result<()> {
    let vec4 = vec4_fits(p.gpu(), c);
    let cv = if vec4 { c / 4 } else { c };
    let g = RowGrid::new(p.gpu(), n * rows, cols * cv)?;
    let params =
        Params { grid: g.params(), h: h as u32, w: w as u32, c: cv as u32, oh: oh as u32, ow: ow as u32, _pad: [0; 6] };
    p.dispatch(kernel.pick(vec4), &params, tensors, g.groups())
}

/// x: [N, H, W, C] -> y: [N, OH, OW, C] (OH, OW taken from y's shape).
pub fn avgpool2d_forward(p: &mut PlanBuilder, x: &Tensor, y: &Tensor) -> Result<()> {
    let (full, [oh, ow]) = shapes(x, y);
    record(p, &AVGPOOL2D_FORWARD, full, [oh, ow], (oh, ow), &[x, y])
}

/// d_y: [N, OH, OW, C] -> d_x: [N, H, W, C]. Windows overlap when OH does not divide H; each d_x
/// element gathers from every window that holds it, so no atomics are needed.
pub fn avgpool2d_backward(p: &mut PlanBuilder, d_y: &Tensor, d_x: &Tensor) -> Result<()> {
    let (full, [oh, ow]) = shapes(d_x, d_y);
    let [_, h, w, _] = full;
    if oh > 0 && ow > 0 && h % oh == 0 && w % ow == 0 {
        // Rows are d_x's pixels.
        record(p, &AVGPOOL2D_BACKWARD_STRIDED, full, [oh, ow], (h * w, 1), &[d_y, d_x])
    } else {
        // Rows are d_x's image rows.
        record(p, &AVGPOOL2D_BACKWARD, full, [oh, ow], (h, w), &[d_y, d_x])
    }
}
