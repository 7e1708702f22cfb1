// d_x = conv2d_backward_input(d_y, w): the CPU-adapter (lanes) kernel, 32 pixels (4 per lane) x 16 channels per subgroup.
const TM: u32 = 4u;
const TN: u32 = 16u;
// #include "common/conv2d_backward_input_io.wgsl"
// #include "common/conv2d_lanes_pixels.wgsl"
