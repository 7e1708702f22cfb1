use crate::common::*;
use layerwise::gpu::PlanBuilder;
use layerwise::{ops, reference};

/// (N, H, W, C): batch 1, 1 and 3 channels, a large odd channel count, sizes off every power of two;
/// C % 4 == 0 for the vec4 kernels; 4C over 256 f32 or vec4 elements for pixels of more than one 256-wide tile.
const SHAPES: [(usize, usize, usize, usize); 9] = [
    (1, 2, 2, 1),
    (3, 6, 10, 3),
    (2, 14, 4, 1),
    (1, 8, 6, 131),
    (2, 18, 22, 7),
    (2, 6, 10, 4),
    (1, 4, 70, 8),
    (3, 14, 14, 16),
    (1, 2, 4, 260),
];

#[test]
fn space_to_depth_matches_reference() {
    both_modes(|g| {
        let mut rng = Rng::new(21);
        for (n, h, w, c) in SHAPES {
            let x = rng.normals(n * h * w * c);
            let d_y = rng.normals(x.len());
            let mut y_ref = vec![0.0; x.len()];
            let mut dx_ref = vec![0.0; x.len()];
            reference::space_to_depth_forward(&x, &mut y_ref, n, h, w, c);
            reference::space_to_depth_backward(&d_y, &mut dx_ref, n, h, w, c);

            let tx = g.tensor_from(&[n, h, w, c], &to_f32(&x), "x").unwrap();
            let tdy = g.tensor_from(&[n, h / 2, w / 2, 4 * c], &to_f32(&d_y), "d_y").unwrap();
            let ty = g.tensor(&[n, h / 2, w / 2, 4 * c], "y").unwrap();
            let tdx = g.tensor(&[n, h, w, c], "d_x").unwrap();
            for span in GRID_SPANS {
                g.fill(&ty, f32::NAN);
                g.fill(&tdx, f32::NAN);
                let mut p = PlanBuilder::new(g, "space_to_depth");
                with_span(span, || {
                    ops::space_to_depth_forward(&mut p, &tx, &ty).unwrap();
                    ops::space_to_depth_backward(&mut p, &tdy, &tdx).unwrap();
                });
                g.run(&[&p.finish().unwrap()]).unwrap();
                let what = format!("{n}x{h}x{w}x{c}, span {span:?}");
                assert_close(&format!("space_to_depth_forward {what}"), &g.download(&ty).unwrap(), &y_ref);
                assert_close(&format!("space_to_depth_backward {what}"), &g.download(&tdx).unwrap(), &dx_ref);
            }
        }
    });
}

#[test]
fn space_to_depth_backward_inverts_forward_exactly() {
    both_modes(|g| {
        let mut rng = Rng::new(22);
        for (n, h, w, c) in SHAPES {
            let x = to_f32(&rng.normals(n * h * w * c));
            let tx = g.tensor_from(&[n, h, w, c], &x, "x").unwrap();
            let ty = g.tensor(&[n, h / 2, w / 2, 4 * c], "y").unwrap();
            let back = g.tensor(&[n, h, w, c], "back").unwrap();
            for span in GRID_SPANS {
                g.fill(&back, f32::NAN);
                let mut p = PlanBuilder::new(g, "space_to_depth round trip");
                with_span(span, || {
                    ops::space_to_depth_forward(&mut p, &tx, &ty).unwrap();
                    ops::space_to_depth_backward(&mut p, &ty, &back).unwrap();
                });
                g.run(&[&p.finish().unwrap()]).unwrap();
                let got = g.download(&back).unwrap();
                assert!(
                    got.iter().zip(&x).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "round trip {n}x{h}x{w}x{c} span {span:?} is not exact"
                );
            }
        }
    });
}

#[test]
fn space_to_depth_refuses_odd_sizes() {
    both_modes(|g| {
        let x = g.tensor(&[1, 5, 4, 2], "x").unwrap();
        let y = g.tensor(&[1, 2, 2, 8], "y").unwrap();
        let mut p = PlanBuilder::new(g, "odd");
        let e = ops::space_to_depth_forward(&mut p, &x, &y).unwrap_err();
        assert!(e.to_string().contains("even"), "{e}");
    });
}
