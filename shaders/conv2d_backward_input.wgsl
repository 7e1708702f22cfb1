// d_x = conv2d_backward_input(d_y, w): the bindings and accessors through which an implicit-GEMM core (the
// forward's: see conv2d_forward.wgsl) runs the input gradient, a forward pass over d_y with the kernel
// flipped and its channel axes swapped,
//   C[m, ci] = sum over taps (t_h, t_w) and source channels co of
//   d_y[pixel(m) + t - off, co] * w[co, wt_h0 - wt_step * t_h, wt_w0 - wt_step * t_w, ci].
// At stride 1 the rows are d_x's pixels and tap t is kernel tap K - 1 - t; at stride 2 one dispatch per
// phase covers the d_x pixels (2r + phase_h, 2c + phase_w) with the taps that reach them (src/ops/conv2d.rs).
// d_y: [N, OH, OW, Cout], w: [Cout, KH, KW, Cin], d_x: [N, H, W, Cin].
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
fn wt_base(col: u32, th: u32, tw: u32) -> u32 {
    return ((p.wt_h0 - p.wt_step * th) * p.kw + (p.wt_w0 - p.wt_step * tw)) * p.cin + col;
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
// The pixel of d_x that row m is: rows are the pixels of this pass's phase, (r << out_shift) + phase.
fn out_pixel(m: u32) -> u32 {
    let hw = p.oh * p.ow;
    let img = m / hw;
    let rem = m - img * hw;
    let r = rem / p.ow;
    let c = rem - r * p.ow;
    return (img * p.h + (r << p.out_shift) + p.phase_h) * p.w + (c << p.out_shift) + p.phase_w;
}
fn out_write(px: u32, col: u32, v: f32) {
    d_x[px * p.cin + col] = v;
}
