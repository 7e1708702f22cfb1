// d_x = conv2d_backward_input(d_y, w): the CPU-adapter (lanes) kernel for 3-wide kernels, runs of 8 pixels per lane x 16 channels.
const TM: u32 = 8u;
const TN: u32 = 16u;
// #include "common/conv2d_backward_input_io.wgsl"
// #include "common/conv2d_lanes_runs.wgsl"
