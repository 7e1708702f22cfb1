// f32 variant: any row length. See common/gather_rows_forward.wgsl.
alias V = f32;
// #include "common/gather_rows_forward.wgsl"
