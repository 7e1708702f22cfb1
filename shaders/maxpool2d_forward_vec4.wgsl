// vec4 variant: four channels per thread, C % 4 == 0. See common/maxpool2d_forward.wgsl.
alias V = vec4<f32>;
// #include "common/maxpool2d_forward.wgsl"
