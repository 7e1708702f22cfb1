//! Every GPU kernel against its CPU reference on seeded random shapes, with runtime checks on and off,
//! within both bounds of `bench::verify` (the relative L2 error and the largest element error).
//! Outputs are poisoned with NaN first, so an element a kernel forgets to write fails the comparison.

mod common;

#[path = "gpu_kernels/augment.rs"]
mod augment;
#[path = "gpu_kernels/avgpool2d.rs"]
mod avgpool2d;
#[path = "gpu_kernels/batchnorm.rs"]
mod batchnorm;
#[path = "gpu_kernels/batchnorm_add_relu.rs"]
mod batchnorm_add_relu;
#[path = "gpu_kernels/conv2d.rs"]
mod conv2d;
#[path = "gpu_kernels/count_correct.rs"]
mod count_correct;
#[path = "gpu_kernels/cross_entropy.rs"]
mod cross_entropy;
#[path = "gpu_kernels/gather_rows.rs"]
mod gather_rows;
#[path = "gpu_kernels/global_avgpool.rs"]
mod global_avgpool;
#[path = "gpu_kernels/linear.rs"]
mod linear;
#[path = "gpu_kernels/logits_accumulate.rs"]
mod logits_accumulate;
#[path = "gpu_kernels/maxpool2d.rs"]
mod maxpool2d;
#[path = "gpu_kernels/relu.rs"]
mod relu;
#[path = "gpu_kernels/residual_add.rs"]
mod residual_add;
#[path = "gpu_kernels/sgd_update.rs"]
mod sgd_update;
#[path = "gpu_kernels/softmax_accumulate.rs"]
mod softmax_accumulate;
#[path = "gpu_kernels/space_to_depth.rs"]
mod space_to_depth;
