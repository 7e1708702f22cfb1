use crate::common::*;
use crate::vectors::{assert_rel, load, ours};
use layerwise::reference::{self, Conv2dGeometry};

/// The PyTorch cases are NCHW/OIHW; permute to our NHWC/OHWI and compare all four outputs.
#[test]
fn conv2d_matches_pytorch() {
    let cases = [
        ("conv3x3_small", 1),
        ("conv3x3_wide", 1),
        ("conv1x1", 1),
        ("conv3x3_ci1", 1),
        ("conv3x3_s2", 2),
        ("conv1x1_s2", 2),
        ("conv7x7_s2", 2),
    ];
    for (case, stride) in cases {
        let get = |name: &str| load(&format!("{case}.{name}"));
        let (x, xs) = ours(&format!("{case}.x"));
        let (w, ws) = ours(&format!("{case}.weight"));
        let s = Conv2dGeometry { n: xs[0], h: xs[2], w: xs[3], cin: xs[1], cout: ws[0], kh: ws[2], kw: ws[3], stride };
        let (y, ys) = ours(&format!("{case}.y"));
        assert_eq!((ys[2], ys[3]), (s.oh(), s.ow()), "{case}: output size");
        let (b, d_y) = (get("bias"), get("d_y"));
        let mut got = vec![0.0; s.y_len()];
        reference::conv2d_forward(&x, &w, Some(&b), &mut got, false, &s);
        assert_rel(&format!("{case} y"), &got, &y, 1e-12);
        let mut d_x = vec![0.0; s.x_len()];
        reference::conv2d_backward_input(&d_y, &w, &mut d_x, &s);
        assert_rel(&format!("{case} d_x"), &d_x, &get("d_x"), 1e-12);
        let mut d_w = vec![0.0; s.w_len()];
        let mut d_b = vec![0.0; s.cout];
        reference::conv2d_backward_weight(&x, &d_y, &mut d_w, Some(&mut d_b), &s);
        assert_rel(&format!("{case} d_w"), &d_w, &get("d_weight"), 1e-12);
        assert_rel(&format!("{case} d_bias"), &d_b, &get("d_bias"), 1e-12);
    }
}

/// Stride 1 and 2, kernels 1, 3 and 7, odd and even sizes, one channel; the ReLU variant too.
#[test]
fn conv2d_backward_matches_finite_differences() {
    let mut rng = Rng::new(31);
    let geometry = |n, h, w, cin, cout, k, stride| Conv2dGeometry { n, h, w, cin, cout, kh: k, kw: k, stride };
    for (s, relu) in [
        (geometry(2, 4, 3, 2, 3, 3, 1), false),
        (geometry(1, 3, 3, 3, 2, 1, 1), false),
        (geometry(2, 5, 4, 2, 3, 3, 2), false),
        (geometry(1, 6, 5, 3, 2, 1, 2), false),
        (geometry(1, 8, 7, 1, 2, 7, 2), false),
        (geometry(1, 5, 4, 2, 2, 7, 1), false),
        (geometry(2, 5, 4, 2, 3, 3, 2), true),
    ] {
        let x = rng.normals(s.x_len());
        let w = rng.normals(s.w_len());
        let b = rng.normals(s.cout);
        let d_y = rng.normals(s.y_len());
        let loss = |x: &[f64], w: &[f64], b: &[f64]| {
            let mut y = vec![0.0; s.y_len()];
            reference::conv2d_forward(x, w, Some(b), &mut y, relu, &s);
            dot(&y, &d_y)
        };
        // With the ReLU, the gradient that reaches the convolution is d_y where y > 0.
        let mut y = vec![0.0; s.y_len()];
        reference::conv2d_forward(&x, &w, Some(&b), &mut y, relu, &s);
        let g: Vec<f64> = y.iter().zip(&d_y).map(|(&y, &d)| if !relu || y > 0.0 { d } else { 0.0 }).collect();
        let mut d_x = vec![0.0; s.x_len()];
        let mut d_w = vec![0.0; s.w_len()];
        let mut d_b = vec![0.0; s.cout];
        reference::conv2d_backward_input(&g, &w, &mut d_x, &s);
        reference::conv2d_backward_weight(&x, &g, &mut d_w, Some(&mut d_b), &s);
        assert!(finite_diff_error(&x, &d_x, |x| loss(x, &w, &b)) < 1e-6, "{s:?} relu={relu} d_x");
        assert!(finite_diff_error(&w, &d_w, |w| loss(&x, w, &b)) < 1e-6, "{s:?} relu={relu} d_w");
        assert!(finite_diff_error(&b, &d_b, |b| loss(&x, &w, b)) < 1e-6, "{s:?} relu={relu} d_bias");
    }
}

#[test]
fn conv2d_output_sizes_follow_pytorch() {
    let g = |h, k, stride| Conv2dGeometry { n: 1, h, w: h, cin: 1, cout: 1, kh: k, kw: k, stride };
    // (H + 2 * (K / 2) - K) / stride + 1: "same" at stride 1, ceil(H / 2) at stride 2.
    for (h, k, stride, want) in [(8, 3, 1, 8), (8, 3, 2, 4), (7, 3, 2, 4), (7, 1, 2, 4), (224, 7, 2, 112), (1, 3, 2, 1)]
    {
        assert_eq!(g(h, k, stride).oh(), want, "H {h}, K {k}, stride {stride}");
    }
}
