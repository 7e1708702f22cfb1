//! The CPU references themselves: backward passes against central finite differences, and every op
//! against PyTorch's float64 results (tests/fixtures/torch_vectors.safetensors).

mod common;

#[path = "reference_checks/augment.rs"]
mod augment;
#[path = "reference_checks/batchnorm.rs"]
mod batchnorm;
#[path = "reference_checks/relu.rs"]
mod relu;
