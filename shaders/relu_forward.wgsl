// f32 variant: any length. See common/relu_forward.wgsl.
alias V = f32;
// #include "common/relu_forward.wgsl"
