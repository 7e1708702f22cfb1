// f32 variant: any length. See common/relu_backward.wgsl.
alias V = f32;
// #include "common/relu_backward.wgsl"
