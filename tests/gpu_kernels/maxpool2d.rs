use crate::common::*;
use layerwise::gpu::PlanBuilder;
use layerwise::{ops, reference};

fn check(g: &layerwise::gpu::Gpu, (n, h, w, c): (usize, usize, usize, usize), x: &[f64], d_y: &[f64]) {
    let (oh, ow) = (h / 2, w / 2);
    let mut y_ref = vec![0.0; n * oh * ow * c];
    let mut dx_ref = vec![0.0; x.len()];
    let s = reference::MaxPool2dShape::two_by_two(n, h, w, c);
    reference::maxpool2d_forward(x, &mut y_ref, &s);
    reference::maxpool2d_backward(x, d_y, &mut dx_ref, &s);

    let tx = g.tensor_from(&[n, h, w, c], &to_f32(x), "x").unwrap();
    let tdy = g.tensor_from(&[n, oh, ow, c], &to_f32(d_y), "d_y").unwrap();
    let ty = g.tensor(&[n, oh, ow, c], "y").unwrap();
    let tdx = g.tensor(&[n, h, w, c], "d_x").unwrap();
    for span in GRID_SPANS {
        g.fill(&ty, f32::NAN);
        g.fill(&tdx, f32::NAN);
        let mut p = PlanBuilder::new(g, "maxpool2d");
        with_span(span, || {
            ops::maxpool2d_forward(&mut p, &tx, &ty).unwrap();
            ops::maxpool2d_backward(&mut p, &tx, &tdy, &tdx).unwrap();
        });
        g.run(&[&p.finish().unwrap()]).unwrap();
        let what = format!("{n}x{h}x{w}x{c}, span {span:?}");
        assert_close(&format!("maxpool2d_forward {what}"), &g.download(&ty).unwrap(), &y_ref);
        assert_close(&format!("maxpool2d_backward {what}"), &g.download(&tdx).unwrap(), &dx_ref);
    }
}

#[test]
fn maxpool2d_matches_reference() {
    both_modes(|g| {
        let mut rng = Rng::new(31);
        // Odd and even sizes (odd trailing rows/columns must get zero gradient), batch 1, 1 and 3
        // channels, a large odd channel count, and a 1-row input whose output is empty; C % 4 == 0 for the
        // vec4 kernels; C = 259 and 1028 (vec4) for pixels of more than one 256-wide tile.
        for shape in [
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
        ] {
            let (n, h, w, c) = shape;
            let x = rng.normals(n * h * w * c);
            let d_y = rng.normals(n * (h / 2) * (w / 2) * c);
            check(g, shape, &x, &d_y);
        }
    });
}

#[test]
fn maxpool2d_breaks_ties_like_the_reference() {
    both_modes(|g| {
        let mut rng = Rng::new(32);
        // Values from {-1, 0, 1}: most windows hold ties, which must go to the first maximum, in the f32
        // and the vec4 kernels (per channel).
        for (n, h, w, c) in [(2, 9, 8, 3), (2, 9, 8, 8)] {
            let x: Vec<f64> = (0..n * h * w * c).map(|_| rng.range(0, 2) as f64 - 1.0).collect();
            let d_y = rng.normals(n * (h / 2) * (w / 2) * c);
            check(g, (n, h, w, c), &x, &d_y);
        }
    });
}
