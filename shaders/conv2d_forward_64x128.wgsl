// y = conv2d(x, w) (+ bias) (then ReLU): the tiled GPU kernel, 64 x 128 (pixels x channels) per workgroup, 4 x 8 per thread.
const BM: u32 = 64u;
const BN: u32 = 128u;
const TM: u32 = 4u;
const TN: u32 = 8u;
const BK: u32 = 8u;
// #include "common/conv2d_forward_io.wgsl"
// #include "common/conv2d_tiled.wgsl"
