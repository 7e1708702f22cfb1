//! Batch normalisation over every leading dimension of a channels-last tensor: x [M.., C] with
//! M = N*H*W (BatchNorm2d on NHWC) or M = N (BatchNorm1d). PyTorch semantics: training normalises with
//! the biased batch variance and updates the running statistics with momentum 0.1 and the unbiased
//! variance; evaluation uses the running statistics; eps 1e-5. A ReLU can be fused as the epilogue.
//!
//! Every kernel covers x as a grid of M rows x C channels (`grid::RowGrid`): each thread owns one channel
//! (four with the vec4 variants, used when C % 4 == 0) and walks a span of rows, so per-channel values are
//! read once per thread and no element needs an integer division. Reductions are two-level and
//! deterministic: a statistics kernel leaves one partial per (row block, channel) in a caller-allocated
//! workspace, and a combine kernel folds them in block order and writes every per-channel output (saved
//! statistics and running statistics, or d_gamma and d_beta) itself. Three dispatches per direction.

use super::grid::{variants, vec4_fits, GridTarget, RowGrid, Variants};
use crate::error::{Error, Result};
use crate::gpu::{groups_for, Access, Gpu, KernelSpec, PlanBuilder, Tensor, ELEMENTWISE_WG};
use Access::{Read as R, ReadWrite as W};

pub const BN_EPS: f32 = 1e-5;
pub const BN_MOMENTUM: f32 = 0.1;

/// Most row blocks the statistics kernels cut M into: bounds the workspace and the combine kernels'
/// serial fold (one partial per block and channel).
const MAX_BLOCKS: usize = 128;
/// Tail slots per channel after the partials (the backward uses five).
const TAIL_SLOTS: usize = 5;

pub(super) static FORWARD_TRAIN_STATS: Variants = variants!("batchnorm_forward_train_stats", &[R, W]);
pub(super) static FORWARD_TRAIN_COMBINE: Variants = variants!("batchnorm_forward_train_combine", &[W, W, W, W, W]);
static FORWARD_TRAIN: Variants = variants!("batchnorm_forward_train", &[R, R, R, R, W]);
static FORWARD_EVAL: Variants = variants!("batchnorm_forward_eval", &[R, R, R, R, R, W]);
pub(super) static BACKWARD_STATS: Variants = variants!("batchnorm_backward_stats", &[R, R, R, R, W]);
pub(super) static BACKWARD_COMBINE: Variants = variants!("batchnorm_backward_combine", &[R, R, R, W, W, W]);
static BACKWARD: Variants = variants!("batchnorm_backward", &[R, R, R, R, W]);

static PASSES: [&Variants; 7] = [
    &FORWARD_TRAIN_STATS,
    &FORWARD_TRAIN_COMBINE,
    &FORWARD_TRAIN,
    &FORWARD_EVAL,
    &BACKWARD_STATS,
    &BACKWARD_COMBINE,
    &BACKWARD,
];

/// Every batchnorm kernel spec, for `ops::all_kernels()`.
pub(crate) fn kernels() -> impl Iterator<Item = &'static KernelSpec> {
    PASSES.iter().flat_map(|p| p.both())
}

/// Mirrors `Params` in shaders/lib/batchnorm.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct Params {
    grid: [u32; 5],
    blocks: u32,
    relu: u32,
    _p0: u32,
    eps: f32,
    momentum: f32,
    inv_m: f32,
    _p1: f32,
}

/// f32 elements of scratch the training forward and the backward need for x [M, C]; allocate once.
/// Covers every grid (any adapter, kernel width or span): at most one partial per row and channel, and
/// at most `MAX_BLOCKS` of them.
pub fn batchnorm_workspace_len(m: usize, c: usize) -> usize {
    (2 * m.clamp(1, MAX_BLOCKS) + TAIL_SLOTS) * c
}

/// The shape parameters, the kernel width and the grids for x [M, C]: the statistics kernels' grid has
/// at most `MAX_BLOCKS` row blocks (one partial each); the element-wise kernels' grid is sized freely
/// (short spans on GPUs) and only shares the workspace layout (`blocks`).
pub(super) struct Geometry {
    pub(super) stats: Params,
    pub(super) elements: Params,
    vec4: bool,
    pub(super) stats_groups: [u32; 3],
    pub(super) element_groups: [u32; 3],
    pub(super) channel_groups: [u32; 3],
}

impl Geometry {
    pub(super) fn new(gpu: &Gpu, x: &Tensor, gamma: &Tensor, relu: bool) -> Result<Geometry> {
        let c = gamma.len();
        assert!(c > 0, "batchnorm over zero channels");
        assert_eq!(x.len() % c, 0, "batchnorm: x {:?} is not [M, {c}]", x.shape());
        if let Some(&last) = x.shape().last() {
            assert_eq!(last, c, "batchnorm: x {:?} does not end in C = {c}", x.shape());
        }
        let m = x.len() / c;
        let vec4 = vec4_fits(gpu, c);
        let len = if vec4 { c / 4 } else { c };
        let sg = RowGrid::plan(GridTarget::of(gpu), m, len, MAX_BLOCKS)?;
        let eg = RowGrid::new(gpu, m, len)?;
        let stats = Params {
            grid: sg.params(),
            blocks: sg.blocks,
            relu: relu as u32,
            _p0: 0,
            eps: BN_EPS,
            momentum: BN_MOMENTUM,
            inv_m: 1.0 / m.max(1) as f32,
            _p1: 0.0,
        };
        let elements = Params { grid: eg.params(), ..stats };
        Ok(Geometry {
            stats,
            elements,
            vec4,
            stats_groups: sg.groups(),
            element_groups: eg.groups(),
            channel_groups: [groups_for(len, ELEMENTWISE_WG), 1, 1],
        })
    }

    pub(super) fn spec(&self, pass: &'static Variants) -> &'static KernelSpec {
        pass.pick(self.vec4)
    }

    pub(super) fn check_workspace(&self, workspace: &Tensor) {
        let (m, c) = (self.stats.grid[0] as usize, self.stats.grid[1] as usize * if self.vec4 { 4 } else { 1 });
        let need = (2 * self.stats.blocks as usize + TAIL_SLOTS) * c;
        assert!(need <= batchnorm_workspace_len(m, c), "batchnorm workspace layout exceeds its advertised length");
        assert!(workspace.len() >= need, "batchnorm workspace holds {} floats, needs {need}", workspace.len());
    }
}

pub(super) fn check_channels(c: usize, what: &[(&str, &Tensor)]) {
    for (name, t) in what {
        assert_eq!(t.len(), c, "batchnorm: {name} {:?} is not [{c}]", t.shape());
    }
}

/// Training forward with batch statistics.
/// x, y: [M.., C]; gamma, beta, running_mean, running_var, save_mean, save_invstd: [C];
/// workspace: at least `batchnorm_workspace_len(M, C)` f32.
/// y = (x - mean) * invstd * gamma + beta (then ReLU when `relu`); running_mean/var are updated in place;
/// save_mean/save_invstd keep the batch mean and 1/sqrt(biased var + eps) for the backward.
/// Needs M >= 2 (the unbiased variance), as PyTorch does.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward_train(
    p: &mut PlanBuilder,
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    save_mean: &Tensor,
    save_invstd: &Tensor,
    y: &Tensor,
    workspace: &Tensor,
    relu: bool,
) -> Result<()> {
    let g = Geometry::new(p.gpu(), x, gamma, relu)?;
    let c = gamma.len();
    check_channels(
        c,
        &[
            ("beta", beta),
            ("running_mean", running_mean),
            ("running_var", running_var),
            ("save_mean", save_mean),
            ("save_invstd", save_invstd),
        ],
    );
    assert_eq!(y.len(), x.len(), "batchnorm: y {:?} vs x {:?}", y.shape(), x.shape());
    record_batch_statistics(p, &g, x, running_mean, running_var, save_mean, save_invstd, workspace)?;
    p.dispatch(g.spec(&FORWARD_TRAIN), &g.elements, &[x, gamma, beta, workspace, y], g.element_groups)
}

/// Passes 1 and 2 of a training forward (this one's and `batchnorm_add_relu`'s): the batch statistics of
/// x into save_mean/save_invstd and the workspace tail, the running statistics updated.
#[allow(clippy::too_many_arguments)]
pub(super) fn record_batch_statistics(
    p: &mut PlanBuilder,
    g: &Geometry,
    x: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    save_mean: &Tensor,
    save_invstd: &Tensor,
    workspace: &Tensor,
) -> Result<()> {
    g.check_workspace(workspace);
    if g.stats.grid[0] < 2 {
        return Err(Error::usage(format!(
            "batch normalisation in training needs more than one value per channel, got x {:?} (use a batch size of at least 2)",
            x.shape()
        )));
    }
    p.dispatch(g.spec(&FORWARD_TRAIN_STATS), &g.stats, &[x, workspace], g.stats_groups)?;
    p.dispatch(
        g.spec(&FORWARD_TRAIN_COMBINE),
        &g.stats,
        &[workspace, save_mean, save_invstd, running_mean, running_var],
        g.channel_groups,
    )
}

/// Evaluation forward with the running statistics: y = (x - running_mean) / sqrt(running_var + eps)
/// * gamma + beta (then ReLU when `relu`). x, y: [M.., C]; the rest [C].
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward_eval(
    p: &mut PlanBuilder,
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    y: &Tensor,
    relu: bool,
) -> Result<()> {
    let g = Geometry::new(p.gpu(), x, gamma, relu)?;
    check_channels(gamma.len(), &[("beta", beta), ("running_mean", running_mean), ("running_var", running_var)]);
    assert_eq!(y.len(), x.len(), "batchnorm: y {:?} vs x {:?}", y.shape(), x.shape());
    p.dispatch(g.spec(&FORWARD_EVAL), &g.elements, &[x, gamma, beta, running_mean, running_var, y], g.element_groups)
}

/// Backward of the training forward. x, y, d_y, d_x: [M.., C]; gamma, save_mean, save_invstd, d_gamma,
/// d_beta: [C]; workspace as for the forward. With `relu`, y is the forward's (ReLU) output and d_y the
/// gradient w.r.t. it, so g = d_y * (y > 0); otherwise g = d_y and y is not read (pass x).
/// d_x = gamma * invstd * (g - mean(g) - xhat * mean(g * xhat)); d_gamma = sum(g * xhat); d_beta = sum(g)
/// (written, not accumulated).
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    p: &mut PlanBuilder,
    x: &Tensor,
    y: &Tensor,
    d_y: &Tensor,
    gamma: &Tensor,
    save_mean: &Tensor,
    save_invstd: &Tensor,
    d_x: &Tensor,
    d_gamma: &Tensor,
    d_beta: &Tensor,
    workspace: &Tensor,
    relu: bool,
) -> Result<()> {
    let g = Geometry::new(p.gpu(), x, gamma, relu)?;
    check_channels(
        gamma.len(),
        &[("save_mean", save_mean), ("save_invstd", save_invstd), ("d_gamma", d_gamma), ("d_beta", d_beta)],
    );
    for (name, t) in [("y", y), ("d_y", d_y), ("d_x", d_x)] {
        assert_eq!(t.len(), x.len(), "batchnorm backward: {name} {:?} vs x {:?}", t.shape(), x.shape());
    }
    record_gradient_sums(p, &g, x, y, d_y, gamma, save_mean, save_invstd, d_gamma, d_beta, workspace)?;
    p.dispatch(g.spec(&BACKWARD), &g.elements, &[x, y, d_y, workspace, d_x], g.element_groups)
}

/// Passes 1 and 2 of a backward (this one's and `batchnorm_add_relu`'s): d_gamma, d_beta and the
/// per-channel values pass 3 reads from the workspace tail.
#[allow(clippy::too_many_arguments)]
pub(super) fn record_gradient_sums(
    p: &mut PlanBuilder,
    g: &Geometry,
    x: &Tensor,
    y: &Tensor,
    d_y: &Tensor,
    gamma: &Tensor,
    save_mean: &Tensor,
    save_invstd: &Tensor,
    d_gamma: &Tensor,
    d_beta: &Tensor,
    workspace: &Tensor,
) -> Result<()> {
    g.check_workspace(workspace);
    p.dispatch(g.spec(&BACKWARD_STATS), &g.stats, &[x, y, d_y, save_mean, workspace], g.stats_groups)?;
    p.dispatch(
        g.spec(&BACKWARD_COMBINE),
        &g.stats,
        &[gamma, save_mean, save_invstd, workspace, d_gamma, d_beta],
        g.channel_groups,
    )
}
