// f32 variant: any arena length. See common/sgd_update.wgsl.
alias V = f32;
// #include "common/sgd_update.wgsl"
