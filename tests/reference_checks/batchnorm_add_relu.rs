use crate::common::*;
use crate::vectors::{assert_rel, load};
use layerwise::reference;

/// Training forward (y, running statistics), backward (d_x, d_r, d_gamma, d_beta) and the evaluation
/// forward with the updated statistics, against PyTorch's relu(bn(x) + r).
#[test]
fn batchnorm_add_relu_matches_pytorch() {
    let get = |name: &str| load(&format!("batchnorm_add_relu.{name}"));
    let (x, r, gamma, beta) = (get("x"), get("r"), get("gamma"), get("beta"));
    let c = gamma.len();
    let (mut rm, mut rv) = (get("running_mean_before"), get("running_var_before"));
    let (mut save_mean, mut save_invstd) = (vec![0.0; c], vec![0.0; c]);
    let mut y = vec![0.0; x.len()];
    reference::batchnorm_add_relu_forward_train(
        &x,
        &r,
        &gamma,
        &beta,
        &mut rm,
        &mut rv,
        &mut save_mean,
        &mut save_invstd,
        &mut y,
    );
    assert_rel("y", &y, &get("y"), 1e-12);
    assert!(y.contains(&0.0) && y.iter().any(|&v| v > 0.0), "the case must exercise the ReLU");
    assert_rel("running_mean", &rm, &get("running_mean_after"), 1e-12);
    assert_rel("running_var", &rv, &get("running_var_after"), 1e-12);

    let (mut d_x, mut d_r) = (vec![0.0; x.len()], vec![0.0; x.len()]);
    let (mut d_gamma, mut d_beta) = (vec![0.0; c], vec![0.0; c]);
    reference::batchnorm_add_relu_backward(
        &x,
        &y,
        &get("d_y"),
        &gamma,
        &save_mean,
        &save_invstd,
        &mut d_x,
        &mut d_r,
        &mut d_gamma,
        &mut d_beta,
    );
    for (what, got, want) in [("d_x", &d_x, "d_x"), ("d_r", &d_r, "d_r"), ("d_gamma", &d_gamma, "d_gamma")] {
        assert_rel(what, got, &get(want), 1e-10);
    }
    assert_rel("d_beta", &d_beta, &get("d_beta"), 1e-10);

    let mut y_eval = vec![0.0; x.len()];
    reference::batchnorm_add_relu_forward_eval(&get("x_eval"), &get("r_eval"), &gamma, &beta, &rm, &rv, &mut y_eval);
    assert_rel("y_eval", &y_eval, &get("y_eval"), 1e-12);
}

/// sum(y * d_y) of the training forward, as a function of x, r, gamma or beta.
fn loss(x: &[f64], r: &[f64], gamma: &[f64], beta: &[f64], d_y: &[f64]) -> f64 {
    let c = gamma.len();
    let (mut rm, mut rv, mut sm, mut si) = (vec![0.0; c], vec![1.0; c], vec![0.0; c], vec![0.0; c]);
    let mut y = vec![0.0; x.len()];
    reference::batchnorm_add_relu_forward_train(x, r, gamma, beta, &mut rm, &mut rv, &mut sm, &mut si, &mut y);
    dot(&y, d_y)
}

#[test]
fn batchnorm_add_relu_backward_matches_finite_differences() {
    let mut rng = Rng::new(61);
    for (m, c) in [(12, 3), (5, 1), (7, 4)] {
        let x = rng.normals(m * c);
        let r = rng.normals(m * c);
        let gamma: Vec<f64> = (0..c).map(|_| 1.0 + 0.3 * rng.normal()).collect();
        let beta = rng.normals(c);
        let d_y = rng.normals(m * c);
        let (mut rm, mut rv, mut sm, mut si) = (vec![0.0; c], vec![1.0; c], vec![0.0; c], vec![0.0; c]);
        let mut y = vec![0.0; m * c];
        reference::batchnorm_add_relu_forward_train(&x, &r, &gamma, &beta, &mut rm, &mut rv, &mut sm, &mut si, &mut y);
        let (mut d_x, mut d_r) = (vec![0.0; m * c], vec![0.0; m * c]);
        let (mut d_gamma, mut d_beta) = (vec![0.0; c], vec![0.0; c]);
        reference::batchnorm_add_relu_backward(
            &x,
            &y,
            &d_y,
            &gamma,
            &sm,
            &si,
            &mut d_x,
            &mut d_r,
            &mut d_gamma,
            &mut d_beta,
        );
        let what = format!("M={m} C={c}");
        let e = finite_diff_error(&x, &d_x, |x| loss(x, &r, &gamma, &beta, &d_y));
        assert!(e < 1e-5, "{what} d_x: {e:e}");
        let e = finite_diff_error(&r, &d_r, |r| loss(&x, r, &gamma, &beta, &d_y));
        assert!(e < 1e-5, "{what} d_r: {e:e}");
        let e = finite_diff_error(&gamma, &d_gamma, |g| loss(&x, &r, g, &beta, &d_y));
        assert!(e < 1e-5, "{what} d_gamma: {e:e}");
        let e = finite_diff_error(&beta, &d_beta, |b| loss(&x, &r, &gamma, b, &d_y));
        assert!(e < 1e-5, "{what} d_beta: {e:e}");
    }
}
