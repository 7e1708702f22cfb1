//! Benchmarks (never timed tests): `kernels` times the conv and GEMM kernels on the paper's CIFAR shapes,
//! each first checked against its CPU reference; `training` measures per-stage training throughput; `baseline` holds the PyTorch numbers they are compared to.

pub mod baseline;
mod kernel_report;
pub mod kernels;
pub mod training;
pub mod verify;

pub use baseline::{pytorch_h100, TrainingBaseline, TrainingRun, PYTORCH_H100_JSON};
pub use kernels::{
    bench_kernels, conv_shapes, fmnist_quick_shapes, KernelBenchOptions, KernelBenchReport, KernelBenchRow,
};
pub use training::{bench_training, StageBench, TrainBenchOptions, TrainBenchReport};
