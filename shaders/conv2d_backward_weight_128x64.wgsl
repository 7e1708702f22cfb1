// split-K partials of d_w (and d_bias) = conv2d_backward_weight(x, d_y): the tiled GPU kernel, 128 x 64 (Cout x (KH*KW*Cin [+1])) per workgroup, 8 x 4 per thread.
const BM: u32 = 128u;
const BN: u32 = 64u;
const TM: u32 = 8u;
const TN: u32 = 4u;
const BK: u32 = 8u;
// #include "common/conv2d_backward_weight_tiled.wgsl"
