// split-K partials of d_w (and d_bias) = conv2d_backward_weight(x, d_y): the CPU-adapter (lanes) kernel, 16 columns x 16 channels per subgroup.
const TM: u32 = 2u;
const TN: u32 = 16u;
// #include "common/conv2d_backward_weight_lanes.wgsl"
