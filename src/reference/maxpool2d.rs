//! CPU mirror of `ops::maxpool2d`: 2x2 windows, stride 2, floor mode. Shapes are x's: [N, H, W, C].

/// Index into x of the first maximum, in (dh, dw) raster order, of the window whose top-left element
/// is x[corner]; `c` and `row` are the strides of one column and one row.
fn argmax(x: &[f64], corner: usize, c: usize, row: usize) -> usize {
    let mut best = corner;
    for at in [corner + c, corner + row, corner + row + c] {
        if x[at] > x[best] {
            best = at;
        }
    }
    best
}

/// y[n, i, j, c] = max over x[n, 2i..2i+2, 2j..2j+2, c]; y: [N, H/2, W/2, C].
pub fn maxpool2d_forward(x: &[f64], y: &mut [f64], n: usize, h: usize, w: usize, c: usize) {
    let (oh, ow) = (h / 2, w / 2);
    assert_eq!(x.len(), n * h * w * c);
    assert_eq!(y.len(), n * oh * ow * c);
    for ni in 0..n {
        for i in 0..oh {
            for j in 0..ow {
                for ci in 0..c {
                    y[((ni * oh + i) * ow + j) * c + ci] =
                        x[argmax(x, ((ni * h + 2 * i) * w + 2 * j) * c + ci, c, w * c)];
                }
            }
        }
    }
}

/// d_x = d_y at each window's first maximum, zero elsewhere (also on an odd trailing row/column).
pub fn maxpool2d_backward(x: &[f64], d_y: &[f64], d_x: &mut [f64], n: usize, h: usize, w: usize, c: usize) {
    let (oh, ow) = (h / 2, w / 2);
    assert_eq!(x.len(), n * h * w * c);
    assert_eq!(d_y.len(), n * oh * ow * c);
    assert_eq!(d_x.len(), x.len());
    d_x.fill(0.0);
    for ni in 0..n {
        for i in 0..oh {
            for j in 0..ow {
                for ci in 0..c {
                    d_x[argmax(x, ((ni * h + 2 * i) * w + 2 * j) * c + ci, c, w * c)] +=
                        d_y[((ni * oh + i) * ow + j) * c + ci];
                }
            }
        }
    }
}
