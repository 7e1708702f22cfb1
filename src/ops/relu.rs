//! ReLU. Usually fused into the batchnorm or conv epilogue; these stand-alone kernels serve the
//! heads and layers where no epilogue is available. Any shape, covered as a row grid
//! (`grid::RowGrid`) of the flat data, in f32 and vec4 (length % 4 == 0) variants.

use super::grid::{record_flat, variants, Variants};
use crate::error::Result;
use crate::gpu::{Access, KernelSpec, PlanBuilder, Tensor};

pub(crate) static RELU_FORWARD: Variants = variants!("relu_forward", &[Access::Read, Access::ReadWrite]);
pub(crate) static RELU_BACKWARD: Variants =
    variants!("relu_backward", &[Access::Read, Access::Read, Access::ReadWrite]);

/// Every ReLU kernel spec, for `ops::all_kernels()`.
pub(crate) fn kernels() -> impl Iterator<Item = &'static KernelSpec> {
    [&RELU_FORWARD, &RELU_BACKWARD].into_iter().flat_map(|v| v.both())
}

/// y = max(x, 0). x, y: same length, any shape.
pub fn relu_forward(p: &mut PlanBuilder, x: &Tensor, y: &Tensor) -> Result<()> {
    assert_eq!(x.len(), y.len());
    record_flat(p, &RELU_FORWARD, x.len(), &[x, y])
}

/// d_x = d_y * (x > 0). x: the ReLU's input or output; x, d_y, d_x: same length.
pub fn relu_backward(p: &mut PlanBuilder, x: &Tensor, d_y: &Tensor, d_x: &Tensor) -> Result<()> {
    assert_eq!(x.len(), d_y.len());
    assert_eq!(x.len(), d_x.len());
    record_flat(p, &RELU_BACKWARD, x.len(), &[x, d_y, d_x])
}
