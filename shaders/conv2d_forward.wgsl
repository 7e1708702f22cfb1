// y = conv2d(x, w) (+ bias) (then ReLU): the tiled GPU kernel, 64 x 64 (pixels x channels) per workgroup, 4 x 4 per thread.
const BM: u32 = 64u;
const BN: u32 = 64u;
const TM: u32 = 4u;
const TN: u32 = 4u;
const BK: u32 = 16u;
// #include "common/conv2d_forward_io.wgsl"
// #include "common/conv2d_tiled.wgsl"
