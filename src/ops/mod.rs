//! One host function per kernel. Each records its dispatch into a `PlanBuilder`; the matching CPU
//! mirror with the same name and argument order lives in `crate::reference`.
//!
//! Layout: activations are NHWC (channels last) f32; conv weights are [Cout][KH][KW][Cin]; linear
//! weights are [out][in]. Checkpoints convert to PyTorch's NCHW/OIHW order on the way out.

// A host function takes every tensor of its kernel explicitly, in the order of the CPU mirror's
// arguments (llm.c style): an options struct would hide which buffers a dispatch binds.
#![allow(clippy::too_many_arguments)]

pub mod augment;
pub mod avgpool2d;
pub mod batchnorm;
pub mod batchnorm_add_relu;
pub mod conv2d;
pub mod count_correct;
pub mod cross_entropy;
pub mod gather_rows;
pub mod global_avgpool;
pub mod grid;
pub mod linear;
pub mod logits_accumulate;
pub mod maxpool2d;
pub mod relu;
pub mod residual_add;
pub mod sgd_update;
pub mod softmax_accumulate;
pub mod space_to_depth;

pub use augment::{augment_batch, AugmentConfig};
pub use avgpool2d::{avgpool2d_backward, avgpool2d_forward};
pub use batchnorm::{batchnorm_backward, batchnorm_forward_eval, batchnorm_forward_train, batchnorm_workspace_len};
pub use batchnorm_add_relu::{
    batchnorm_add_relu_backward, batchnorm_add_relu_forward_eval, batchnorm_add_relu_forward_train,
};
pub use conv2d::{
    conv2d_backward_input, conv2d_backward_input_with, conv2d_backward_weight, conv2d_backward_weight_with,
    conv2d_backward_weight_workspace_len, conv2d_choose, conv2d_choose_for, conv2d_forward, conv2d_forward_with,
    conv2d_kernels, Conv2dDirection, Conv2dKernel, Conv2dShape, Conv2dTiling,
};
pub use count_correct::count_correct;
pub use cross_entropy::{cross_entropy, IGNORE_LABEL};
pub use gather_rows::{gather_rows, scatter_rows};
pub use global_avgpool::{global_avgpool_backward, global_avgpool_forward};
pub use grid::{with_f32_elements, with_grid_span};
pub use linear::{linear_backward_input, linear_backward_weight, linear_backward_weight_workspace_len, linear_forward};
pub use logits_accumulate::logits_accumulate;
pub use maxpool2d::{maxpool2d_backward, maxpool2d_forward, MaxPool2dShape};
pub use relu::{relu_backward, relu_forward};
pub use residual_add::residual_add;
pub use sgd_update::sgd_update;
pub use softmax_accumulate::softmax_accumulate;
pub use space_to_depth::{space_to_depth_backward, space_to_depth_forward};

use crate::gpu::{KernelSpec, ELEMENTWISE_WG};

/// Every kernel the engine can launch (compiled ahead of time in tests and by `layerwise devices --check`).
pub fn all_kernels() -> Vec<&'static KernelSpec> {
    vec![
        &cross_entropy::CROSS_ENTROPY,
        &softmax_accumulate::SOFTMAX_ACCUMULATE,
        &logits_accumulate::LOGITS_ACCUMULATE,
        &count_correct::COUNT_CORRECT,
        &augment::AUGMENT_BATCH,
    ]
    .into_iter()
    .chain(gather_rows::kernels())
    .chain(relu::kernels())
    .chain(sgd_update::kernels())
    .chain(space_to_depth::kernels())
    .chain(maxpool2d::kernels())
    .chain(avgpool2d::kernels())
    .chain(conv2d::conv2d_specs())
    .chain(batchnorm::kernels())
    .chain(batchnorm_add_relu::kernels())
    .chain(residual_add::kernels())
    .collect()
}

/// Threads that share one row in the row-wise softmax kernels (see shaders/lib/rows.wgsl): about
/// eight elements per thread, a power of two from 1 to a whole workgroup. Small K (10 classes) packs
/// many rows into a workgroup; large K (1000) spreads one row over many threads.
pub(crate) fn row_team(k: usize) -> u32 {
    (k.div_ceil(8).next_power_of_two() as u32).min(ELEMENTWISE_WG)
}
