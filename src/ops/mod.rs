//! One host function per kernel. Each records its dispatch into a `PlanBuilder`; the matching CPU
//! mirror with the same name and argument order lives in `crate::reference`.
//!
//! Layout: activations are NHWC (channels last) f32; conv weights are [Cout][KH][KW][Cin]; linear
//! weights are [out][in]. Checkpoints convert to PyTorch's NCHW/OIHW order on the way out.

pub mod augment;
pub mod batchnorm;
pub mod relu;

pub use augment::{augment_batch, AugmentConfig};
pub use batchnorm::{batchnorm_backward, batchnorm_forward_eval, batchnorm_forward_train, batchnorm_workspace_len};
pub use relu::{relu_backward, relu_forward};

use crate::gpu::KernelSpec;

/// Every kernel the engine can launch (compiled ahead of time in tests and by `layerwise devices --check`).
pub fn all_kernels() -> Vec<&'static KernelSpec> {
    let mut k = vec![&relu::RELU_FORWARD, &relu::RELU_BACKWARD, &augment::AUGMENT_BATCH];
    k.extend(batchnorm::KERNELS);
    k
}
