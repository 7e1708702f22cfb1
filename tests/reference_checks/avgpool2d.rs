use crate::common::*;
use layerwise::reference;

fn check_pytorch_case(case: &str) {
    let (x, xs) = torch(&format!("{case}.x"));
    let (y, ys) = torch(&format!("{case}.y"));
    let (d_y, _) = torch(&format!("{case}.d_y"));
    let (d_x, _) = torch(&format!("{case}.d_x"));
    let (n, c, h, w, oh, ow) = (xs[0], xs[1], xs[2], xs[3], ys[2], ys[3]);
    let mut got = vec![0.0; y.len()];
    reference::avgpool2d_forward(&nchw_to_nhwc(&x, &xs), &mut got, n, h, w, c, oh, ow);
    assert!(rel_err64(&got, &nchw_to_nhwc(&y, &ys)) < 1e-12, "{case} forward");
    let mut got = vec![0.0; x.len()];
    reference::avgpool2d_backward(&nchw_to_nhwc(&d_y, &ys), &mut got, n, h, w, c, oh, ow);
    assert!(rel_err64(&got, &nchw_to_nhwc(&d_x, &xs)) < 1e-12, "{case} backward");
}

#[test]
fn avgpool2d_matches_pytorch() {
    check_pytorch_case("avgpool_to2x2");
    check_pytorch_case("avgpool_k4_16");
}

#[test]
fn adaptive_windows_follow_pytorch_bounds() {
    // AdaptiveAvgPool2d(3) on 7 rows: windows [0,3), [2,5), [4,7) (they overlap by one row).
    let x: Vec<f64> = (0..7).map(|v| v as f64).collect();
    let mut y = vec![0.0; 3];
    reference::avgpool2d_forward(&x, &mut y, 1, 7, 1, 1, 3, 1);
    assert_eq!(y, [1.0, 3.0, 5.0]);
    // Upsampling 2 -> 3: windows [0,1), [0,2), [1,2).
    let mut y = vec![0.0; 3];
    reference::avgpool2d_forward(&[2.0, 4.0], &mut y, 1, 2, 1, 1, 3, 1);
    assert_eq!(y, [2.0, 3.0, 4.0]);
}

#[test]
fn avgpool2d_backward_matches_finite_differences() {
    let mut rng = Rng::new(13);
    // Divisible, overlapping (7 -> 3) and upsampling (3 -> 5) windows.
    for (n, h, w, c, oh, ow) in [(2, 8, 8, 3, 2, 2), (1, 7, 5, 2, 3, 2), (2, 3, 4, 1, 5, 3)] {
        let x = rng.normals(n * h * w * c);
        let d_y = rng.normals(n * oh * ow * c);
        let mut d_x = vec![0.0; x.len()];
        reference::avgpool2d_backward(&d_y, &mut d_x, n, h, w, c, oh, ow);
        let err = finite_diff_error(&x, &d_x, |x| {
            let mut y = vec![0.0; d_y.len()];
            reference::avgpool2d_forward(x, &mut y, n, h, w, c, oh, ow);
            dot(&y, &d_y)
        });
        assert!(err < 1e-6, "{h}x{w} -> {oh}x{ow}: finite differences {err:e}");
    }
}
