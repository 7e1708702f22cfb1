// vec4 variant: row lengths that are a multiple of 4. See common/gather_rows_forward.wgsl.
alias V = vec4<f32>;
// #include "common/gather_rows_forward.wgsl"
