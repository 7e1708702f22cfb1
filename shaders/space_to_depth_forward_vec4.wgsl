// vec4 variant: four channels per thread, C % 4 == 0. See common/space_to_depth_forward.wgsl.
alias V = vec4<f32>;
// #include "common/space_to_depth_forward.wgsl"
