use crate::common::*;
use layerwise::reference;

/// Reference against PyTorch: training forward (y, running stats), backward, evaluation. 2-d cases are
/// stored NCHW and compared in NHWC; 1-d cases are [N, C] already.
fn check_torch(case: &str) {
    let get = |name: &str| {
        let (v, shape) = torch(&format!("{case}.{name}"));
        if shape.len() == 4 {
            nchw_to_nhwc(&v, &shape)
        } else {
            v
        }
    };
    let (x, gamma, beta) = (get("x"), get("gamma"), get("beta"));
    let c = gamma.len();
    let mut rm = get("running_mean_before");
    let mut rv = get("running_var_before");
    let (mut save_mean, mut save_invstd) = (vec![0.0; c], vec![0.0; c]);
    let mut y = vec![0.0; x.len()];
    reference::batchnorm_forward_train(
        &x,
        &gamma,
        &beta,
        &mut rm,
        &mut rv,
        &mut save_mean,
        &mut save_invstd,
        &mut y,
        false,
    );
    let tol = 1e-12;
    for (what, got, want) in [
        ("y", &y, get("y")),
        ("running_mean", &rm, get("running_mean_after")),
        ("running_var", &rv, get("running_var_after")),
    ] {
        let e = rel_err64(got, &want);
        assert!(e < tol, "{case} {what}: {e:e}");
    }

    let d_y = get("d_y");
    let mut d_x = vec![0.0; x.len()];
    let (mut d_gamma, mut d_beta) = (vec![0.0; c], vec![0.0; c]);
    reference::batchnorm_backward(
        &x,
        &x,
        &d_y,
        &gamma,
        &save_mean,
        &save_invstd,
        &mut d_x,
        &mut d_gamma,
        &mut d_beta,
        false,
    );
    for (what, got, want) in
        [("d_x", &d_x, get("d_x")), ("d_gamma", &d_gamma, get("d_gamma")), ("d_beta", &d_beta, get("d_beta"))]
    {
        let e = rel_err64(got, &want);
        assert!(e < 1e-10, "{case} {what}: {e:e}");
    }

    // Evaluation after the training step, with the updated running statistics.
    let mut y_eval = vec![0.0; x.len()];
    reference::batchnorm_forward_eval(&get("x_eval"), &gamma, &beta, &rm, &rv, &mut y_eval, false);
    let e = rel_err64(&y_eval, &get("y_eval"));
    assert!(e < tol, "{case} y_eval: {e:e}");
}

#[test]
fn batchnorm2d_matches_pytorch() {
    check_torch("batchnorm2d");
}

#[test]
fn batchnorm1d_matches_pytorch() {
    check_torch("batchnorm1d");
}

/// sum(y * d_y) of the training forward, as a function of x, gamma or beta.
fn loss(x: &[f64], gamma: &[f64], beta: &[f64], d_y: &[f64], relu: bool) -> f64 {
    let c = gamma.len();
    let (mut rm, mut rv, mut sm, mut si) = (vec![0.0; c], vec![1.0; c], vec![0.0; c], vec![0.0; c]);
    let mut y = vec![0.0; x.len()];
    reference::batchnorm_forward_train(x, gamma, beta, &mut rm, &mut rv, &mut sm, &mut si, &mut y, relu);
    dot(&y, d_y)
}

#[test]
fn batchnorm_backward_matches_finite_differences() {
    let mut rng = Rng::new(17);
    for (m, c, relu) in [(12, 3, false), (12, 3, true), (5, 1, false), (7, 4, true)] {
        let x = rng.normals(m * c);
        let gamma: Vec<f64> = (0..c).map(|_| 1.0 + 0.3 * rng.normal()).collect();
        let beta = rng.normals(c);
        let d_y = rng.normals(m * c);
        let (mut rm, mut rv, mut sm, mut si) = (vec![0.0; c], vec![1.0; c], vec![0.0; c], vec![0.0; c]);
        let mut y = vec![0.0; m * c];
        reference::batchnorm_forward_train(&x, &gamma, &beta, &mut rm, &mut rv, &mut sm, &mut si, &mut y, relu);
        let mut d_x = vec![0.0; m * c];
        let (mut d_gamma, mut d_beta) = (vec![0.0; c], vec![0.0; c]);
        reference::batchnorm_backward(&x, &y, &d_y, &gamma, &sm, &si, &mut d_x, &mut d_gamma, &mut d_beta, relu);

        let what = format!("M={m} C={c} relu={relu}");
        let e = finite_diff_error(&x, &d_x, |x| loss(x, &gamma, &beta, &d_y, relu));
        assert!(e < 1e-5, "{what} d_x: {e:e}");
        let e = finite_diff_error(&gamma, &d_gamma, |g| loss(&x, g, &beta, &d_y, relu));
        assert!(e < 1e-5, "{what} d_gamma: {e:e}");
        let e = finite_diff_error(&beta, &d_beta, |b| loss(&x, &gamma, b, &d_y, relu));
        assert!(e < 1e-5, "{what} d_beta: {e:e}");
    }
}

#[test]
fn batchnorm_eval_with_batch_statistics_equals_train_normalisation() {
    // Evaluation with running stats set to the batch mean and biased variance reproduces training's y.
    let mut rng = Rng::new(18);
    let (m, c) = (9, 4);
    let x = rng.normals(m * c);
    let gamma = rng.normals(c);
    let beta = rng.normals(c);
    let (mut rm, mut rv, mut sm, mut si) = (vec![0.0; c], vec![1.0; c], vec![0.0; c], vec![0.0; c]);
    let mut y = vec![0.0; m * c];
    reference::batchnorm_forward_train(&x, &gamma, &beta, &mut rm, &mut rv, &mut sm, &mut si, &mut y, true);
    let var: Vec<f64> = si.iter().map(|s| 1.0 / (s * s) - 1e-5).collect();
    let mut y_eval = vec![0.0; m * c];
    reference::batchnorm_forward_eval(&x, &gamma, &beta, &sm, &var, &mut y_eval, true);
    assert!(rel_err64(&y_eval, &y) < 1e-12);
}
