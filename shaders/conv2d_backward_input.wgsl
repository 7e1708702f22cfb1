// d_x = conv2d_backward_input(d_y, w): the bindings and accessors through which an implicit-GEMM core (the
// forward's: see conv2d_forward.wgsl) runs the input gradient, a forward pass over d_y with the kernel
// flipped and its channel axes swapped,
//   C[m, ci] = sum over taps (dh, dw) and source channels co of
//   d_y[pixel(m) + tap, co] * w[co, KH - 1 - dh, KW - 1 - dw, ci].
// d_y: [N, H, W, Cout], w: [Cout, KH, KW, Cin], d_x: [N, H, W, Cin].
// #include "lib/conv2d_params.wgsl"

@group(0) @binding(1) var<storage, read> d_y: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read_write> d_x: array<f32>;

// Whether consecutive reduction indices of one output column are adjacent in w (w[co, tap, ci] is contiguous along the output column ci).
const WT_ALONG_K: bool = false;

fn src_channels() -> u32 {
    return p.cout;
}
fn out_channels() -> u32 {
    return p.cin;
}
fn src_at(i: u32) -> f32 {
    return d_y[i];
}
fn wt_at(i: u32) -> f32 {
    return wt[i];
}
fn wt_base(col: u32, dh: u32, dw: u32) -> u32 {
    return ((p.kh - 1u - dh) * p.kw + (p.kw - 1u - dw)) * p.cin + col;
}
fn wt_channel_stride() -> u32 {
    return p.kh * p.kw * p.cin;
}
fn out_bias(col: u32) -> f32 {
    return 0.0;
}
fn out_activate(v: vec4<f32>) -> vec4<f32> {
    return v;
}
fn out_write(m: u32, col: u32, v: f32) {
    d_x[m * p.cin + col] = v;
}
