//! CPU mirror of the end of a ResNet block: y = relu(batchnorm(x) + r), the residual r added between the
//! batchnorm and the ReLU, in one pass (the batchnorm's normalisation and the add fused). Layout as
//! `batchnorm`: x, r, y [M, C] channels-last (M = N*H*W), per-channel statistics over M; the rest [C].
//! Defined by composing the batchnorm reference with the add and the ReLU.

use super::batchnorm::{batchnorm_backward, batchnorm_forward_eval, batchnorm_forward_train};

/// y = max(v + r, 0) in place of y = v.
fn add_relu(y: &mut [f64], r: &[f64]) {
    assert_eq!(y.len(), r.len(), "batchnorm_add_relu: r length");
    y.iter_mut().zip(r).for_each(|(y, r)| *y = (*y + r).max(0.0));
}

/// Training forward: batch statistics, running_mean/var updated and save_mean/save_invstd written
/// exactly as `batchnorm_forward_train`; y = relu(normalised x * gamma + beta + r).
pub fn batchnorm_add_relu_forward_train(
    x: &[f64],
    r: &[f64],
    gamma: &[f64],
    beta: &[f64],
    running_mean: &mut [f64],
    running_var: &mut [f64],
    save_mean: &mut [f64],
    save_invstd: &mut [f64],
    y: &mut [f64],
) {
    batchnorm_forward_train(x, gamma, beta, running_mean, running_var, save_mean, save_invstd, y, false);
    add_relu(y, r);
}

/// Evaluation forward with the running statistics: y = relu(batchnorm_eval(x) + r).
pub fn batchnorm_add_relu_forward_eval(
    x: &[f64],
    r: &[f64],
    gamma: &[f64],
    beta: &[f64],
    running_mean: &[f64],
    running_var: &[f64],
    y: &mut [f64],
) {
    batchnorm_forward_eval(x, gamma, beta, running_mean, running_var, y, false);
    add_relu(y, r);
}

/// Backward of the training forward. g = d_y where y > 0 (y: the forward's output), else 0; d_r = g (what
/// the shortcut receives); d_x, d_gamma, d_beta are the batchnorm's gradients for g.
pub fn batchnorm_add_relu_backward(
    x: &[f64],
    y: &[f64],
    d_y: &[f64],
    gamma: &[f64],
    save_mean: &[f64],
    save_invstd: &[f64],
    d_x: &mut [f64],
    d_r: &mut [f64],
    d_gamma: &mut [f64],
    d_beta: &mut [f64],
) {
    assert!(y.len() == d_y.len() && d_y.len() == d_r.len(), "batchnorm_add_relu_backward: lengths");
    for ((d_r, &y), &g) in d_r.iter_mut().zip(y).zip(d_y) {
        *d_r = if y > 0.0 { g } else { 0.0 };
    }
    // `y` is not read without the fused ReLU.
    batchnorm_backward(x, x, d_r, gamma, save_mean, save_invstd, d_x, d_gamma, d_beta, false);
}
