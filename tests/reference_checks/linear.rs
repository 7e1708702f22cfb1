use crate::common::*;
use layerwise::reference;

#[test]
fn linear_matches_pytorch() {
    let (x, xs) = torch("linear.x");
    let (w, ws) = torch("linear.weight");
    let (b, _) = torch("linear.bias");
    let (y, _) = torch("linear.y");
    let (d_y, _) = torch("linear.d_y");
    let (n, inputs, outputs) = (xs[0], xs[1], ws[0]);
    let mut got = vec![0.0; n * outputs];
    reference::linear_forward(&x, &w, Some(&b), &mut got, false, n, inputs, outputs);
    assert!(rel_err64(&got, &y) < 1e-12);
    let mut d_x = vec![0.0; n * inputs];
    reference::linear_backward_input(&d_y, &w, &mut d_x, n, inputs, outputs);
    assert!(rel_err64(&d_x, &torch("linear.d_x").0) < 1e-12);
    let mut d_w = vec![0.0; outputs * inputs];
    let mut d_b = vec![0.0; outputs];
    reference::linear_backward_weight(&x, &d_y, &mut d_w, Some(&mut d_b), n, inputs, outputs);
    assert!(rel_err64(&d_w, &torch("linear.d_weight").0) < 1e-12);
    assert!(rel_err64(&d_b, &torch("linear.d_bias").0) < 1e-12);
}

#[test]
fn linear_backward_matches_finite_differences() {
    let mut rng = Rng::new(41);
    let (n, inputs, outputs) = (3, 5, 4);
    let x = rng.normals(n * inputs);
    let w = rng.normals(outputs * inputs);
    let b = rng.normals(outputs);
    let d_y = rng.normals(n * outputs);
    let loss = |x: &[f64], w: &[f64], b: &[f64]| {
        let mut y = vec![0.0; n * outputs];
        reference::linear_forward(x, w, Some(b), &mut y, false, n, inputs, outputs);
        dot(&y, &d_y)
    };
    let mut d_x = vec![0.0; n * inputs];
    let mut d_w = vec![0.0; outputs * inputs];
    let mut d_b = vec![0.0; outputs];
    reference::linear_backward_input(&d_y, &w, &mut d_x, n, inputs, outputs);
    reference::linear_backward_weight(&x, &d_y, &mut d_w, Some(&mut d_b), n, inputs, outputs);
    assert!(finite_diff_error(&x, &d_x, |x| loss(x, &w, &b)) < 1e-6);
    assert!(finite_diff_error(&w, &d_w, |w| loss(&x, w, &b)) < 1e-6);
    assert!(finite_diff_error(&b, &d_b, |b| loss(&x, &w, b)) < 1e-6);
}
