//! Global average pooling, the end of a ResNet (`AdaptiveAvgPool2d(1)` then flatten): x [N, H, W, C] ->
//! y [N, C]. It is adaptive average pooling to a 1x1 map, so it records `avgpool2d`'s kernels on a
//! [N, 1, 1, C] view of y: in the forward pass one thread per (image, channel) reduces the image's H*W
//! pixels; the gradient's kernel walks d_x's pixels, each reading its (image, channel)'s d_y / (H*W).

use super::avgpool2d::{avgpool2d_backward, avgpool2d_forward};
use crate::error::Result;
use crate::gpu::{PlanBuilder, Tensor};

/// [N, C] as the [N, 1, 1, C] map that `avgpool2d` pools to.
fn as_pooled_map(t: &Tensor, full: &Tensor) -> Tensor {
    let (s, f) = (t.shape(), full.shape());
    assert!(s.len() == 2 && f.len() == 4 && s[0] == f[0] && s[1] == f[3], "global_avgpool: {full:?} and {t:?}");
    t.reshape(&[s[0], 1, 1, s[1]])
}

/// x: [N, H, W, C] -> y: [N, C], y[n, c] = mean of x[n, :, :, c].
pub fn global_avgpool_forward(p: &mut PlanBuilder, x: &Tensor, y: &Tensor) -> Result<()> {
    avgpool2d_forward(p, x, &as_pooled_map(y, x))
}

/// d_y: [N, C] -> d_x: [N, H, W, C], d_x[n, h, w, c] = d_y[n, c] / (H * W).
pub fn global_avgpool_backward(p: &mut PlanBuilder, d_y: &Tensor, d_x: &Tensor) -> Result<()> {
    avgpool2d_backward(p, &as_pooled_map(d_y, d_x), d_x)
}
