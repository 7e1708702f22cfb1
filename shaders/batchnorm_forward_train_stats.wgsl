// f32 variant: any channel count. See common/batchnorm_forward_train_stats.wgsl.
alias V = f32;
// #include "common/batchnorm_forward_train_stats.wgsl"
