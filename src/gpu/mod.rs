//! The device layer: the only module that touches wgpu.
//!
//! `Gpu` owns the adapter, device and queue, the kernel (pipeline) cache and the allocation limits;
//! `Tensor` is a typed view into a GPU buffer; `Plan` is a recorded list of dispatches that a training
//! step replays with one command encoder and one submit.

mod context;
mod exchange;
mod kernels;
mod plan;
mod readback;
pub mod shaders;
mod tensor;

pub use context::{list_adapters, AdapterSummary, BackendChoice, Gpu, GpuOptions};
pub use exchange::Exchange;
pub use kernels::{Access, Define, KernelSpec};
pub use plan::{InFlight, Plan, PlanBuilder, Submission};
pub use readback::Readback;
pub use tensor::{DType, ParamArena, Tensor};

/// Threads per workgroup for the element-wise kernels (one row of a grid-stride loop).
pub const ELEMENTWISE_WG: u32 = 256;
/// Upper bound on workgroups per dimension that every WebGPU adapter accepts.
pub const MAX_GROUPS_PER_DIM: u32 = 65535;

/// Workgroup count for a grid-stride loop over `n` items with `per_group` items per workgroup.
pub fn groups_for(n: usize, per_group: u32) -> u32 {
    let g = n.div_ceil(per_group as usize).max(1);
    g.min(MAX_GROUPS_PER_DIM as usize) as u32
}
