//! ReLU. Usually fused into the batchnorm or conv epilogue; these stand-alone kernels serve the
//! heads and layers where no epilogue is available. Any shape, covered as a row grid
//! (`grid::RowGrid`) of the flat data, in f32 and vec4 (length % 4 == 0) variants.

use super::grid::{variants, vec4_fits, RowGrid, Variants};
use crate::error::Result;
use crate::gpu::{Access, KernelSpec, PlanBuilder, Tensor};

pub(crate) static RELU_FORWARD: Variants = variants!("relu_forward", &[Access::Read, Access::ReadWrite]);
pub(crate) static RELU_BACKWARD: Variants =
    variants!("relu_backward", &[Access::Read, Access::Read, Access::ReadWrite]);

/// Every ReLU kernel spec, for `ops::all_kernels()`.
pub(crate) fn kernels() -> impl Iterator<Item = &'static KernelSpec> {
    [&RELU_FORWARD, &RELU_BACKWARD].into_iter().flat_map(|v| v.both())
}

/// Elements per grid row: 8, so each 8-wide vector of a CPU driver walks one contiguous stream.
const ROW: usize = 8;

/// Mirrors `Params` in shaders/lib/flat.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    grid: [u32; 5],
    n: u32,
    _pad: [u32; 2],
}

fn record(p: &mut PlanBuilder, kernel: &'static Variants, len: usize, tensors: &[&Tensor]) -> Result<()> {
    let vec4 = vec4_fits(p.gpu(), len);
    let n = if vec4 { len / 4 } else { len };
    let row = n.clamp(1, ROW);
    let g = RowGrid::new(p.gpu(), n.div_ceil(row), row)?;
    p.dispatch(kernel.pick(vec4), &Params { grid: g.params(), n: n as u32, _pad: [0; 2] }, tensors, g.groups())
}

/// y = max(x, 0). x, y: same length, any shape.
pub fn relu_forward(p: &mut PlanBuilder, x: &Tensor, y: &Tensor) -> Result<()> {
    assert_eq!(x.len(), y.len());
    record(p, &RELU_FORWARD, x.len(), &[x, y])
}

/// d_x = d_y * (x > 0). x: the ReLU's input or output; x, d_y, d_x: same length.
pub fn relu_backward(p: &mut PlanBuilder, x: &Tensor, d_y: &Tensor, d_x: &Tensor) -> Result<()> {
    assert_eq!(x.len(), d_y.len());
    assert_eq!(x.len(), d_x.len());
    record(p, &RELU_BACKWARD, x.len(), &[x, d_y, d_x])
}
