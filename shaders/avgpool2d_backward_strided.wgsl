// f32 variant: any channel count. See common/avgpool2d_backward_strided.wgsl.
alias V = f32;
// #include "common/avgpool2d_backward_strided.wgsl"
