// Shared by the pooling kernels (average and max): the uniform block. V, the element type, is the
// variant's (src/ops/grid.rs `Variants`): f32, or vec4<f32> when C % 4 == 0; `c` counts V elements per pixel.
// The grid (lib/grid.wgsl) runs over rows of one side's [N * rows, width * C] view, named per kernel.
// #include "lib/grid.wgsl"
struct Params {
    rows: u32,
    len: u32,
    cw: u32,
    lanes: u32,
    span: u32,
    // x's height and width, channels in V elements, the pooled height and width.
    h: u32,
    w: u32,
    c: u32,
    oh: u32,
    ow: u32,
    // Max pooling's window: kernel, stride, padding (the windowed kernels).
    kernel: u32,
    stride: u32,
    pad: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}
@group(0) @binding(0) var<uniform> p: Params;


// Adaptive pooling windows (PyTorch AdaptiveAvgPool2d): cell i of `out` cells over `len` inputs covers
// [floor(i * len / out), ceil((i + 1) * len / out)).
fn window_start(i: u32, len: u32, out: u32) -> u32 {
    return i * len / out;
}

fn window_end(i: u32, len: u32, out: u32) -> u32 {
    return ((i + 1u) * len + out - 1u) / out;
}
