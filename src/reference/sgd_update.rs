//! CPU mirror of `ops::sgd_update`. params, grads, momentum: one flat slice each, same length.

/// hyper = [lr, momentum, weight_decay, nesterov (0 or 1)]. PyTorch SGD with dampening 0:
/// d = g + wd*w; buf = mu*buf + d; d = nesterov ? d + mu*buf : buf; w -= lr*d. stats = the loss
/// statistics [loss sum, correct, diverged]: nothing changes once diverged is non-zero.
pub fn sgd_update(params: &mut [f64], grads: &[f64], momentum: &mut [f64], hyper: [f64; 4], stats: &[f64]) {
    let [lr, mu, wd, nesterov] = hyper;
    if stats[2] != 0.0 {
        return;
    }
    assert_eq!(grads.len(), params.len());
    assert_eq!(momentum.len(), params.len());
    for ((w, &g), buf) in params.iter_mut().zip(grads).zip(momentum.iter_mut()) {
        let d = g + wd * *w;
        *buf = mu * *buf + d;
        let step = if nesterov != 0.0 { d + mu * *buf } else { *buf };
        *w -= lr * step;
    }
}
