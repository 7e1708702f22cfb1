//! CPU mirror of `ops::conv2d`: direct loops, f64. Layout as the GPU: x [N,H,W,Cin], w [Cout,KH,KW,Cin].

pub use crate::ops::conv2d::Conv2dShape;

/// y = conv2d(x, w) + bias, then ReLU when `relu`.
pub fn conv2d_forward(x: &[f64], w: &[f64], bias: Option<&[f64]>, y: &mut [f64], relu: bool, s: &Conv2dShape) {
    let pad = s.pad() as isize;
    for n in 0..s.n {
        for oh in 0..s.h {
            for ow in 0..s.w {
                for co in 0..s.cout {
                    let mut acc = bias.map_or(0.0, |b| b[co]);
                    for kh in 0..s.kh {
                        let ih = oh as isize + kh as isize - pad;
                        if ih < 0 || ih >= s.h as isize {
                            continue;
                        }
                        for kw in 0..s.kw {
                            let iw = ow as isize + kw as isize - pad;
                            if iw < 0 || iw >= s.w as isize {
                                continue;
                            }
                            let xb = ((n * s.h + ih as usize) * s.w + iw as usize) * s.cin;
                            let wb = ((co * s.kh + kh) * s.kw + kw) * s.cin;
                            for ci in 0..s.cin {
                                acc += x[xb + ci] * w[wb + ci];
                            }
                        }
                    }
                    y[((n * s.h + oh) * s.w + ow) * s.cout + co] = if relu { acc.max(0.0) } else { acc };
                }
            }
        }
    }
}

/// d_x = conv2d_backward_input(d_y, w): the gradient of sum(y * d_y) with respect to x.
pub fn conv2d_backward_input(d_y: &[f64], w: &[f64], d_x: &mut [f64], s: &Conv2dShape) {
    let pad = s.pad() as isize;
    d_x.iter_mut().for_each(|v| *v = 0.0);
    for n in 0..s.n {
        for oh in 0..s.h {
            for ow in 0..s.w {
                for co in 0..s.cout {
                    let g = d_y[((n * s.h + oh) * s.w + ow) * s.cout + co];
                    for kh in 0..s.kh {
                        let ih = oh as isize + kh as isize - pad;
                        if ih < 0 || ih >= s.h as isize {
                            continue;
                        }
                        for kw in 0..s.kw {
                            let iw = ow as isize + kw as isize - pad;
                            if iw < 0 || iw >= s.w as isize {
                                continue;
                            }
                            let xb = ((n * s.h + ih as usize) * s.w + iw as usize) * s.cin;
                            let wb = ((co * s.kh + kh) * s.kw + kw) * s.cin;
                            for ci in 0..s.cin {
                                d_x[xb + ci] += g * w[wb + ci];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// d_w = conv2d_backward_weight(x, d_y); d_bias = sum of d_y over N, H, W when given.
pub fn conv2d_backward_weight(x: &[f64], d_y: &[f64], d_w: &mut [f64], d_bias: Option<&mut [f64]>, s: &Conv2dShape) {
    let pad = s.pad() as isize;
    d_w.iter_mut().for_each(|v| *v = 0.0);
    let mut db = vec![0.0; s.cout];
    for n in 0..s.n {
        for oh in 0..s.h {
            for ow in 0..s.w {
                for co in 0..s.cout {
                    let g = d_y[((n * s.h + oh) * s.w + ow) * s.cout + co];
                    db[co] += g;
                    for kh in 0..s.kh {
                        let ih = oh as isize + kh as isize - pad;
                        if ih < 0 || ih >= s.h as isize {
                            continue;
                        }
                        for kw in 0..s.kw {
                            let iw = ow as isize + kw as isize - pad;
                            if iw < 0 || iw >= s.w as isize {
                                continue;
                            }
                            let xb = ((n * s.h + ih as usize) * s.w + iw as usize) * s.cin;
                            let wb = ((co * s.kh + kh) * s.kw + kw) * s.cin;
                            for ci in 0..s.cin {
                                d_w[wb + ci] += g * x[xb + ci];
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(d) = d_bias {
        d.copy_from_slice(&db);
    }
}
