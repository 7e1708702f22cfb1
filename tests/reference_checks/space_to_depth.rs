use crate::common::*;
use layerwise::reference;

#[test]
fn space_to_depth_matches_pytorch() {
    let (x, xs) = torch("space_to_depth.x");
    let (y, ys) = torch("space_to_depth.y");
    let (d_y, _) = torch("space_to_depth.d_y");
    let (d_x, _) = torch("space_to_depth.d_x");
    let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
    let mut got = vec![0.0; x.len()];
    reference::space_to_depth_forward(&nchw_to_nhwc(&x, &xs), &mut got, n, h, w, c);
    assert_eq!(got, nchw_to_nhwc(&y, &ys), "a permutation must match exactly");
    reference::space_to_depth_backward(&nchw_to_nhwc(&d_y, &ys), &mut got, n, h, w, c);
    assert_eq!(got, nchw_to_nhwc(&d_x, &xs));
}

#[test]
fn space_to_depth_backward_matches_finite_differences() {
    let mut rng = Rng::new(11);
    let (n, h, w, c) = (2, 4, 6, 3);
    let x = rng.normals(n * h * w * c);
    let d_y = rng.normals(x.len());
    let mut d_x = vec![0.0; x.len()];
    reference::space_to_depth_backward(&d_y, &mut d_x, n, h, w, c);
    let err = finite_diff_error(&x, &d_x, |x| {
        let mut y = vec![0.0; x.len()];
        reference::space_to_depth_forward(x, &mut y, n, h, w, c);
        dot(&y, &d_y)
    });
    assert!(err < 1e-6, "finite differences: {err:e}");
}
