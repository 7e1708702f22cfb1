//! CPU mirror of `ops::linear`: x [N, In], w [Out, In], y [N, Out], f64.

/// y = x W^T + bias, then ReLU when `relu`.
pub fn linear_forward(
    x: &[f64],
    w: &[f64],
    bias: Option<&[f64]>,
    y: &mut [f64],
    relu: bool,
    n: usize,
    inputs: usize,
    outputs: usize,
) {
    for r in 0..n {
        for o in 0..outputs {
            let mut acc = bias.map_or(0.0, |b| b[o]);
            for i in 0..inputs {
                acc += x[r * inputs + i] * w[o * inputs + i];
            }
            y[r * outputs + o] = if relu { acc.max(0.0) } else { acc };
        }
    }
}

/// d_x = d_y W.
pub fn linear_backward_input(d_y: &[f64], w: &[f64], d_x: &mut [f64], n: usize, inputs: usize, outputs: usize) {
    for r in 0..n {
        for i in 0..inputs {
            let mut acc = 0.0;
            for o in 0..outputs {
                acc += d_y[r * outputs + o] * w[o * inputs + i];
            }
            d_x[r * inputs + i] = acc;
        }
    }
}

/// d_w = d_y^T x; d_bias = column sums of d_y.
pub fn linear_backward_weight(
    x: &[f64],
    d_y: &[f64],
    d_w: &mut [f64],
    d_bias: Option<&mut [f64]>,
    n: usize,
    inputs: usize,
    outputs: usize,
) {
    for o in 0..outputs {
        for i in 0..inputs {
            let mut acc = 0.0;
            for r in 0..n {
                acc += d_y[r * outputs + o] * x[r * inputs + i];
            }
            d_w[o * inputs + i] = acc;
        }
    }
    if let Some(d) = d_bias {
        for (o, d) in d.iter_mut().enumerate() {
            *d = (0..n).map(|r| d_y[r * outputs + o]).sum();
        }
    }
}
