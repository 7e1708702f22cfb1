// vec4 variant: four channels per thread, C % 4 == 0. See common/avgpool2d_backward.wgsl.
alias V = vec4<f32>;
// #include "common/avgpool2d_backward.wgsl"
