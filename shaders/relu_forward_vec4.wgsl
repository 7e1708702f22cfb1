// vec4 variant: lengths that are a multiple of 4. See common/relu_forward.wgsl.
alias V = vec4<f32>;
// #include "common/relu_forward.wgsl"
