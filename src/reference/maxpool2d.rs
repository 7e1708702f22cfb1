//! CPU mirror of `ops::maxpool2d`: PyTorch's `MaxPool2d(kernel, stride, padding)` in floor mode (the papers'
//! 2x2/2 without padding, the ImageNet stem's 3x3/2 with padding 1).
//! Shapes: x [N, H, W, C], y [N, OH, OW, C], OH = (H + 2 * pad - kernel) / stride + 1 (floor), likewise OW.
//!
//! PyTorch's rules, which a kernel must follow too: the padding is -inf, so it never wins (every window
//! holds at least one element of x because pad <= kernel / 2); a window's gradient goes to its first
//! maximum in raster order (dh, then dw), i.e. a later element must be strictly greater to win a tie;
//! windows overlap when stride < kernel, and d_x then sums what each window sends it.

pub use crate::ops::maxpool2d::MaxPool2dShape;

/// Calls `f(y_index, x_index)` for every output element with the index into x of its window's first
/// maximum.
fn for_each_argmax(s: &MaxPool2dShape, x: &[f64], mut f: impl FnMut(usize, usize)) {
    s.check();
    assert_eq!(x.len(), s.x_len(), "maxpool2d: x length for {s:?}");
    let (oh, ow) = (s.oh(), s.ow());
    for n in 0..s.n {
        for i in 0..oh {
            // The window's rows and columns inside x: the padding is skipped, as it never wins.
            let h0 = (i * s.stride).saturating_sub(s.pad);
            let h1 = (i * s.stride + s.kernel - s.pad).min(s.h);
            for j in 0..ow {
                let w0 = (j * s.stride).saturating_sub(s.pad);
                let w1 = (j * s.stride + s.kernel - s.pad).min(s.w);
                for ch in 0..s.c {
                    let at = |hi: usize, wi: usize| ((n * s.h + hi) * s.w + wi) * s.c + ch;
                    let mut best = at(h0, w0);
                    for hi in h0..h1 {
                        for wi in w0..w1 {
                            if x[at(hi, wi)] > x[best] {
                                best = at(hi, wi);
                            }
                        }
                    }
                    f(((n * oh + i) * ow + j) * s.c + ch, best);
                }
            }
        }
    }
}

/// y[n, i, j, c] = max over the window of x[n, :, :, c] at (i * stride - pad, j * stride - pad).
pub fn maxpool2d_forward(x: &[f64], y: &mut [f64], s: &MaxPool2dShape) {
    assert_eq!(y.len(), s.y_len(), "maxpool2d_forward: y length for {s:?}");
    for_each_argmax(s, x, |yi, xi| y[yi] = x[xi]);
}

/// d_x = the sum of d_y over the windows whose first maximum each element is; zero elsewhere (also on rows
/// and columns no window covers).
pub fn maxpool2d_backward(x: &[f64], d_y: &[f64], d_x: &mut [f64], s: &MaxPool2dShape) {
    assert_eq!(d_y.len(), s.y_len(), "maxpool2d_backward: d_y length for {s:?}");
    assert_eq!(d_x.len(), s.x_len(), "maxpool2d_backward: d_x length for {s:?}");
    d_x.fill(0.0);
    for_each_argmax(s, x, |yi, xi| d_x[xi] += d_y[yi]);
}
