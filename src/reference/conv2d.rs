//! CPU mirror of `ops::conv2d`: stride 1 or 2 (any stride) and kernels 1, 3, 7 (any odd size): direct loops,
//! f64. Layout as the GPU: x [N, H, W, Cin], w [Cout, KH, KW, Cin], y [N, OH, OW, Cout], zero padding KH/2
//! (rows) and KW/2 (columns), as PyTorch's `Conv2d(k, stride, padding=k // 2)`.

pub use crate::ops::conv2d::Conv2dShape;

/// A convolution's geometry, stride included: x [N, H, W, Cin], w [Cout, KH, KW, Cin], y [N, OH, OW, Cout]
/// with OH = (H + 2 * (KH / 2) - KH) / stride + 1 (PyTorch's floor), likewise OW. With odd kernels, stride 1
/// keeps the size and stride 2 halves it, rounding up. The GPU kernels' `Conv2dShape` (which they run at
/// stride 1 or 2; the references take any stride).
pub type Conv2dGeometry = Conv2dShape;

/// Calls `f(out_pixel, tap, in_pixel)` for every output pixel (an index into y's N*OH*OW pixels) and
/// kernel tap (kh * KW + kw) whose input pixel (an index into x's N*H*W pixels) lies inside x: the
/// zero padding contributes nothing, so it is skipped.
fn for_each_tap(s: &Conv2dGeometry, mut f: impl FnMut(usize, usize, usize)) {
    assert!(s.kh % 2 == 1 && s.kw % 2 == 1, "conv2d: odd kernel sizes only, got {}x{}", s.kh, s.kw);
    assert!(s.stride >= 1, "conv2d: stride 0");
    let (oh, ow) = (s.oh(), s.ow());
    let (pad_h, pad_w) = ((s.kh / 2) as isize, (s.kw / 2) as isize);
    for n in 0..s.n {
        for i in 0..oh {
            for j in 0..ow {
                let out_pixel = (n * oh + i) * ow + j;
                for dh in 0..s.kh {
                    let ih = (i * s.stride + dh) as isize - pad_h;
                    if ih < 0 || ih >= s.h as isize {
                        continue;
                    }
                    for dw in 0..s.kw {
                        let iw = (j * s.stride + dw) as isize - pad_w;
                        if iw < 0 || iw >= s.w as isize {
                            continue;
                        }
                        f(out_pixel, dh * s.kw + dw, (n * s.h + ih as usize) * s.w + iw as usize);
                    }
                }
            }
        }
    }
}

fn check(s: &Conv2dGeometry, x: usize, w: usize, y: usize) {
    assert_eq!(x, s.x_len(), "conv2d: x length for {s:?}");
    assert_eq!(w, s.w_len(), "conv2d: w length for {s:?}");
    assert_eq!(y, s.y_len(), "conv2d: y length for {s:?}");
}

/// y = conv2d(x, w) + bias, then ReLU when `relu`.
pub fn conv2d_forward(x: &[f64], w: &[f64], bias: Option<&[f64]>, y: &mut [f64], relu: bool, s: &Conv2dGeometry) {
    check(s, x.len(), w.len(), y.len());
    let (cin, cout, taps) = (s.cin, s.cout, s.kh * s.kw);
    for pixel in y.chunks_exact_mut(cout) {
        pixel.iter_mut().enumerate().for_each(|(co, v)| *v = bias.map_or(0.0, |b| b[co]));
    }
    for_each_tap(s, |op, tap, ip| {
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
pub fn conv2d_backward_input(d_y: &[f64], w: &[f64], d_x: &mut [f64], s: &Conv2dGeometry) {
    check(s, d_x.len(), w.len(), d_y.len());
    let (cin, cout, taps) = (s.cin, s.cout, s.kh * s.kw);
    d_x.fill(0.0);
    for_each_tap(s, |op, tap, ip| {
        for co in 0..cout {
            let g = d_y[op * cout + co];
            let ws = &w[(co * taps + tap) * cin..(co * taps + tap + 1) * cin];
            d_x[ip * cin..(ip + 1) * cin].iter_mut().zip(ws).for_each(|(d, wv)| *d += g * wv);
        }
    });
}

/// d_w = conv2d_backward_weight(x, d_y); d_bias = sum of d_y over N, OH, OW when given.
pub fn conv2d_backward_weight(x: &[f64], d_y: &[f64], d_w: &mut [f64], d_bias: Option<&mut [f64]>, s: &Conv2dGeometry) {
    check(s, x.len(), d_w.len(), d_y.len());
    let (cin, cout, taps) = (s.cin, s.cout, s.kh * s.kw);
    d_w.fill(0.0);
    for_each_tap(s, |op, tap, ip| {
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
