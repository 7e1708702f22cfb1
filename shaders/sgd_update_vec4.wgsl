// vec4 variant: arena lengths that are a multiple of 4. See common/sgd_update.wgsl.
alias V = vec4<f32>;
// #include "common/sgd_update.wgsl"
