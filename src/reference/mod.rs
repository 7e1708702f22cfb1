//! Plain-loop CPU references in f64, one per kernel, with the kernel's name and argument order. They
//! define what the GPU kernels must compute; tests compare the two on random shapes and check these
//! against PyTorch's float64 results and against finite differences. The references of kernels still to
//! be written (strided and 7x7 `conv2d`, `maxpool2d` with any kernel, stride and padding, `global_avgpool`,
//! `residual_add`, `batchnorm_add_relu`) fix the names, argument orders and layouts those kernels take.

// Each reference takes the same tensors, in the same order, as the kernel it mirrors.
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
pub mod linear;
pub mod logits_accumulate;
pub mod maxpool2d;
pub mod relu;
pub mod residual_add;
pub mod sgd_update;
pub mod softmax_accumulate;
pub mod space_to_depth;

pub use augment::{augment_batch, augment_draw};
pub use avgpool2d::{avgpool2d_backward, avgpool2d_forward};
pub use batchnorm::{batchnorm_backward, batchnorm_forward_eval, batchnorm_forward_train};
pub use batchnorm_add_relu::{
    batchnorm_add_relu_backward, batchnorm_add_relu_forward_eval, batchnorm_add_relu_forward_train,
};
pub use conv2d::{conv2d_backward_input, conv2d_backward_weight, conv2d_forward, Conv2dGeometry};
pub use count_correct::count_correct;
pub use cross_entropy::cross_entropy;
pub use gather_rows::{gather_rows, scatter_rows};
pub use global_avgpool::{global_avgpool_backward, global_avgpool_forward};
pub use linear::{linear_backward_input, linear_backward_weight, linear_forward};
pub use logits_accumulate::logits_accumulate;
pub use maxpool2d::{maxpool2d_backward, maxpool2d_forward, MaxPool2dShape};
pub use relu::{relu_backward, relu_forward};
pub use residual_add::residual_add;
pub use sgd_update::sgd_update;
pub use softmax_accumulate::softmax_accumulate;
pub use space_to_depth::{space_to_depth_backward, space_to_depth_forward};
