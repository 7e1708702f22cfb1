// vec4 variant: four channels per thread, C % 4 == 0. See common/batchnorm_forward_eval.wgsl.
alias V = vec4<f32>;
// #include "common/batchnorm_forward_eval.wgsl"
