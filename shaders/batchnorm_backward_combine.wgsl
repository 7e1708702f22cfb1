// f32 variant: any channel count. See common/batchnorm_backward_combine.wgsl.
alias V = f32;
// #include "common/batchnorm_backward_combine.wgsl"
