//! Plain-loop CPU references in f64, one per kernel, with the kernel's name and argument order. They
//! define what the GPU kernels must compute; tests compare the two on random shapes and check these
//! against PyTorch's float64 results and against finite differences.

pub mod augment;
pub mod batchnorm;
pub mod relu;

pub use augment::{augment_batch, augment_draw};
pub use batchnorm::{batchnorm_backward, batchnorm_forward_eval, batchnorm_forward_train};
pub use relu::{relu_backward, relu_forward};
