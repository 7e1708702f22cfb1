//! CPU mirror of `ops::maxpool2d`, generalised to PyTorch's `MaxPool2d(kernel, stride, padding)` in floor
//! mode: today's kernel is 2x2/2 without padding, the ImageNet stem needs 3x3/2 with padding 1.
//! Shapes: x [N, H, W, C], y [N, OH, OW, C], OH = (H + 2 * pad - kernel) / stride + 1 (floor), likewise OW.
//!
//! PyTorch's rules, which a kernel must follow too: the padding is -inf, so it never wins (every window
//! holds at least one element of x because pad <= kernel / 2); a window's gradient goes to its first
//! maximum in raster order (dh, then dw), i.e. a later element must be strictly greater to win a tie;
//! windows overlap when stride < kernel, and d_x then sums what each window sends it.

/// How many windows of `kernel` at `stride` fit in `len` (floor mode).
fn windows(len: usize, kernel: usize, stride: usize) -> usize {
    if len < kernel {
        0
    } else {
        (len - kernel) / stride + 1
    }
}

/// Geometry of one max pooling: x's size and the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool2dShape {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
}

impl MaxPool2dShape {
    /// 2x2 windows, stride 2, no padding: the papers' downsampling (an odd last row or column is dropped).
    pub fn two_by_two(n: usize, h: usize, w: usize, c: usize) -> Self {
        MaxPool2dShape { n, h, w, c, kernel: 2, stride: 2, pad: 0 }
    }
    /// Output rows; 0 when the padded input is smaller than the window (PyTorch refuses that shape; the
    /// kernel gives an empty output and a zero gradient).
    pub fn oh(&self) -> usize {
        windows(self.h + 2 * self.pad, self.kernel, self.stride)
    }
    pub fn ow(&self) -> usize {
        windows(self.w + 2 * self.pad, self.kernel, self.stride)
    }
    pub fn x_len(&self) -> usize {
        self.n * self.h * self.w * self.c
    }
    pub fn y_len(&self) -> usize {
        self.n * self.oh() * self.ow() * self.c
    }

    /// Calls `f(y_index, x_index)` for every output element with the index into x of its window's first
    /// maximum.
    fn for_each_argmax(&self, x: &[f64], mut f: impl FnMut(usize, usize)) {
        let s = self;
        assert!(s.kernel >= 1 && s.stride >= 1, "maxpool2d: kernel and stride must be positive, got {s:?}");
        assert!(
            2 * s.pad <= s.kernel,
            "maxpool2d: padding must be at most half the kernel (PyTorch's rule), got {s:?}"
        );
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
}

/// y[n, i, j, c] = max over the window of x[n, :, :, c] at (i * stride - pad, j * stride - pad).
pub fn maxpool2d_forward(x: &[f64], y: &mut [f64], s: &MaxPool2dShape) {
    assert_eq!(y.len(), s.y_len(), "maxpool2d_forward: y length for {s:?}");
    s.for_each_argmax(x, |yi, xi| y[yi] = x[xi]);
}

/// d_x = the sum of d_y over the windows whose first maximum each element is; zero elsewhere (also on rows
/// and columns no window covers).
pub fn maxpool2d_backward(x: &[f64], d_y: &[f64], d_x: &mut [f64], s: &MaxPool2dShape) {
    assert_eq!(d_y.len(), s.y_len(), "maxpool2d_backward: d_y length for {s:?}");
    assert_eq!(d_x.len(), s.x_len(), "maxpool2d_backward: d_x length for {s:?}");
    d_x.fill(0.0);
    s.for_each_argmax(x, |yi, xi| d_x[xi] += d_y[yi]);
}
