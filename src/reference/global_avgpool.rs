//! CPU mirror of the global average pooling a ResNet ends with (`AdaptiveAvgPool2d(1)` then flatten):
//! x [N, H, W, C] -> y [N, C]. It equals `avgpool2d` to a 1x1 map; a kernel of its own reduces H*W
//! pixels per (image, channel) instead of tiling windows.

/// y[n, c] = mean of x[n, :, :, c].
pub fn global_avgpool_forward(x: &[f64], y: &mut [f64], n: usize, h: usize, w: usize, c: usize) {
    assert_eq!(x.len(), n * h * w * c, "global_avgpool_forward: x length");
    assert_eq!(y.len(), n * c, "global_avgpool_forward: y length");
    let pixels = h * w;
    for (image, y) in x.chunks_exact(pixels * c).zip(y.chunks_exact_mut(c)) {
        y.fill(0.0);
        for pixel in image.chunks_exact(c) {
            y.iter_mut().zip(pixel).for_each(|(acc, v)| *acc += v);
        }
        y.iter_mut().for_each(|v| *v /= pixels as f64);
    }
}

/// d_x[n, h, w, c] = d_y[n, c] / (H * W).
pub fn global_avgpool_backward(d_y: &[f64], d_x: &mut [f64], n: usize, h: usize, w: usize, c: usize) {
    assert_eq!(d_x.len(), n * h * w * c, "global_avgpool_backward: d_x length");
    assert_eq!(d_y.len(), n * c, "global_avgpool_backward: d_y length");
    let pixels = h * w;
    for (image, g) in d_x.chunks_exact_mut(pixels * c).zip(d_y.chunks_exact(c)) {
        for pixel in image.chunks_exact_mut(c) {
            pixel.iter_mut().zip(g).for_each(|(d, g)| *d = g / pixels as f64);
        }
    }
}
