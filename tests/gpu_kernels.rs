//! Every GPU kernel against its CPU reference on seeded random shapes, with runtime checks on and off.
//! Outputs are poisoned with NaN first, so an element a kernel forgets to write fails the comparison.

mod common;

#[path = "gpu_kernels/augment.rs"]
mod augment;
#[path = "gpu_kernels/batchnorm.rs"]
mod batchnorm;
#[path = "gpu_kernels/relu.rs"]
mod relu;
