//! CPU mirror of `ops::batchnorm`: x is [M, C] channels-last (M = N*H*W or N), per-channel statistics
//! over M. Plain two-pass loops in f64. The GPU functions' workspace has no counterpart here.

// PyTorch's defaults as f64 (the kernels use `ops::batchnorm::BN_EPS`/`BN_MOMENTUM`, their f32 roundings).
const EPS: f64 = 1e-5;
const MOMENTUM: f64 = 0.1;

/// Training forward; updates running_mean/var in place (unbiased variance, momentum 0.1) and writes the
/// batch mean and 1/sqrt(biased var + eps) to save_mean/save_invstd. x, y: [M, C]; the rest [C].
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward_train(
    x: &[f64],
    gamma: &[f64],
    beta: &[f64],
    running_mean: &mut [f64],
    running_var: &mut [f64],
    save_mean: &mut [f64],
    save_invstd: &mut [f64],
    y: &mut [f64],
    relu: bool,
) {
    let c = gamma.len();
    let m = x.len() / c;
    assert!(m >= 2, "training batchnorm needs at least two rows");
    for ch in 0..c {
        let mut sum = 0.0;
        for r in 0..m {
            sum += x[r * c + ch];
        }
        let mean = sum / m as f64;
        let mut ss = 0.0;
        for r in 0..m {
            let d = x[r * c + ch] - mean;
            ss += d * d;
        }
        let invstd = 1.0 / (ss / m as f64 + EPS).sqrt();
        for r in 0..m {
            let v = (x[r * c + ch] - mean) * invstd * gamma[ch] + beta[ch];
            y[r * c + ch] = if relu { v.max(0.0) } else { v };
        }
        save_mean[ch] = mean;
        save_invstd[ch] = invstd;
        running_mean[ch] = (1.0 - MOMENTUM) * running_mean[ch] + MOMENTUM * mean;
        running_var[ch] = (1.0 - MOMENTUM) * running_var[ch] + MOMENTUM * ss / (m - 1) as f64;
    }
}

/// Evaluation forward with the running statistics. x, y: [M, C]; the rest [C].
pub fn batchnorm_forward_eval(
    x: &[f64],
    gamma: &[f64],
    beta: &[f64],
    running_mean: &[f64],
    running_var: &[f64],
    y: &mut [f64],
    relu: bool,
) {
    let c = gamma.len();
    for (i, (y, &x)) in y.iter_mut().zip(x).enumerate() {
        let ch = i % c;
        let v = (x - running_mean[ch]) / (running_var[ch] + EPS).sqrt() * gamma[ch] + beta[ch];
        *y = if relu { v.max(0.0) } else { v };
    }
}

/// Backward of the training forward. With `relu`, g = d_y where y > 0 (y: the forward's ReLU output),
/// else g = d_y and y is unused. x, y, d_y, d_x: [M, C]; the rest [C].
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    x: &[f64],
    y: &[f64],
    d_y: &[f64],
    gamma: &[f64],
    save_mean: &[f64],
    save_invstd: &[f64],
    d_x: &mut [f64],
    d_gamma: &mut [f64],
    d_beta: &mut [f64],
    relu: bool,
) {
    let c = gamma.len();
    let m = x.len() / c;
    let g = |i: usize| if !relu || y[i] > 0.0 { d_y[i] } else { 0.0 };
    for ch in 0..c {
        let (mean, invstd) = (save_mean[ch], save_invstd[ch]);
        let (mut sg, mut sgx) = (0.0, 0.0);
        for r in 0..m {
            let i = r * c + ch;
            sg += g(i);
            sgx += g(i) * (x[i] - mean) * invstd;
        }
        d_beta[ch] = sg;
        d_gamma[ch] = sgx;
        let (mean_g, mean_gx) = (sg / m as f64, sgx / m as f64);
        for r in 0..m {
            let i = r * c + ch;
            let xhat = (x[i] - mean) * invstd;
            d_x[i] = gamma[ch] * invstd * (g(i) - mean_g - xhat * mean_gx);
        }
    }
}
