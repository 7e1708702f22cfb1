use crate::common::*;
use crate::vectors::{assert_rel, load, ours};
use layerwise::reference;

#[test]
fn global_avgpool_matches_pytorch() {
    let (x, xs) = ours("global_avgpool.x");
    let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
    let mut y = vec![0.0; n * c];
    reference::global_avgpool_forward(&x, &mut y, n, h, w, c);
    assert_rel("global_avgpool y", &y, &load("global_avgpool.y"), 1e-12);
    let mut d_x = vec![0.0; x.len()];
    reference::global_avgpool_backward(&load("global_avgpool.d_y"), &mut d_x, n, h, w, c);
    assert_rel("global_avgpool d_x", &d_x, &load("global_avgpool.d_x"), 1e-12);
}

#[test]
fn global_avgpool_backward_matches_finite_differences() {
    let mut rng = Rng::new(51);
    let (n, h, w, c) = (2, 3, 5, 4);
    let x = rng.normals(n * h * w * c);
    let d_y = rng.normals(n * c);
    let mut d_x = vec![0.0; x.len()];
    reference::global_avgpool_backward(&d_y, &mut d_x, n, h, w, c);
    let err = finite_diff_error(&x, &d_x, |x| {
        let mut y = vec![0.0; n * c];
        reference::global_avgpool_forward(x, &mut y, n, h, w, c);
        dot(&y, &d_y)
    });
    assert!(err < 1e-6, "finite differences: {err:e}");
}

/// The same numbers as the adaptive average pool to a 1x1 map.
#[test]
fn global_avgpool_is_avgpool_to_one_pixel() {
    let mut rng = Rng::new(52);
    let (n, h, w, c) = (3, 7, 2, 5);
    let x = rng.normals(n * h * w * c);
    let (mut a, mut b) = (vec![0.0; n * c], vec![0.0; n * c]);
    reference::global_avgpool_forward(&x, &mut a, n, h, w, c);
    reference::avgpool2d_forward(&x, &mut b, n, h, w, c, 1, 1);
    assert_rel("global vs adaptive 1x1", &a, &b, 1e-15);
}
