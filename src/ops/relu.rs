//! ReLU. Usually fused into the batchnorm or conv epilogue; these stand-alone kernels serve the
//! heads and layers where no epilogue is available.

use crate::error::Result;
use crate::gpu::{groups_for, Access, KernelSpec, PlanBuilder, Tensor, ELEMENTWISE_WG};

pub static RELU_FORWARD: KernelSpec = KernelSpec::new("relu_forward", "relu_forward", &[Access::Read, Access::ReadWrite]);
pub static RELU_BACKWARD: KernelSpec =
    KernelSpec::new("relu_backward", "relu_backward", &[Access::Read, Access::Read, Access::ReadWrite]);

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    _pad: [u32; 3],
}

/// y = max(x, 0). x, y: same length, any shape.
pub fn relu_forward(p: &mut PlanBuilder, x: &Tensor, y: &Tensor) -> Result<()> {
    assert_eq!(x.len(), y.len());
    let params = Params { n: x.len() as u32, _pad: [0; 3] };
    p.dispatch(&RELU_FORWARD, &params, &[x, y], [groups_for(x.len(), ELEMENTWISE_WG), 1, 1])
}

/// d_x = d_y * (x > 0). x: the ReLU's input or output; x, d_y, d_x: same length.
pub fn relu_backward(p: &mut PlanBuilder, x: &Tensor, d_y: &Tensor, d_x: &Tensor) -> Result<()> {
    assert_eq!(x.len(), d_y.len());
    assert_eq!(x.len(), d_x.len());
    let params = Params { n: x.len() as u32, _pad: [0; 3] };
    p.dispatch(&RELU_BACKWARD, &params, &[x, d_y, d_x], [groups_for(x.len(), ELEMENTWISE_WG), 1, 1])
}
