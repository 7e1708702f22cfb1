//! SGD with momentum, weight decay and optional Nesterov, in one dispatch over a parameter arena,
//! covered as a row grid (`grid::RowGrid`) of the flat arena, as the ReLU kernels, in f32 and vec4
//! (arena length % 4 == 0) variants.

use super::grid::{variants, vec4_fits, RowGrid, Variants};
use crate::error::Result;
use crate::gpu::{Access, KernelSpec, ParamArena, PlanBuilder, Tensor};

pub(crate) static SGD_UPDATE: Variants =
    variants!("sgd_update", &[Access::ReadWrite, Access::Read, Access::ReadWrite, Access::Read, Access::Read]);

/// Both sgd_update kernel specs, for `ops::all_kernels()`.
pub(crate) fn kernels() -> impl Iterator<Item = &'static KernelSpec> {
    SGD_UPDATE.both().into_iter()
}

/// Elements per grid row (as the ReLU kernels): each 8-wide vector of a CPU driver walks one stream.
const ROW: usize = 8;

/// Mirrors `Params` in shaders/lib/flat.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    grid: [u32; 5],
    n: u32,
    _pad: [u32; 2],
}

/// One PyTorch SGD step (dampening 0) on every tensor of `params` at once:
/// d = g + wd*w; buf = mu*buf + d; d = nesterov ? d + mu*buf : buf; w -= lr*d.
/// params, grads, momentum: arenas of one layout (`momentum` zeroed before the first step);
/// hyper: [4] f32 = (lr, momentum, weight_decay, nesterov 0.0/1.0), read when the plan runs, so a
/// learning-rate schedule only uploads four numbers. stats: [3] f32, `ops::cross_entropy`'s: nothing
/// is updated while stats[2] (diverged) is non-zero.
pub fn sgd_update(
    p: &mut PlanBuilder,
    params: &ParamArena,
    grads: &ParamArena,
    momentum: &ParamArena,
    hyper: &Tensor,
    stats: &Tensor,
) -> Result<()> {
    let n = params.all.len();
    assert_eq!(grads.all.len(), n, "sgd_update: grads and params arenas differ");
    assert_eq!(momentum.all.len(), n, "sgd_update: momentum and params arenas differ");
    assert_eq!(hyper.len(), 4, "sgd_update: hyper {hyper:?} must be [lr, momentum, weight_decay, nesterov]");
    assert_eq!(stats.len(), 3, "sgd_update: stats {stats:?} must be [loss sum, correct, diverged]");
    let vec4 = vec4_fits(p.gpu(), n);
    let nv = if vec4 { n / 4 } else { n };
    let row = nv.clamp(1, ROW);
    let g = RowGrid::new(p.gpu(), nv.div_ceil(row), row)?;
    let u = Params { grid: g.params(), n: nv as u32, _pad: [0; 2] };
    p.dispatch(SGD_UPDATE.pick(vec4), &u, &[&params.all, &grads.all, &momentum.all, hyper, stats], g.groups())
}
