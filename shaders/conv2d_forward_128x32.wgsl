// y = conv2d(x, w) (+ bias) (then ReLU): the tiled GPU kernel, 128 x 32 (pixels x channels) per workgroup, 4 x 4 per thread.
const BM: u32 = 128u;
const BN: u32 = 32u;
const TM: u32 = 4u;
const TN: u32 = 4u;
const BK: u32 = 16u;
// #include "common/conv2d_forward_io.wgsl"
// #include "common/conv2d_tiled.wgsl"
