use crate::common::*;
use layerwise::gpu::PlanBuilder;
use layerwise::{ops, reference};

#[test]
fn relu_forward_and_backward_match_reference() {
    both_modes(|g| {
        let mut rng = Rng::new(1);
        // Random lengths, and lengths that are (vec4 kernels) and are not multiples of 4.
        let lengths = [rng.range(1, 70_000), rng.range(1, 70_000), 1, 3, 4, 4 * 12_345, 63];
        for n in lengths {
            let x = rng.normals(n);
            let d_y = rng.normals(n);
            let mut y_ref = vec![0.0; n];
            let mut dx_ref = vec![0.0; n];
            reference::relu_forward(&x, &mut y_ref);
            reference::relu_backward(&x, &d_y, &mut dx_ref);

            let tx = g.tensor_from(&[n], &to_f32(&x), "x").unwrap();
            let tdy = g.tensor_from(&[n], &to_f32(&d_y), "d_y").unwrap();
            let ty = g.tensor(&[n], "y").unwrap();
            let tdx = g.tensor(&[n], "d_x").unwrap();
            for span in GRID_SPANS {
                g.fill(&ty, f32::NAN);
                g.fill(&tdx, f32::NAN);
                let mut p = PlanBuilder::new(g, "relu");
                with_span(span, || {
                    ops::relu_forward(&mut p, &tx, &ty).unwrap();
                    ops::relu_backward(&mut p, &tx, &tdy, &tdx).unwrap();
                });
                g.run(&[&p.finish().unwrap()]).unwrap();
                assert_close(&format!("relu_forward {n}, span {span:?}"), &g.download(&ty).unwrap(), &y_ref);
                assert_close(&format!("relu_backward {n}, span {span:?}"), &g.download(&tdx).unwrap(), &dx_ref);
            }
        }
    });
}
