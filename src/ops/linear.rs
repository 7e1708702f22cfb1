//! Linear layers, y = x W^T + b, as 1x1 convolutions over a 1x1 map: the same implicit-GEMM kernels
//! (and the same tuning) serve both. x: [N, In], w: [Out, In], bias: [Out], y: [N, Out].

use super::conv2d::{
    conv2d_backward_input, conv2d_backward_weight, conv2d_backward_weight_workspace_len, conv2d_forward, Conv2dShape,
};
use crate::error::Result;
use crate::gpu::{PlanBuilder, Tensor};

fn as_map(t: &Tensor) -> Tensor {
    let s = t.shape();
    assert_eq!(s.len(), 2, "linear expects [N, features], got {s:?}");
    t.reshape(&[s[0], 1, 1, s[1]])
}

fn as_kernel(w: &Tensor) -> Tensor {
    let s = w.shape();
    assert_eq!(s.len(), 2, "linear weight must be [Out, In], got {s:?}");
    w.reshape(&[s[0], 1, 1, s[1]])
}

/// The conv geometry of a linear layer with batch `n`.
pub fn linear_shape(n: usize, inputs: usize, outputs: usize) -> Conv2dShape {
    Conv2dShape { n, h: 1, w: 1, cin: inputs, cout: outputs, kh: 1, kw: 1, stride: 1 }
}

/// y = x W^T + bias, then ReLU when `relu`.
pub fn linear_forward(
    p: &mut PlanBuilder,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    y: &Tensor,
    relu: bool,
) -> Result<()> {
    conv2d_forward(p, &as_map(x), &as_kernel(w), bias, &as_map(y), relu)
}

/// d_x = d_y W.
pub fn linear_backward_input(p: &mut PlanBuilder, d_y: &Tensor, w: &Tensor, d_x: &Tensor) -> Result<()> {
    conv2d_backward_input(p, &as_map(d_y), &as_kernel(w), &as_map(d_x))
}

/// Workspace length `linear_backward_weight` needs.
pub fn linear_backward_weight_workspace_len(n: usize, inputs: usize, outputs: usize, bias: bool) -> usize {
    conv2d_backward_weight_workspace_len(&linear_shape(n, inputs, outputs), bias)
}

/// d_w = d_y^T x, d_bias = column sums of d_y.
pub fn linear_backward_weight(
    p: &mut PlanBuilder,
    x: &Tensor,
    d_y: &Tensor,
    d_w: &Tensor,
    d_bias: Option<&Tensor>,
    workspace: &Tensor,
) -> Result<()> {
    conv2d_backward_weight(p, &as_map(x), &as_map(d_y), &as_kernel(d_w), d_bias, workspace)
}
