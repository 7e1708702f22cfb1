use crate::common::*;
use layerwise::ops::Conv2dShape;
use layerwise::reference;

/// The PyTorch cases are NCHW/OIHW; permute to our NHWC/OHWI and compare all four outputs.
#[test]
fn conv2d_matches_pytorch() {
    for case in ["conv3x3_small", "conv3x3_wide", "conv1x1", "conv3x3_ci1"] {
        let (x, xs) = torch(&format!("{case}.x"));
        let (w, ws) = torch(&format!("{case}.weight"));
        let (b, _) = torch(&format!("{case}.bias"));
        let (y, ys) = torch(&format!("{case}.y"));
        let (d_y, _) = torch(&format!("{case}.d_y"));
        let (d_x, _) = torch(&format!("{case}.d_x"));
        let (d_w, _) = torch(&format!("{case}.d_weight"));
        let (d_b, _) = torch(&format!("{case}.d_bias"));
        let s = Conv2dShape { n: xs[0], h: xs[2], w: xs[3], cin: xs[1], cout: ws[0], kh: ws[2], kw: ws[3] };
        let (x, w) = (nchw_to_nhwc(&x, &xs), oihw_to_ohwi(&w, &ws));
        let d_y = nchw_to_nhwc(&d_y, &ys);
        let mut got = vec![0.0; s.y_len()];
        reference::conv2d_forward(&x, &w, Some(&b), &mut got, false, &s);
        assert!(rel_err64(&got, &nchw_to_nhwc(&y, &ys)) < 1e-12, "{case} y");
        let mut gx = vec![0.0; s.x_len()];
        reference::conv2d_backward_input(&d_y, &w, &mut gx, &s);
        assert!(rel_err64(&gx, &nchw_to_nhwc(&d_x, &xs)) < 1e-12, "{case} d_x");
        let mut gw = vec![0.0; s.w_len()];
        let mut gb = vec![0.0; s.cout];
        reference::conv2d_backward_weight(&x, &d_y, &mut gw, Some(&mut gb), &s);
        assert!(rel_err64(&gw, &oihw_to_ohwi(&d_w, &ws)) < 1e-12, "{case} d_w");
        assert!(rel_err64(&gb, &d_b) < 1e-12, "{case} d_bias");
    }
}

#[test]
fn conv2d_backward_matches_finite_differences() {
    let mut rng = Rng::new(31);
    for s in [
        Conv2dShape { n: 2, h: 4, w: 3, cin: 2, cout: 3, kh: 3, kw: 3 },
        Conv2dShape { n: 1, h: 3, w: 3, cin: 3, cout: 2, kh: 1, kw: 1 },
    ] {
        let x = rng.normals(s.x_len());
        let w = rng.normals(s.w_len());
        let b = rng.normals(s.cout);
        let d_y = rng.normals(s.y_len());
        let loss = |x: &[f64], w: &[f64], b: &[f64]| {
            let mut y = vec![0.0; s.y_len()];
            reference::conv2d_forward(x, w, Some(b), &mut y, false, &s);
            dot(&y, &d_y)
        };
        let mut d_x = vec![0.0; s.x_len()];
        let mut d_w = vec![0.0; s.w_len()];
        let mut d_b = vec![0.0; s.cout];
        reference::conv2d_backward_input(&d_y, &w, &mut d_x, &s);
        reference::conv2d_backward_weight(&x, &d_y, &mut d_w, Some(&mut d_b), &s);
        assert!(finite_diff_error(&x, &d_x, |x| loss(x, &w, &b)) < 1e-6, "d_x");
        assert!(finite_diff_error(&w, &d_w, |w| loss(&x, w, &b)) < 1e-6, "d_w");
        assert!(finite_diff_error(&b, &d_b, |b| loss(&x, &w, b)) < 1e-6, "d_bias");
    }
}
