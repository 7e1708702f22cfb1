use crate::common::*;
use layerwise::gpu::PlanBuilder;
use layerwise::{ops, reference};

#[test]
fn linear_matches_reference() {
    both_modes(|g| {
        let mut rng = Rng::new(21);
        for &(n, inputs, outputs, bias, relu) in
            &[(1, 1, 1, true, false), (5, 24, 10, true, false), (130, 70, 129, false, true), (3, 257, 65, true, true)]
        {
            let x = rng.normals(n * inputs);
            let w = rng.normals(outputs * inputs);
            let b = rng.normals(outputs);
            let d_y = rng.normals(n * outputs);
            let mut y_ref = vec![0.0; n * outputs];
            let mut dx_ref = vec![0.0; n * inputs];
            let mut dw_ref = vec![0.0; outputs * inputs];
            let mut db_ref = vec![0.0; outputs];
            reference::linear_forward(&x, &w, bias.then_some(&b[..]), &mut y_ref, relu, n, inputs, outputs);
            reference::linear_backward_input(&d_y, &w, &mut dx_ref, n, inputs, outputs);
            reference::linear_backward_weight(&x, &d_y, &mut dw_ref, Some(&mut db_ref), n, inputs, outputs);
            let tx = g.tensor_from(&[n, inputs], &to_f32(&x), "x").unwrap();
            let tw = g.tensor_from(&[outputs, inputs], &to_f32(&w), "w").unwrap();
            let tb = g.tensor_from(&[outputs], &to_f32(&b), "b").unwrap();
            let tdy = g.tensor_from(&[n, outputs], &to_f32(&d_y), "d_y").unwrap();
            let ty = g.tensor(&[n, outputs], "y").unwrap();
            let tdx = g.tensor(&[n, inputs], "d_x").unwrap();
            let tdw = g.tensor(&[outputs, inputs], "d_w").unwrap();
            let tdb = g.tensor(&[outputs], "d_b").unwrap();
            let ws = g.tensor(&[ops::linear_backward_weight_workspace_len(n, inputs, outputs, true)], "ws").unwrap();
            for t in [&ty, &tdx, &tdw, &tdb] {
                g.fill(t, f32::NAN);
            }
            let mut p = PlanBuilder::new(g, "linear");
            ops::linear_forward(&mut p, &tx, &tw, bias.then_some(&tb), &ty, relu).unwrap();
            ops::linear_backward_input(&mut p, &tdy, &tw, &tdx).unwrap();
            ops::linear_backward_weight(&mut p, &tx, &tdy, &tdw, Some(&tdb), &ws).unwrap();
            g.run(&[&p.finish().unwrap()]).unwrap();
            assert_close("linear_forward", &g.download(&ty).unwrap(), &y_ref);
            assert_close("linear_backward_input", &g.download(&tdx).unwrap(), &dx_ref);
            assert_close("linear_backward_weight", &g.download(&tdw).unwrap(), &dw_ref);
            assert_close("linear d_bias", &g.download(&tdb).unwrap(), &db_ref);
        }
    });
}
