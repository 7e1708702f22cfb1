use crate::common::*;
use layerwise::reference;

#[test]
fn maxpool2d_matches_pytorch() {
    let (x, xs) = torch("maxpool2x2.x");
    let (y, ys) = torch("maxpool2x2.y");
    let (d_y, _) = torch("maxpool2x2.d_y");
    let (d_x, _) = torch("maxpool2x2.d_x");
    let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
    let x = nchw_to_nhwc(&x, &xs);
    let mut got = vec![0.0; y.len()];
    reference::maxpool2d_forward(&x, &mut got, n, h, w, c);
    assert!(rel_err64(&got, &nchw_to_nhwc(&y, &ys)) < 1e-12);
    let mut got = vec![0.0; x.len()];
    reference::maxpool2d_backward(&x, &nchw_to_nhwc(&d_y, &ys), &mut got, n, h, w, c);
    assert!(rel_err64(&got, &nchw_to_nhwc(&d_x, &xs)) < 1e-12);
}

#[test]
fn maxpool2d_backward_matches_finite_differences() {
    let mut rng = Rng::new(12);
    // Odd height and width: the trailing row and column get no gradient.
    let (n, h, w, c) = (2, 5, 7, 3);
    let x = rng.normals(n * h * w * c);
    let d_y = rng.normals(n * (h / 2) * (w / 2) * c);
    let mut d_x = vec![0.0; x.len()];
    reference::maxpool2d_backward(&x, &d_y, &mut d_x, n, h, w, c);
    let err = finite_diff_error(&x, &d_x, |x| {
        let mut y = vec![0.0; d_y.len()];
        reference::maxpool2d_forward(x, &mut y, n, h, w, c);
        dot(&y, &d_y)
    });
    assert!(err < 1e-6, "finite differences: {err:e}");
}

#[test]
fn maxpool2d_ties_go_to_the_first_element() {
    // One 2x2 window, all four equal: PyTorch sends the gradient to (0, 0).
    let x = [1.0; 4];
    let mut d_x = [0.0; 4];
    reference::maxpool2d_backward(&x, &[5.0], &mut d_x, 1, 2, 2, 1);
    assert_eq!(d_x, [5.0, 0.0, 0.0, 0.0]);
    // (0, 1) and (1, 0) tie above (0, 0): raster order picks (0, 1).
    reference::maxpool2d_backward(&[0.0, 2.0, 2.0, 1.0], &[5.0], &mut d_x, 1, 2, 2, 1);
    assert_eq!(d_x, [0.0, 5.0, 0.0, 0.0]);
}
