//! Every GPU kernel against its CPU reference on seeded random shapes, with runtime checks on and off.
//! Outputs are poisoned with NaN first, so an element a kernel forgets to write fails the comparison.

mod common;

#[path = "gpu_kernels/relu.rs"]
mod relu;
#[path = "gpu_kernels/conv2d.rs"]
mod conv2d;
#[path = "gpu_kernels/linear.rs"]
mod linear;
