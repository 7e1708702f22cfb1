//! One host function per kernel. Each records its dispatch into a `PlanBuilder`; the matching CPU
//! mirror with the same name and argument order lives in `crate::reference`.
//!
//! Layout: activations are NHWC (channels last) f32; conv weights are [Cout][KH][KW][Cin]; linear
//! weights are [out][in]. Checkpoints convert to PyTorch's NCHW/OIHW order on the way out.

pub mod conv2d;
pub mod linear;
pub mod relu;

pub use conv2d::{conv2d_backward_input, conv2d_backward_weight, conv2d_backward_weight_workspace_len, conv2d_forward, Conv2dShape};
pub use linear::{linear_backward_input, linear_backward_weight, linear_backward_weight_workspace_len, linear_forward};
pub use relu::{relu_backward, relu_forward};

use crate::gpu::KernelSpec;

/// Every kernel the engine can launch (compiled ahead of time in tests and by `layerwise devices --check`).
pub fn all_kernels() -> Vec<&'static KernelSpec> {
    vec![
        &conv2d::CONV2D_FORWARD,
        &conv2d::CONV2D_BACKWARD_INPUT,
        &conv2d::CONV2D_BACKWARD_WEIGHT,
        &conv2d::CONV2D_BACKWARD_WEIGHT_REDUCE,
        &relu::RELU_FORWARD,
        &relu::RELU_BACKWARD,
    ]
}
