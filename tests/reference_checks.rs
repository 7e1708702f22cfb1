//! The CPU references themselves: backward passes against central finite differences, and every op
//! against PyTorch's float64 results (tests/fixtures/torch_vectors.safetensors).

mod common;

#[path = "reference_checks/augment.rs"]
mod augment;
#[path = "reference_checks/avgpool2d.rs"]
mod avgpool2d;
#[path = "reference_checks/batchnorm.rs"]
mod batchnorm;
#[path = "reference_checks/batchnorm_add_relu.rs"]
mod batchnorm_add_relu;
#[path = "reference_checks/compose.rs"]
mod compose;
#[path = "reference_checks/conv2d.rs"]
mod conv2d;
#[path = "reference_checks/count_correct.rs"]
mod count_correct;
#[path = "reference_checks/cross_entropy.rs"]
mod cross_entropy;
#[path = "reference_checks/dgl_head.rs"]
mod dgl_head;
#[path = "reference_checks/global_avgpool.rs"]
mod global_avgpool;
#[path = "reference_checks/linear.rs"]
mod linear;
#[path = "reference_checks/maxpool2d.rs"]
mod maxpool2d;
#[path = "reference_checks/relu.rs"]
mod relu;
#[path = "reference_checks/residual_add.rs"]
mod residual_add;
#[path = "reference_checks/resnet_blocks.rs"]
mod resnet_blocks;
#[path = "reference_checks/sgd_update.rs"]
mod sgd_update;
#[path = "reference_checks/softmax_accumulate.rs"]
mod softmax_accumulate;
#[path = "reference_checks/space_to_depth.rs"]
mod space_to_depth;
#[path = "reference_checks/vectors.rs"]
mod vectors;
