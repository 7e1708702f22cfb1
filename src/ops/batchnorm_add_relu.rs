//! The end of a ResNet block in one pass: y = relu(batchnorm(x) + r), the shortcut's r added between the
//! batchnorm and the ReLU, as torchvision's BasicBlock and Bottleneck compute it. The statistics and
//! combine passes are `batchnorm`'s (training forward: x's batch statistics; backward: the sums of the
//! gradient masked by y > 0, the ReLU being the last thing applied); only the element-wise pass differs,
//! reading r (forward) or writing the shortcut's gradient d_r (backward) besides its batchnorm work, so the
//! add costs no pass of its own. Layout as `batchnorm`: x, r, y [M.., C] channels-last, statistics over M.

use super::batchnorm::{check_channels, record_batch_statistics, record_gradient_sums, Geometry};
use super::grid::{variants, Variants};
use crate::error::Result;
use crate::gpu::{Access, KernelSpec, PlanBuilder, Tensor};
use Access::{Read as R, ReadWrite as W};

static FORWARD_TRAIN: Variants = variants!("batchnorm_add_relu_forward_train", &[R, R, R, R, R, W]);
static FORWARD_EVAL: Variants = variants!("batchnorm_add_relu_forward_eval", &[R, R, R, R, R, R, W]);
static BACKWARD: Variants = variants!("batchnorm_add_relu_backward", &[R, R, R, R, W, W]);

/// Every kernel spec of this op's own passes, for `ops::all_kernels()`.
pub(crate) fn kernels() -> impl Iterator<Item = &'static KernelSpec> {
    [&FORWARD_TRAIN, &FORWARD_EVAL, &BACKWARD].into_iter().flat_map(|v| v.both())
}

fn check_like_x(x: &Tensor, what: &[(&str, &Tensor)]) {
    for (name, t) in what {
        assert_eq!(t.len(), x.len(), "batchnorm_add_relu: {name} {:?} vs x {:?}", t.shape(), x.shape());
    }
}

/// Training forward with batch statistics, as `batchnorm_forward_train` (running statistics updated,
/// save_mean/save_invstd written), then y = relu(normalised x * gamma + beta + r).
/// x, r, y: [M.., C]; the rest [C]; workspace: at least `batchnorm_workspace_len(M, C)` f32.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_add_relu_forward_train(
    p: &mut PlanBuilder,
    x: &Tensor,
    r: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    save_mean: &Tensor,
    save_invstd: &Tensor,
    y: &Tensor,
    workspace: &Tensor,
) -> Result<()> {
    let g = Geometry::new(p.gpu(), x, gamma, true)?;
    let channels = [("beta", beta), ("running_mean", running_mean), ("running_var", running_var)];
    check_channels(gamma.len(), &channels);
    check_channels(gamma.len(), &[("save_mean", save_mean), ("save_invstd", save_invstd)]);
    check_like_x(x, &[("r", r), ("y", y)]);
    record_batch_statistics(p, &g, x, running_mean, running_var, save_mean, save_invstd, workspace)?;
    p.dispatch(g.spec(&FORWARD_TRAIN), &g.elements, &[x, r, gamma, beta, workspace, y], g.element_groups)
}

/// Evaluation forward with the running statistics: y = relu(batchnorm_eval(x) + r). x, r, y: [M.., C];
/// the rest [C].
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_add_relu_forward_eval(
    p: &mut PlanBuilder,
    x: &Tensor,
    r: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    y: &Tensor,
) -> Result<()> {
    let g = Geometry::new(p.gpu(), x, gamma, true)?;
    check_channels(gamma.len(), &[("beta", beta), ("running_mean", running_mean), ("running_var", running_var)]);
    check_like_x(x, &[("r", r), ("y", y)]);
    let tensors = [x, r, gamma, beta, running_mean, running_var, y];
    p.dispatch(g.spec(&FORWARD_EVAL), &g.elements, &tensors, g.element_groups)
}

/// Backward of the training forward. With g = d_y where y > 0 (y: the forward's output), else 0: d_r = g
/// (the shortcut's gradient), and d_x, d_gamma, d_beta are the batchnorm's gradients for g (written, not
/// accumulated). x, y, d_y, d_x, d_r: [M.., C]; the rest [C]; workspace as for the forward.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_add_relu_backward(
    p: &mut PlanBuilder,
    x: &Tensor,
    y: &Tensor,
    d_y: &Tensor,
    gamma: &Tensor,
    save_mean: &Tensor,
    save_invstd: &Tensor,
    d_x: &Tensor,
    d_r: &Tensor,
    d_gamma: &Tensor,
    d_beta: &Tensor,
    workspace: &Tensor,
) -> Result<()> {
    let g = Geometry::new(p.gpu(), x, gamma, true)?;
    let channels = [("save_mean", save_mean), ("save_invstd", save_invstd), ("d_gamma", d_gamma), ("d_beta", d_beta)];
    check_channels(gamma.len(), &channels);
    check_like_x(x, &[("y", y), ("d_y", d_y), ("d_x", d_x), ("d_r", d_r)]);
    record_gradient_sums(p, &g, x, y, d_y, gamma, save_mean, save_invstd, d_gamma, d_beta, workspace)?;
    p.dispatch(g.spec(&BACKWARD), &g.elements, &[x, y, d_y, workspace, d_x, d_r], g.element_groups)
}
