// d_x = conv2d_backward_input(d_y, w): the tiled GPU kernel, 128 x 128 (pixels x channels) per workgroup, 8 x 8 per thread.
const BM: u32 = 128u;
const BN: u32 = 128u;
const TM: u32 = 8u;
const TN: u32 = 8u;
const BK: u32 = 8u;
// #include "common/conv2d_backward_input_io.wgsl"
// #include "common/conv2d_tiled.wgsl"
