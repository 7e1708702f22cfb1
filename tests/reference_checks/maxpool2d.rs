use crate::common::*;
use crate::vectors::{assert_rel, load, ours};
use layerwise::reference::{self, MaxPool2dShape};

/// PyTorch's cases: 2x2/2 and the ImageNet stem's 3x3/2 padding 1, on odd and even sizes, each also on
/// inputs with few distinct values, where windows tie and the padding would win against negative maxima.
#[test]
fn maxpool2d_matches_pytorch() {
    for (case, kernel, stride, pad) in [
        ("maxpool2x2", 2, 2, 0),
        ("maxpool2x2_ties", 2, 2, 0),
        ("maxpool3x3_s2_p1", 3, 2, 1),
        ("maxpool3x3_s2_p1_ties", 3, 2, 1),
    ] {
        let (x, xs) = ours(&format!("{case}.x"));
        let (y, ys) = ours(&format!("{case}.y"));
        let s = MaxPool2dShape { n: xs[0], h: xs[2], w: xs[3], c: xs[1], kernel, stride, pad };
        assert_eq!((ys[2], ys[3]), (s.oh(), s.ow()), "{case}: output size");
        let mut got = vec![0.0; s.y_len()];
        reference::maxpool2d_forward(&x, &mut got, &s);
        assert_rel(&format!("{case} y"), &got, &y, 1e-12);
        let mut d_x = vec![0.0; s.x_len()];
        reference::maxpool2d_backward(&x, &load(&format!("{case}.d_y")), &mut d_x, &s);
        assert_rel(&format!("{case} d_x"), &d_x, &load(&format!("{case}.d_x")), 1e-12);
    }
}

#[test]
fn maxpool2d_backward_matches_finite_differences() {
    let mut rng = Rng::new(12);
    for s in [
        // Odd height and width: the trailing row and column get no gradient.
        MaxPool2dShape::two_by_two(2, 5, 7, 3),
        // Overlapping windows with padding, odd and even sizes.
        MaxPool2dShape { n: 2, h: 5, w: 6, c: 2, kernel: 3, stride: 2, pad: 1 },
        MaxPool2dShape { n: 1, h: 4, w: 4, c: 3, kernel: 3, stride: 1, pad: 1 },
    ] {
        let x = rng.normals(s.x_len());
        let d_y = rng.normals(s.y_len());
        let mut d_x = vec![0.0; x.len()];
        reference::maxpool2d_backward(&x, &d_y, &mut d_x, &s);
        let err = finite_diff_error(&x, &d_x, |x| {
            let mut y = vec![0.0; d_y.len()];
            reference::maxpool2d_forward(x, &mut y, &s);
            dot(&y, &d_y)
        });
        assert!(err < 1e-6, "{s:?} finite differences: {err:e}");
    }
}

#[test]
fn maxpool2d_ties_go_to_the_first_element() {
    let s = MaxPool2dShape::two_by_two(1, 2, 2, 1);
    // One 2x2 window, all four equal: PyTorch sends the gradient to (0, 0).
    let x = [1.0; 4];
    let mut d_x = [0.0; 4];
    reference::maxpool2d_backward(&x, &[5.0], &mut d_x, &s);
    assert_eq!(d_x, [5.0, 0.0, 0.0, 0.0]);
    // (0, 1) and (1, 0) tie above (0, 0): raster order picks (0, 1).
    reference::maxpool2d_backward(&[0.0, 2.0, 2.0, 1.0], &[5.0], &mut d_x, &s);
    assert_eq!(d_x, [0.0, 5.0, 0.0, 0.0]);
}

#[test]
fn maxpool2d_padding_never_wins() {
    // 3x3/2 padding 1 over a 2x2 map of negatives: one window, whose five padded elements are ignored.
    let s = MaxPool2dShape { n: 1, h: 2, w: 2, c: 1, kernel: 3, stride: 2, pad: 1 };
    let x = [-4.0, -3.0, -2.0, -5.0];
    let mut y = [0.0];
    reference::maxpool2d_forward(&x, &mut y, &s);
    assert_eq!(y, [-2.0]);
    let mut d_x = [0.0; 4];
    reference::maxpool2d_backward(&x, &[1.5], &mut d_x, &s);
    assert_eq!(d_x, [0.0, 0.0, 1.5, 0.0]);
}

#[test]
fn maxpool2d_overlapping_windows_add_their_gradients() {
    // 3x3/1 padding 1 over a 3x3 map whose centre is the largest: all nine windows pick it.
    let s = MaxPool2dShape { n: 1, h: 3, w: 3, c: 1, kernel: 3, stride: 1, pad: 1 };
    let mut x = [0.0; 9];
    x[4] = 1.0;
    let mut d_x = [0.0; 9];
    reference::maxpool2d_backward(&x, &[1.0; 9], &mut d_x, &s);
    assert_eq!(d_x, [0.0, 0.0, 0.0, 0.0, 9.0, 0.0, 0.0, 0.0, 0.0]);
}
