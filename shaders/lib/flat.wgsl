// Shared by the ReLU and SGD kernels: any shape, viewed as a grid (lib/grid.wgsl) of rows of `len` V elements
// (f32, or vec4 when the length is a multiple of 4); `n` counts V elements, the last row may be short.
// #include "lib/grid.wgsl"
struct Params {
    rows: u32,
    len: u32,
    cw: u32,
    lanes: u32,
    span: u32,
    n: u32,
    _p0: u32,
    _p1: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
