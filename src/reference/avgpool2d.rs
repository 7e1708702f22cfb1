//! CPU mirror of `ops::avgpool2d` (PyTorch AdaptiveAvgPool2d). Shapes: x [N, H, W, C], y [N, OH, OW, C].

/// Rows (or columns) [start, end) that output cell `i` of `out` averages over `len` inputs.
fn window(i: usize, len: usize, out: usize) -> (usize, usize) {
    (i * len / out, ((i + 1) * len).div_ceil(out))
}

/// y[n, i, j, c] = mean of x over window rows x window columns of cell (i, j).
#[allow(clippy::too_many_arguments)]
pub fn avgpool2d_forward(x: &[f64], y: &mut [f64], n: usize, h: usize, w: usize, c: usize, oh: usize, ow: usize) {
    assert_eq!(x.len(), n * h * w * c);
    assert_eq!(y.len(), n * oh * ow * c);
    for ni in 0..n {
        for i in 0..oh {
            let (h0, h1) = window(i, h, oh);
            for j in 0..ow {
                let (w0, w1) = window(j, w, ow);
                for ci in 0..c {
                    let mut acc = 0.0;
                    for hi in h0..h1 {
                        for wi in w0..w1 {
                            acc += x[((ni * h + hi) * w + wi) * c + ci];
                        }
                    }
                    y[((ni * oh + i) * ow + j) * c + ci] = acc / ((h1 - h0) * (w1 - w0)) as f64;
                }
            }
        }
    }
}

/// Each d_y cell spreads evenly over its window; overlapping windows add up.
#[allow(clippy::too_many_arguments)]
pub fn avgpool2d_backward(d_y: &[f64], d_x: &mut [f64], n: usize, h: usize, w: usize, c: usize, oh: usize, ow: usize) {
    assert_eq!(d_x.len(), n * h * w * c);
    assert_eq!(d_y.len(), n * oh * ow * c);
    d_x.fill(0.0);
    for ni in 0..n {
        for i in 0..oh {
            let (h0, h1) = window(i, h, oh);
            for j in 0..ow {
                let (w0, w1) = window(j, w, ow);
                for ci in 0..c {
                    let g = d_y[((ni * oh + i) * ow + j) * c + ci] / ((h1 - h0) * (w1 - w0)) as f64;
                    for hi in h0..h1 {
                        for wi in w0..w1 {
                            d_x[((ni * h + hi) * w + wi) * c + ci] += g;
                        }
                    }
                }
            }
        }
    }
}
