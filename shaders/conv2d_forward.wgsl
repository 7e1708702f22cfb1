// y = conv2d(x, w) (+ bias) (then ReLU): the bindings and the accessors through which an implicit-GEMM core
// runs the forward pass, C[m, co] = sum over taps (dh, dw) and source channels ci of
//   src[pixel(m) + tap, ci] * w[co, dh, dw, ci],  then + bias[co], then ReLU.
// x: [N, H, W, Cin], w: [Cout, KH, KW, Cin], bias: [Cout], y: [N, OH, OW, Cout] (the row grid).
// The entry point is the variant's core (src/ops/conv2d/variants.rs): lib/conv2d_tiled.wgsl for GPUs,
// lib/conv2d_lanes.wgsl or lib/conv2d_runs.wgsl for CPU adapters; conv2d_backward_input.wgsl is the same
// cores' other user.
// #include "lib/conv2d_params.wgsl"

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

// Whether consecutive reduction indices of one output column are adjacent in w (w[co, k] is contiguous along k).
const WT_ALONG_K: bool = true;

fn src_channels() -> u32 {
    return p.cin;
}
fn out_channels() -> u32 {
    return p.cout;
}
fn src_at(i: u32) -> f32 {
    return x[i];
}
fn wt_at(i: u32) -> f32 {
    return wt[i];
}
// Index into w of output column `col`, source channel 0, tap (dh, dw); the step between source channels.
fn wt_base(col: u32, dh: u32, dw: u32) -> u32 {
    return ((col * p.kh + dh) * p.kw + dw) * p.cin;
}
fn wt_channel_stride() -> u32 {
    return 1u;
}
// The epilogue, split so the lanes kernels can load the bias once per column and keep the stores free
// of branches (a branch there stops the driver from unrolling the store loop, and the accumulators would
// then live in memory): y = act(acc + bias).
fn out_bias(col: u32) -> f32 {
    // Without a bias the weight is bound in its place; col < Cout is always inside it.
    return select(0.0, bias[col], (p.flags & HAS_BIAS) != 0u);
}
fn out_activate(v: vec4<f32>) -> vec4<f32> {
    return select(v, max(v, vec4<f32>(0.0)), (p.flags & RELU) != 0u);
}
// The pixel of y that row m is (rows are y's pixels).
fn out_pixel(m: u32) -> u32 {
    return m;
}
fn out_write(px: u32, col: u32, v: f32) {
    y[px * p.cout + col] = v;
}
