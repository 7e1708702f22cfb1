//! Plain-loop CPU references in f64, one per kernel, with the kernel's name and argument order. They
//! define what the GPU kernels must compute; tests compare the two on random shapes and check these
//! against PyTorch's float64 results and against finite differences.

pub mod conv2d;
pub mod linear;
pub mod relu;

pub use conv2d::{conv2d_backward_input, conv2d_backward_weight, conv2d_forward};
pub use linear::{linear_backward_input, linear_backward_weight, linear_forward};
pub use relu::{relu_backward, relu_forward};
