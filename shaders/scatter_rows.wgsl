// f32 variant: any row length. See common/scatter_rows_forward.wgsl.
alias V = f32;
// #include "common/scatter_rows_forward.wgsl"
