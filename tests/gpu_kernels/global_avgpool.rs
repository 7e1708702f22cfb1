use crate::common::*;
use layerwise::gpu::PlanBuilder;
use layerwise::{ops, reference};

#[test]
fn global_avgpool_matches_reference_and_pytorch() {
    both_modes(|g| {
        let mut rng = Rng::new(42);
        // (N, H, W, C): the CIFAR ResNets' 8x8 end at 64 channels (vec4), ImageNet's 7x7 at 512, batch 1,
        // 1x1 maps, odd sizes and channel counts (f32 kernels), C = 259 (more than one tile).
        let mut cases = vec![(4, 8, 8, 64), (2, 7, 7, 512), (1, 5, 3, 3), (3, 1, 1, 4), (2, 6, 9, 259)];
        // PyTorch's case, [N, C, H, W] stored.
        let (tx_pt, xs) = torch("global_avgpool.x");
        cases.push((xs[0], xs[2], xs[3], xs[1]));
        for (i, &(n, h, w, c)) in cases.iter().enumerate() {
            let pytorch = i + 1 == cases.len();
            let (x, d_y) = if pytorch {
                (nchw_to_nhwc(&tx_pt, &xs), torch("global_avgpool.d_y").0)
            } else {
                (rng.normals(n * h * w * c), rng.normals(n * c))
            };
            let (mut y_ref, mut dx_ref) = (vec![0.0; n * c], vec![0.0; x.len()]);
            reference::global_avgpool_forward(&x, &mut y_ref, n, h, w, c);
            reference::global_avgpool_backward(&d_y, &mut dx_ref, n, h, w, c);
            if pytorch {
                y_ref = torch("global_avgpool.y").0;
                let (d_x, shape) = torch("global_avgpool.d_x");
                dx_ref = nchw_to_nhwc(&d_x, &shape);
            }
            let tx = g.tensor_from(&[n, h, w, c], &to_f32(&x), "x").unwrap();
            let tdy = g.tensor_from(&[n, c], &to_f32(&d_y), "d_y").unwrap();
            let (ty, tdx) = (g.tensor(&[n, c], "y").unwrap(), g.tensor(&[n, h, w, c], "d_x").unwrap());
            for span in GRID_SPANS {
                g.fill(&ty, f32::NAN);
                g.fill(&tdx, f32::NAN);
                let mut p = PlanBuilder::new(g, "global avgpool");
                with_span(span, || {
                    ops::global_avgpool_forward(&mut p, &tx, &ty).unwrap();
                    ops::global_avgpool_backward(&mut p, &tdy, &tdx).unwrap();
                });
                g.run(&[&p.finish().unwrap()]).unwrap();
                let what = format!("{n}x{h}x{w}x{c} (pytorch: {pytorch}), span {span:?}");
                assert_close(&format!("global_avgpool_forward {what}"), &g.download(&ty).unwrap(), &y_ref);
                assert_close(&format!("global_avgpool_backward {what}"), &g.download(&tdx).unwrap(), &dx_ref);
            }
        }
    });
}
