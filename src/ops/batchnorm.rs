//! Batch normalisation over every leading dimension of a channels-last tensor: x [M.., C] with
//! M = N*H*W (BatchNorm2d on NHWC) or M = N (BatchNorm1d). PyTorch semantics: training normalises with
//! the biased batch variance and updates the running statistics with momentum 0.1 and the unbiased
//! variance; evaluation uses the running statistics; eps 1e-5. A ReLU can be fused as the epilogue.
//!
//! Reductions are two-level and deterministic: the rows are cut into at most `MAX_CHUNKS` chunks, a
//! statistics kernel writes one partial per (chunk, channel) into a caller-allocated workspace, and a
//! combine kernel folds them in chunk order. Per-channel outputs are written by one small dispatch
//! each, because the trainer keeps them in arenas (running mean and var in one buffer, d_gamma and
//! d_beta in another) and one buffer may not be bound writable twice in a dispatch.

use crate::error::{Error, Result};
use crate::gpu::{groups_for, Access, KernelSpec, PlanBuilder, Tensor, ELEMENTWISE_WG, MAX_GROUPS_PER_DIM};

pub const BN_EPS: f32 = 1e-5;
pub const BN_MOMENTUM: f32 = 0.1;

/// Most chunks a column is cut into: bounds the workspace and the serial combine.
const MAX_CHUNKS: usize = 256;
/// Fewest rows per chunk, so each thread of a statistics workgroup has a few rows of its own.
const MIN_CHUNK_ROWS: usize = 64;
/// Most channels one statistics workgroup covers (its other dimension is 256 / that many row lanes).
const MAX_TILE_CHANNELS: usize = 64;
/// Tail slots per channel after the partials (the backward uses five).
const TAIL_SLOTS: usize = 5;

pub static BATCHNORM_FORWARD_TRAIN_STATS: KernelSpec =
    KernelSpec::new("batchnorm_forward_train_stats", "batchnorm_forward_train_stats", &[Access::Read, Access::ReadWrite]);
pub static BATCHNORM_FORWARD_TRAIN_COMBINE: KernelSpec =
    KernelSpec::new("batchnorm_forward_train_combine", "batchnorm_forward_train_combine", &[Access::Read, Access::ReadWrite]);
pub static BATCHNORM_FORWARD_TRAIN: KernelSpec = KernelSpec::new(
    "batchnorm_forward_train",
    "batchnorm_forward_train",
    &[Access::Read, Access::Read, Access::Read, Access::Read, Access::ReadWrite],
);
pub static BATCHNORM_FORWARD_EVAL: KernelSpec = KernelSpec::new(
    "batchnorm_forward_eval",
    "batchnorm_forward_eval",
    &[Access::Read, Access::Read, Access::Read, Access::Read, Access::Read, Access::ReadWrite],
);
pub static BATCHNORM_BACKWARD_STATS: KernelSpec = KernelSpec::new(
    "batchnorm_backward_stats",
    "batchnorm_backward_stats",
    &[Access::Read, Access::Read, Access::Read, Access::Read, Access::ReadWrite],
);
pub static BATCHNORM_BACKWARD_COMBINE: KernelSpec = KernelSpec::new(
    "batchnorm_backward_combine",
    "batchnorm_backward_combine",
    &[Access::Read, Access::Read, Access::Read, Access::ReadWrite],
);
pub static BATCHNORM_BACKWARD: KernelSpec = KernelSpec::new(
    "batchnorm_backward",
    "batchnorm_backward",
    &[Access::Read, Access::Read, Access::Read, Access::Read, Access::ReadWrite],
);
pub static BATCHNORM_STORE: KernelSpec = KernelSpec::new("batchnorm_store", "batchnorm_store", &[Access::Read, Access::ReadWrite]);

pub(crate) static KERNELS: [&KernelSpec; 8] = [
    &BATCHNORM_FORWARD_TRAIN_STATS,
    &BATCHNORM_FORWARD_TRAIN_COMBINE,
    &BATCHNORM_FORWARD_TRAIN,
    &BATCHNORM_FORWARD_EVAL,
    &BATCHNORM_BACKWARD_STATS,
    &BATCHNORM_BACKWARD_COMBINE,
    &BATCHNORM_BACKWARD,
    &BATCHNORM_STORE,
];

// Workspace tail slots (see shaders/common/batchnorm.wgsl). Forward: 0 mean, 1 invstd, 2 unbiased var,
// 3 mean - x[0, c].
// Backward: 0 sum(g) = d_beta, 1 sum(g * xhat) = d_gamma, 2 mean, 3 invstd, 4 gamma * invstd.
const SLOT_MEAN: u32 = 0;
const SLOT_INVSTD: u32 = 1;
const SLOT_UNBIASED_VAR: u32 = 2;
const SLOT_D_BETA: u32 = 0;
const SLOT_D_GAMMA: u32 = 1;

const STORE_COPY: u32 = 0;
const STORE_RUNNING_AVERAGE: u32 = 1;

/// Mirrors `Params` in shaders/common/batchnorm.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    m: u32,
    c: u32,
    rows: u32,
    chunks: u32,
    tc: u32,
    relu: u32,
    slot: u32,
    mode: u32,
    eps: f32,
    momentum: f32,
    inv_m: f32,
    _pad: u32,
}

/// How the M rows are cut: (rows per chunk, chunks).
fn chunking(m: usize) -> (usize, usize) {
    let rows = m.div_ceil(MAX_CHUNKS).max(MIN_CHUNK_ROWS);
    (rows, m.div_ceil(rows).max(1))
}

/// f32 elements of scratch the training forward and the backward need for x [M, C]; allocate once.
pub fn batchnorm_workspace_len(m: usize, c: usize) -> usize {
    let (_, chunks) = chunking(m);
    (2 * chunks + TAIL_SLOTS) * c
}

/// Shape parameters and the statistics grid for x [M, C].
struct Geometry {
    params: Params,
    stats_groups: [u32; 3],
    channel_groups: [u32; 3],
    element_groups: [u32; 3],
}

fn geometry(x: &Tensor, gamma: &Tensor, relu: bool) -> Geometry {
    let c = gamma.len();
    assert!(c > 0, "batchnorm over zero channels");
    assert_eq!(x.len() % c, 0, "batchnorm: x {:?} is not [M, {c}]", x.shape());
    if let Some(&last) = x.shape().last() {
        assert_eq!(last, c, "batchnorm: x {:?} does not end in C = {c}", x.shape());
    }
    assert!(x.len() <= u32::MAX as usize, "batchnorm: x {:?} has more elements than u32 indexes", x.shape());
    let m = x.len() / c;
    let (rows, chunks) = chunking(m);
    let tc = c.next_power_of_two().min(MAX_TILE_CHANNELS);
    let params = Params {
        m: m as u32,
        c: c as u32,
        rows: rows as u32,
        chunks: chunks as u32,
        tc: tc as u32,
        relu: relu as u32,
        slot: 0,
        mode: STORE_COPY,
        eps: BN_EPS,
        momentum: BN_MOMENTUM,
        inv_m: 1.0 / m.max(1) as f32,
        _pad: 0,
    };
    Geometry {
        params,
        stats_groups: [c.div_ceil(tc).min(MAX_GROUPS_PER_DIM as usize) as u32, chunks as u32, 1],
        channel_groups: [groups_for(c, ELEMENTWISE_WG), 1, 1],
        element_groups: [groups_for(x.len(), ELEMENTWISE_WG), 1, 1],
    }
}

fn check_workspace(g: &Geometry, workspace: &Tensor) {
    let need = batchnorm_workspace_len(g.params.m as usize, g.params.c as usize);
    assert!(workspace.len() >= need, "batchnorm workspace holds {} floats, needs {need}", workspace.len());
}

fn check_channels(c: usize, what: &[(&str, &Tensor)]) {
    for (name, t) in what {
        assert_eq!(t.len(), c, "batchnorm: {name} {:?} is not [{c}]", t.shape());
    }
}

/// Copy (or fold into a running average) one workspace tail slot into `out` [C].
fn store(p: &mut PlanBuilder, g: &Geometry, workspace: &Tensor, slot: u32, mode: u32, out: &Tensor) -> Result<()> {
    let params = Params { slot, mode, ..g.params };
    p.dispatch(&BATCHNORM_STORE, &params, &[workspace, out], g.channel_groups)
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
    let g = geometry(x, gamma, relu);
    let c = gamma.len();
    check_channels(
        c,
        &[("beta", beta), ("running_mean", running_mean), ("running_var", running_var), ("save_mean", save_mean), ("save_invstd", save_invstd)],
    );
    assert_eq!(y.len(), x.len(), "batchnorm: y {:?} vs x {:?}", y.shape(), x.shape());
    check_workspace(&g, workspace);
    if g.params.m < 2 {
        return Err(Error::usage(format!(
            "batch normalisation in training needs more than one value per channel, got x {:?} (use a batch size of at least 2)",
            x.shape()
        )));
    }
    p.dispatch(&BATCHNORM_FORWARD_TRAIN_STATS, &g.params, &[x, workspace], g.stats_groups)?;
    p.dispatch(&BATCHNORM_FORWARD_TRAIN_COMBINE, &g.params, &[x, workspace], g.channel_groups)?;
    p.dispatch(&BATCHNORM_FORWARD_TRAIN, &g.params, &[x, gamma, beta, workspace, y], g.element_groups)?;
    store(p, &g, workspace, SLOT_MEAN, STORE_COPY, save_mean)?;
    store(p, &g, workspace, SLOT_INVSTD, STORE_COPY, save_invstd)?;
    store(p, &g, workspace, SLOT_MEAN, STORE_RUNNING_AVERAGE, running_mean)?;
    store(p, &g, workspace, SLOT_UNBIASED_VAR, STORE_RUNNING_AVERAGE, running_var)
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
    let g = geometry(x, gamma, relu);
    check_channels(gamma.len(), &[("beta", beta), ("running_mean", running_mean), ("running_var", running_var)]);
    assert_eq!(y.len(), x.len(), "batchnorm: y {:?} vs x {:?}", y.shape(), x.shape());
    p.dispatch(&BATCHNORM_FORWARD_EVAL, &g.params, &[x, gamma, beta, running_mean, running_var, y], g.element_groups)
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
    let g = geometry(x, gamma, relu);
    check_channels(gamma.len(), &[("save_mean", save_mean), ("save_invstd", save_invstd), ("d_gamma", d_gamma), ("d_beta", d_beta)]);
    for (name, t) in [("y", y), ("d_y", d_y), ("d_x", d_x)] {
        assert_eq!(t.len(), x.len(), "batchnorm backward: {name} {:?} vs x {:?}", t.shape(), x.shape());
    }
    check_workspace(&g, workspace);
    p.dispatch(&BATCHNORM_BACKWARD_STATS, &g.params, &[x, y, d_y, save_mean, workspace], g.stats_groups)?;
    p.dispatch(&BATCHNORM_BACKWARD_COMBINE, &g.params, &[gamma, save_mean, save_invstd, workspace], g.channel_groups)?;
    p.dispatch(&BATCHNORM_BACKWARD, &g.params, &[x, y, d_y, workspace, d_x], g.element_groups)?;
    store(p, &g, workspace, SLOT_D_GAMMA, STORE_COPY, d_gamma)?;
    store(p, &g, workspace, SLOT_D_BETA, STORE_COPY, d_beta)
}
