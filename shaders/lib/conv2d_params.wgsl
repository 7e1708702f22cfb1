// Shape parameters shared by every conv2d kernel (binding 0), mirrored by `Params` in src/ops/conv2d.rs.
// Convolutions are stride 1 with zero padding; a "source" pixel for output pixel (oh, ow) and kernel
// tap (dh, dw) is (oh + dh - off_h, ow + dw - off_w): the forward pass reads x there with off = pad, the
// input gradient reads d_y there with the kernel flipped and off = K - 1 - pad.
struct Params {
    n: u32, h: u32, w: u32, cin: u32,
    cout: u32, kh: u32, kw: u32, pad: u32,
    flags: u32,
    // backward_weight split-K: number of chunks of the N*H*W reduction, chunk length, output columns
    // (KH*KW*Cin, plus one when the bias gradient rides along as a column of ones).
    splits: u32, chunk: u32, cols: u32,
    off_h: u32, off_w: u32,
    // Run kernels: runs of output pixels per image row.
    runs: u32, _p0: u32,
}
const HAS_BIAS: u32 = 1u;
const RELU: u32 = 2u;

@group(0) @binding(0) var<uniform> p: Params;
