// f32 variant: any channel count. See common/maxpool2d_backward.wgsl.
alias V = f32;
// #include "common/maxpool2d_backward.wgsl"
