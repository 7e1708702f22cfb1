// f32 variant: any channel count. See common/space_to_depth_backward.wgsl.
alias V = f32;
// #include "common/space_to_depth_backward.wgsl"
