//! SGD with momentum, weight decay and optional Nesterov, in one dispatch over a parameter arena.

use crate::error::Result;
use crate::gpu::{groups_for, Access, KernelSpec, ParamArena, PlanBuilder, Tensor, ELEMENTWISE_WG};

pub static SGD_UPDATE: KernelSpec = KernelSpec::new(
    "sgd_update",
    "sgd_update",
    &[Access::ReadWrite, Access::Read, Access::ReadWrite, Access::Read],
);

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    _pad: [u32; 3],
}

/// One PyTorch SGD step (dampening 0) on every tensor of `params` at once:
/// d = g + wd*w; buf = mu*buf + d; d = nesterov ? d + mu*buf : buf; w -= lr*d.
/// params, grads, momentum: arenas of one layout (`momentum` zeroed before the first step);
/// hyper: [4] f32 = (lr, momentum, weight_decay, nesterov 0.0/1.0), read when the plan runs, so a
/// learning-rate schedule only uploads four numbers.
pub fn sgd_update(p: &mut PlanBuilder, params: &ParamArena, grads: &ParamArena, momentum: &ParamArena, hyper: &Tensor) -> Result<()> {
    let n = params.all.len();
    assert_eq!(grads.all.len(), n, "sgd_update: grads and params arenas differ");
    assert_eq!(momentum.all.len(), n, "sgd_update: momentum and params arenas differ");
    assert_eq!(hyper.len(), 4, "sgd_update: hyper {hyper:?} must be [lr, momentum, weight_decay, nesterov]");
    let u = Params { n: n as u32, _pad: [0; 3] };
    p.dispatch(&SGD_UPDATE, &u, &[&params.all, &grads.all, &momentum.all, hyper], [groups_for(n, ELEMENTWISE_WG), 1, 1])
}
