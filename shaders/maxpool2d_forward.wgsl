// f32 variant: any channel count. See common/maxpool2d_forward.wgsl.
alias V = f32;
// #include "common/maxpool2d_forward.wgsl"
