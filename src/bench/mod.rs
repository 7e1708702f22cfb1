//! Benchmarks (never timed tests): `kernels` times the conv and GEMM kernels on the paper's CIFAR shapes,
//! each first checked against its CPU reference (`verify`); `training` measures per-stage training
//! throughput; `baseline` holds the PyTorch numbers they are compared to; `data` measures the streaming
//! input pipeline against Pillow.

pub mod baseline;
pub mod data;
mod kernel_report;
pub mod kernels;
pub mod training;
pub mod verify;

pub use baseline::{pytorch_h100, TrainingBaseline, TrainingRun, PYTORCH_H100_JSON};
pub use data::{bench_data, DataBenchOptions, DataBenchReport, DataBenchRow};
pub use kernels::{
    bench_kernels, conv_shapes, fmnist_quick_shapes, resnet_shapes, KernelBenchOptions, KernelBenchReport,
    KernelBenchRow,
};
pub use training::{bench_training, StageBench, TrainBenchOptions, TrainBenchReport};
