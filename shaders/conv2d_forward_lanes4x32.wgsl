// y = conv2d(x, w) (+ bias) (then ReLU): the CPU-adapter (lanes) kernel, 32 pixels (4 per lane) x 32 channels per subgroup.
const TM: u32 = 4u;
const TN: u32 = 32u;
// #include "common/conv2d_forward_io.wgsl"
// #include "common/conv2d_lanes_pixels.wgsl"
