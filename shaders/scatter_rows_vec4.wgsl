// vec4 variant: row lengths that are a multiple of 4. See common/scatter_rows_forward.wgsl.
alias V = vec4<f32>;
// #include "common/scatter_rows_forward.wgsl"
