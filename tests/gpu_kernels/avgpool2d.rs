use crate::common::*;
use layerwise::gpu::PlanBuilder;
use layerwise::{ops, reference};

#[test]
fn avgpool2d_matches_reference() {
    both_modes(|g| {
        let mut rng = Rng::new(41);
        // (N, H, W, C, OH, OW): divisible (the heads' average to 2x2, and 16 -> 4: the strided gradient
        // kernel), overlapping adaptive windows (7 -> 3), global pooling, upsampling (3 -> 5, and 1x1 -> 2x2
        // as the MLP-SR heads do), batch 1, 1 and 3 channels, a large odd channel count. C % 4 == 0 takes
        // the vec4 kernels: strided and overlapping. C = 259 and 1028 (vec4) give the strided kernel (rows of C)
        // and the others (rows of W * C) rows of more than one 256-wide tile.
        let cases = [
            (2, 8, 8, 3, 2, 2),
            (1, 16, 16, 1, 4, 4),
            (3, 7, 9, 3, 3, 4),
            (1, 5, 6, 131, 1, 1),
            (2, 3, 4, 1, 5, 3),
            (2, 11, 13, 6, 2, 5),
            (2, 28, 28, 16, 2, 2),
            (3, 6, 4, 4, 1, 1),
            (2, 7, 7, 8, 2, 2),
            (1, 4, 9, 260, 3, 2),
            (3, 1, 1, 4, 2, 2),
            (1, 4, 4, 259, 2, 2),
            (1, 2, 4, 1028, 1, 2),
        ];
        for (n, h, w, c, oh, ow) in cases {
            let x = rng.normals(n * h * w * c);
            let d_y = rng.normals(n * oh * ow * c);
            let mut y_ref = vec![0.0; d_y.len()];
            let mut dx_ref = vec![0.0; x.len()];
            reference::avgpool2d_forward(&x, &mut y_ref, n, h, w, c, oh, ow);
            reference::avgpool2d_backward(&d_y, &mut dx_ref, n, h, w, c, oh, ow);

            let tx = g.tensor_from(&[n, h, w, c], &to_f32(&x), "x").unwrap();
            let tdy = g.tensor_from(&[n, oh, ow, c], &to_f32(&d_y), "d_y").unwrap();
            let ty = g.tensor(&[n, oh, ow, c], "y").unwrap();
            let tdx = g.tensor(&[n, h, w, c], "d_x").unwrap();
            for span in GRID_SPANS {
                g.fill(&ty, f32::NAN);
                g.fill(&tdx, f32::NAN);
                let mut p = PlanBuilder::new(g, "avgpool2d");
                with_span(span, || {
                    ops::avgpool2d_forward(&mut p, &tx, &ty).unwrap();
                    ops::avgpool2d_backward(&mut p, &tdy, &tdx).unwrap();
                });
                g.run(&[&p.finish().unwrap()]).unwrap();
                let what = format!("{n}x{h}x{w}x{c} -> {oh}x{ow}, span {span:?}");
                assert_close(&format!("avgpool2d_forward {what}"), &g.download(&ty).unwrap(), &y_ref);
                assert_close(&format!("avgpool2d_backward {what}"), &g.download(&tdx).unwrap(), &dx_ref);
            }
        }
    });
}
