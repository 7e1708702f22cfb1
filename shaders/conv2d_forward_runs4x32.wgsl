// y = conv2d(x, w) (+ bias) (then ReLU): the CPU-adapter (lanes) kernel for 3-wide kernels, runs of 4 pixels per lane x 32 channels.
const TM: u32 = 4u;
const TN: u32 = 32u;
// #include "common/conv2d_forward_io.wgsl"
// #include "common/conv2d_lanes_runs.wgsl"
