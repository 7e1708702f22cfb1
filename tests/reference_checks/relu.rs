use crate::common::*;
use layerwise::reference;

#[test]
fn relu_matches_pytorch() {
    let (x, _) = torch("relu.x");
    let (y, _) = torch("relu.y");
    let (d_y, _) = torch("relu.d_y");
    let (d_x, _) = torch("relu.d_x");
    let mut got = vec![0.0; x.len()];
    reference::relu_forward(&x, &mut got);
    assert!(rel_err64(&got, &y) < 1e-12);
    reference::relu_backward(&x, &d_y, &mut got);
    assert!(rel_err64(&got, &d_x) < 1e-12);
}

#[test]
fn relu_backward_matches_finite_differences() {
    let mut rng = Rng::new(7);
    let x = rng.normals(50);
    let d_y = rng.normals(50);
    let mut d_x = vec![0.0; 50];
    reference::relu_backward(&x, &d_y, &mut d_x);
    let err = finite_diff_error(&x, &d_x, |x| {
        let mut y = vec![0.0; x.len()];
        reference::relu_forward(x, &mut y);
        dot(&y, &d_y)
    });
    assert!(err < 1e-6, "finite differences: {err:e}");
}
