// Shape parameters shared by every conv2d kernel (binding 0), mirrored by `Params` in src/ops/conv2d.rs.
// x is [N, H, W, Cin] with zero padding `pad`; the stride is 1 or 2.
// A forward-like dispatch (the forward pass, or one pass of the input gradient) computes rows that are
// the N x OH x OW pixels of a row grid; the "source" pixel of row pixel (r, c) and reduction tap
// (t_h, t_w) is ((r << stride_shift) + t_h - off_h, (c << stride_shift) + t_w - off_w) of a
// src_h x src_w map: the forward pass reads x there (off = pad, the taps are the kernel's); the input
// gradient reads d_y there with the kernel flipped, one pass per phase at stride 2 (the body maps rows
// and taps to d_x pixels and weight taps).
// The weight gradient reduces over d_y's N x OH x OW pixels, reading x at ((oh << stride_shift) + dh - pad, ...).
struct Params {
    n: u32, h: u32, w: u32, cin: u32,
    cout: u32, kh: u32, kw: u32, pad: u32,
    flags: u32,
    // backward_weight split-K: number of chunks of the N*OH*OW reduction, chunk length, output columns
    // (KH*KW*Cin, plus one when the bias gradient rides along as a column of ones).
    splits: u32, chunk: u32, cols: u32,
    oh: u32, ow: u32, src_h: u32, src_w: u32,
    taps_h: u32, taps_w: u32, off_h: i32, off_w: i32,
    stride_shift: u32,
    // Run kernels: runs of output pixels per image row.
    runs: u32,
    // Input gradient: the d_x pixel of row pixel (r, c) is ((r << out_shift) + phase_h, (c << out_shift)
    // + phase_w); tap t multiplies weight tap (wt_h0 - wt_step * t_h, wt_w0 - wt_step * t_w).
    phase_h: u32, phase_w: u32, out_shift: u32,
    wt_h0: u32, wt_w0: u32, wt_step: u32,
}
const HAS_BIAS: u32 = 1u;
const RELU: u32 = 2u;

@group(0) @binding(0) var<uniform> p: Params;
