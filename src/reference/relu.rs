//! CPU mirror of `ops::relu`.

/// y = max(x, 0).
pub fn relu_forward(x: &[f64], y: &mut [f64]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = x.max(0.0);
    }
}

/// d_x = d_y where x > 0.
pub fn relu_backward(x: &[f64], d_y: &[f64], d_x: &mut [f64]) {
    for ((d_x, &x), &g) in d_x.iter_mut().zip(x).zip(d_y) {
        *d_x = if x > 0.0 { g } else { 0.0 };
    }
}
