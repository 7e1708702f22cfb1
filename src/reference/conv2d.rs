//! CPU mirror of `ops::conv2d`, generalised to stride 1 or 2 and kernels 1, 3, 7 (any odd size): direct loops,
//! f64. Layout as the GPU: x [N, H, W, Cin], w [Cout, KH, KW, Cin], y [N, OH, OW, Cout], zero padding KH/2
//! (rows) and KW/2 (columns), as PyTorch's `Conv2d(k, stride, padding=k // 2)`.

pub use crate::ops::conv2d::Conv2dShape;

/// A convolution's geometry, stride included: x [N, H, W, Cin], w [Cout, KH, KW, Cin], y [N, OH, OW, Cout]
/// with OH = (H + 2 * (KH / 2) - KH) / stride + 1 (PyTorch's floor), likewise OW. With odd kernels, stride 1
/// keeps the size and stride 2 halves it, rounding up. A stride-1 `Conv2dShape` converts into one, so the
/// references take either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dGeometry {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub cin: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
}

impl From<Conv2dShape> for Conv2dGeometry {
    fn from(s: Conv2dShape) -> Self {
        Conv2dGeometry { n: s.n, h: s.h, w: s.w, cin: s.cin, cout: s.cout, kh: s.kh, kw: s.kw, stride: 1 }
    }
}

impl Conv2dGeometry {
    pub fn oh(&self) -> usize {
        (self.h + 2 * (self.kh / 2) - self.kh) / self.stride + 1
    }
    pub fn ow(&self) -> usize {
        (self.w + 2 * (self.kw / 2) - self.kw) / self.stride + 1
    }
    pub fn x_len(&self) -> usize {
        self.n * self.h * self.w * self.cin
    }
    pub fn y_len(&self) -> usize {
        self.n * self.oh() * self.ow() * self.cout
    }
    pub fn w_len(&self) -> usize {
        self.cout * self.kh * self.kw * self.cin
    }

    /// Calls `f(out_pixel, tap, in_pixel)` for every output pixel (an index into y's N*OH*OW pixels) and
    /// kernel tap (kh * KW + kw) whose input pixel (an index into x's N*H*W pixels) lies inside x: the
    /// zero padding contributes nothing, so it is skipped.
    fn for_each_tap(&self, mut f: impl FnMut(usize, usize, usize)) {
        assert!(self.kh % 2 == 1 && self.kw % 2 == 1, "conv2d: odd kernel sizes only, got {}x{}", self.kh, self.kw);
        assert!(self.stride >= 1, "conv2d: stride 0");
        let (oh, ow) = (self.oh(), self.ow());
        let (pad_h, pad_w) = ((self.kh / 2) as isize, (self.kw / 2) as isize);
        for n in 0..self.n {
            for i in 0..oh {
                for j in 0..ow {
                    let out_pixel = (n * oh + i) * ow + j;
                    for dh in 0..self.kh {
                        let ih = (i * self.stride + dh) as isize - pad_h;
                        if ih < 0 || ih >= self.h as isize {
                            continue;
                        }
                        for dw in 0..self.kw {
                            let iw = (j * self.stride + dw) as isize - pad_w;
                            if iw < 0 || iw >= self.w as isize {
                                continue;
                            }
                            f(out_pixel, dh * self.kw + dw, (n * self.h + ih as usize) * self.w + iw as usize);
                        }
                    }
                }
            }
        }
    }

    fn check(&self, x: usize, w: usize, y: usize) {
        assert_eq!(x, self.x_len(), "conv2d: x length for {self:?}");
        assert_eq!(w, self.w_len(), "conv2d: w length for {self:?}");
        assert_eq!(y, self.y_len(), "conv2d: y length for {self:?}");
    }
}

/// y = conv2d(x, w) + bias, then ReLU when `relu`. `s`: a `Conv2dGeometry` or a stride-1 `Conv2dShape`.
pub fn conv2d_forward(
    x: &[f64],
    w: &[f64],
    bias: Option<&[f64]>,
    y: &mut [f64],
    relu: bool,
    s: &(impl Into<Conv2dGeometry> + Copy),
) {
    let s: Conv2dGeometry = (*s).into();
    s.check(x.len(), w.len(), y.len());
    let (cin, cout, taps) = (s.cin, s.cout, s.kh * s.kw);
    for pixel in y.chunks_exact_mut(cout) {
        pixel.iter_mut().enumerate().for_each(|(co, v)| *v = bias.map_or(0.0, |b| b[co]));
    }
    s.for_each_tap(|op, tap, ip| {
        let xs = &x[ip * cin..(ip + 1) * cin];
        for co in 0..cout {
            let ws = &w[(co * taps + tap) * cin..(co * taps + tap + 1) * cin];
            y[op * cout + co] += xs.iter().zip(ws).map(|(a, b)| a * b).sum::<f64>();
        }
    });
    if relu {
        y.iter_mut().for_each(|v| *v = v.max(0.0));
    }
}

/// d_x = conv2d_backward_input(d_y, w): the gradient of sum(y * d_y) with respect to x. Input pixels no
/// window reaches (under a 1x1 kernel at stride 2, every odd row and column) get zero.
pub fn conv2d_backward_input(d_y: &[f64], w: &[f64], d_x: &mut [f64], s: &(impl Into<Conv2dGeometry> + Copy)) {
    let s: Conv2dGeometry = (*s).into();
    s.check(d_x.len(), w.len(), d_y.len());
    let (cin, cout, taps) = (s.cin, s.cout, s.kh * s.kw);
    d_x.fill(0.0);
    s.for_each_tap(|op, tap, ip| {
        for co in 0..cout {
            let g = d_y[op * cout + co];
            let ws = &w[(co * taps + tap) * cin..(co * taps + tap + 1) * cin];
            d_x[ip * cin..(ip + 1) * cin].iter_mut().zip(ws).for_each(|(d, wv)| *d += g * wv);
        }
    });
}

/// d_w = conv2d_backward_weight(x, d_y); d_bias = sum of d_y over N, OH, OW when given.
pub fn conv2d_backward_weight(
    x: &[f64],
    d_y: &[f64],
    d_w: &mut [f64],
    d_bias: Option<&mut [f64]>,
    s: &(impl Into<Conv2dGeometry> + Copy),
) {
    let s: Conv2dGeometry = (*s).into();
    s.check(x.len(), d_w.len(), d_y.len());
    let (cin, cout, taps) = (s.cin, s.cout, s.kh * s.kw);
    d_w.fill(0.0);
    s.for_each_tap(|op, tap, ip| {
        let xs = &x[ip * cin..(ip + 1) * cin];
        for co in 0..cout {
            let g = d_y[op * cout + co];
            d_w[(co * taps + tap) * cin..(co * taps + tap + 1) * cin]
                .iter_mut()
                .zip(xs)
                .for_each(|(d, xv)| *d += g * xv);
        }
    });
    if let Some(d_bias) = d_bias {
        d_bias.fill(0.0);
        for pixel in d_y.chunks_exact(cout) {
            d_bias.iter_mut().zip(pixel).for_each(|(d, g)| *d += g);
        }
    }
}
