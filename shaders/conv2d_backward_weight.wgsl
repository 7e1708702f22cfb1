// Split-K partials of d_w (and d_bias) = conv2d_backward_weight(x, d_y): the bindings and the column
// helpers of the weight-gradient cores, lib/conv2d_backward_weight_tiled.wgsl (GPUs) and
// lib/conv2d_backward_weight_lanes.wgsl (CPU adapters), one of which is the variant's entry point:
//   C[co, j] = sum over d_y's pixels m = (image, oh, ow) of d_y[m, co] * B[m, j],  j = (dh, dw, ci) < KH*KW*Cin,
//   B[m, j] = x[image, (oh << stride_shift) + dh - pad, (ow << stride_shift) + dw - pad, ci]  (0 outside),
// plus, when HAS_BIAS, the column j = KH*KW*Cin of ones: C[co, KH*KW*Cin] = sum over m of d_y[m, co].
// The N*OH*OW reduction is split into `splits` chunks of `chunk` pixels (grid z): each writes its partial
// C to partial[z] ([splits][Cout][cols]) and conv2d_backward_weight_reduce.wgsl adds the chunks in a fixed
// order (deterministic).
// x: [N, H, W, Cin], d_y: [N, OH, OW, Cout], d_w: [Cout, KH, KW, Cin], d_bias: [Cout].
// #include "lib/conv2d_params.wgsl"

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> d_y: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;

// Column j of B for one thread: its tap offset in pixels and channel, and what kind of column it is.
struct WeightColumn {
    dh: i32,
    dw: i32,
    // x index offset of this column from its window's origin pixel: (dh * W + dw) * Cin + ci
    offset: i32,
    // 0: a weight column, 1: the bias column of ones, 2: past the last column
    kind: u32,
}

fn weight_column(j: u32) -> WeightColumn {
    let kk_total = p.kh * p.kw * p.cin;
    let ci = j % p.cin;
    let tap = j / p.cin;
    var c: WeightColumn;
    c.dh = i32(tap / p.kw) - i32(p.pad);
    c.dw = i32(tap % p.kw) - i32(p.pad);
    c.offset = (c.dh * i32(p.w) + c.dw) * i32(p.cin) + i32(ci);
    c.kind = select(select(2u, 1u, j == kk_total && (p.flags & HAS_BIAS) != 0u), 0u, j < kk_total);
    return c;
}

// The x pixel where the window of d_y pixel (image, oh, ow) starts: (image, oh << stride_shift, ow << ...).
fn window_origin(img: u32, oh: u32, ow: u32) -> u32 {
    return (img * p.h + (oh << p.stride_shift)) * p.w + (ow << p.stride_shift);
}

// B[m, j] for the d_y pixel at (oh, ow) of its image, whose window starts at x pixel `origin`; 0 when
// `live` is false (m past its chunk).
fn weight_column_at(c: WeightColumn, origin: u32, oh: u32, ow: u32, live: bool) -> f32 {
    let ih = i32(oh << p.stride_shift) + c.dh;
    let iw = i32(ow << p.stride_shift) + c.dw;
    let inside = live && ih >= 0 && ih < i32(p.h) && iw >= 0 && iw < i32(p.w) && c.kind == 0u;
    let v = x[select(0u, u32(i32(origin * p.cin) + c.offset), inside)];
    return select(select(0.0, 1.0, live && c.kind == 1u), v, inside);
}
