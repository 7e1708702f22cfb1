//! CPU mirror of `ops::space_to_depth`. Shapes are x's: [N, H, W, C] with H, W even.

/// y[n, i, j, (dh*2 + dw)*C + c] = x[n, 2i + dh, 2j + dw, c].
pub fn space_to_depth_forward(x: &[f64], y: &mut [f64], n: usize, h: usize, w: usize, c: usize) {
    assert!(h % 2 == 0 && w % 2 == 0);
    assert_eq!(x.len(), n * h * w * c);
    assert_eq!(y.len(), x.len());
    for ni in 0..n {
        for hi in 0..h {
            for wi in 0..w {
                for ci in 0..c {
                    let q = (hi % 2) * 2 + wi % 2;
                    y[((ni * (h / 2) + hi / 2) * (w / 2) + wi / 2) * 4 * c + q * c + ci] =
                        x[((ni * h + hi) * w + wi) * c + ci];
                }
            }
        }
    }
}

/// The inverse permutation: d_x[n, 2i + dh, 2j + dw, c] = d_y[n, i, j, (dh*2 + dw)*C + c].
pub fn space_to_depth_backward(d_y: &[f64], d_x: &mut [f64], n: usize, h: usize, w: usize, c: usize) {
    assert!(h % 2 == 0 && w % 2 == 0);
    assert_eq!(d_x.len(), n * h * w * c);
    assert_eq!(d_y.len(), d_x.len());
    for ni in 0..n {
        for hi in 0..h {
            for wi in 0..w {
                for ci in 0..c {
                    let q = (hi % 2) * 2 + wi % 2;
                    d_x[((ni * h + hi) * w + wi) * c + ci] =
                        d_y[((ni * (h / 2) + hi / 2) * (w / 2) + wi / 2) * 4 * c + q * c + ci];
                }
            }
        }
    }
}
