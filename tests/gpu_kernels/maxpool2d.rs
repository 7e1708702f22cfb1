use crate::common::*;
use layerwise::gpu::{Gpu, PlanBuilder};
use layerwise::ops::MaxPool2dShape;
use layerwise::{ops, reference};

fn check(g: &Gpu, s: &MaxPool2dShape, x: &[f64], d_y: &[f64]) {
    let mut y_ref = vec![0.0; s.y_len()];
    let mut dx_ref = vec![0.0; x.len()];
    reference::maxpool2d_forward(x, &mut y_ref, s);
    reference::maxpool2d_backward(x, d_y, &mut dx_ref, s);

    let tx = g.tensor_from(&[s.n, s.h, s.w, s.c], &to_f32(x), "x").unwrap();
    let tdy = g.tensor_from(&[s.n, s.oh(), s.ow(), s.c], &to_f32(d_y), "d_y").unwrap();
    let ty = g.tensor(&[s.n, s.oh(), s.ow(), s.c], "y").unwrap();
    let tdx = g.tensor(&[s.n, s.h, s.w, s.c], "d_x").unwrap();
    for span in GRID_SPANS {
        g.fill(&ty, f32::NAN);
        g.fill(&tdx, f32::NAN);
        let mut p = PlanBuilder::new(g, "maxpool2d");
        with_span(span, || {
            ops::maxpool2d_forward(&mut p, &tx, &ty, s).unwrap();
            ops::maxpool2d_backward(&mut p, &tx, &tdy, &tdx, s).unwrap();
        });
        g.run(&[&p.finish().unwrap()]).unwrap();
        let what = format!("{s:?}, span {span:?}");
        if s.y_len() > 0 {
            assert_close(&format!("maxpool2d_forward {what}"), &g.download(&ty).unwrap(), &y_ref);
        }
        assert_close(&format!("maxpool2d_backward {what}"), &g.download(&tdx).unwrap(), &dx_ref);
    }
}

/// The papers' 2x2/2 (its own kernels) and the windowed kernels: the ImageNet stem's 3x3/2 with padding
/// 1, overlapping 3x3/1, 2x2/1 and a 3x3/3 that skips rows.
const WINDOWS: [(usize, usize, usize); 5] = [(2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 1, 0), (3, 3, 0)];

#[test]
fn maxpool2d_matches_reference() {
    both_modes(|g| {
        let mut rng = Rng::new(31);
        // Odd and even sizes (odd trailing rows/columns must get zero gradient), batch 1, 1 and 3
        // channels, a large odd channel count, and a 1-row input whose output is empty; C % 4 == 0 for the
        // vec4 kernels; C = 259 and 1028 (vec4) for pixels of more than one 256-wide tile.
        for (i, (n, h, w, c)) in [
            (1, 2, 2, 1),
            (3, 7, 9, 3),
            (2, 10, 5, 1),
            (1, 6, 7, 133),
            (2, 13, 12, 5),
            (2, 1, 5, 3),
            (2, 9, 8, 4),
            (1, 6, 7, 132),
            (2, 5, 6, 16),
            (1, 3, 5, 259),
            (1, 2, 3, 1028),
        ]
        .into_iter()
        .enumerate()
        {
            // Every shape with the 2x2 window and one other, in turn.
            for (kernel, stride, pad) in [WINDOWS[0], WINDOWS[1 + i % 4]] {
                let s = MaxPool2dShape { n, h, w, c, kernel, stride, pad };
                let x = rng.normals(s.x_len());
                let d_y = rng.normals(s.y_len());
                check(g, &s, &x, &d_y);
            }
        }
    });
}

#[test]
fn maxpool2d_breaks_ties_like_the_reference() {
    both_modes(|g| {
        let mut rng = Rng::new(32);
        // Values from {-1, 0, 1}: most windows hold ties, which must go to the first maximum, in the f32
        // and the vec4 kernels (per channel), for every window.
        for (n, h, w, c) in [(2, 9, 8, 3), (2, 9, 8, 8)] {
            for (kernel, stride, pad) in WINDOWS {
                let s = MaxPool2dShape { n, h, w, c, kernel, stride, pad };
                let x: Vec<f64> = (0..s.x_len()).map(|_| rng.range(0, 2) as f64 - 1.0).collect();
                let d_y = rng.normals(s.y_len());
                check(g, &s, &x, &d_y);
            }
        }
    });
}

/// The PyTorch float64 cases, the stem's 3x3/2 with padding 1 (ties included) among them.
#[test]
fn maxpool2d_matches_pytorch() {
    let cases = [
        ("maxpool2x2", 2, 2, 0),
        ("maxpool2x2_ties", 2, 2, 0),
        ("maxpool3x3_s2_p1", 3, 2, 1),
        ("maxpool3x3_s2_p1_ties", 3, 2, 1),
    ];
    both_modes(|g| {
        for (case, kernel, stride, pad) in cases {
            let (x, xs) = torch(&format!("{case}.x"));
            let s = MaxPool2dShape { n: xs[0], h: xs[2], w: xs[3], c: xs[1], kernel, stride, pad };
            let ours = |name: &str| {
                let (v, shape) = torch(&format!("{case}.{name}"));
                nchw_to_nhwc(&v, &shape)
            };
            let tx = g.tensor_from(&[s.n, s.h, s.w, s.c], &to_f32(&ours("x")), "x").unwrap();
            let tdy = g.tensor_from(&[s.n, s.oh(), s.ow(), s.c], &to_f32(&ours("d_y")), "d_y").unwrap();
            let ty = g.tensor(tdy.shape(), "y").unwrap();
            let tdx = g.tensor(tx.shape(), "d_x").unwrap();
            g.fill(&ty, f32::NAN);
            g.fill(&tdx, f32::NAN);
            let mut p = PlanBuilder::new(g, "maxpool2d vs pytorch");
            ops::maxpool2d_forward(&mut p, &tx, &ty, &s).unwrap();
            ops::maxpool2d_backward(&mut p, &tx, &tdy, &tdx, &s).unwrap();
            g.run(&[&p.finish().unwrap()]).unwrap();
            assert_eq!(x.len(), s.x_len());
            assert_close(&format!("{case} y"), &g.download(&ty).unwrap(), &ours("y"));
            assert_close(&format!("{case} d_x"), &g.download(&tdx).unwrap(), &ours("d_x"));
        }
    });
}
