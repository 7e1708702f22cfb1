use crate::common::*;
use layerwise::gpu::{Gpu, PlanBuilder};
use layerwise::ops::{self, Conv2dShape};
use layerwise::reference;

/// Run all three directions on the GPU and compare with the CPU reference.
fn check(g: &Gpu, s: Conv2dShape, bias: bool, relu: bool, rng: &mut Rng) {
    let x = rng.normals(s.x_len());
    let w = rng.normals(s.w_len());
    let b = rng.normals(s.cout);
    let d_y = rng.normals(s.y_len());
    let mut y_ref = vec![0.0; s.y_len()];
    let mut dx_ref = vec![0.0; s.x_len()];
    let mut dw_ref = vec![0.0; s.w_len()];
    let mut db_ref = vec![0.0; s.cout];
    reference::conv2d_forward(&x, &w, bias.then_some(&b[..]), &mut y_ref, relu, &s);
    reference::conv2d_backward_input(&d_y, &w, &mut dx_ref, &s);
    reference::conv2d_backward_weight(&x, &d_y, &mut dw_ref, Some(&mut db_ref), &s);

    let tx = g.tensor_from(&[s.n, s.h, s.w, s.cin], &to_f32(&x), "x").unwrap();
    let tw = g.tensor_from(&[s.cout, s.kh, s.kw, s.cin], &to_f32(&w), "w").unwrap();
    let tb = g.tensor_from(&[s.cout], &to_f32(&b), "b").unwrap();
    let tdy = g.tensor_from(&[s.n, s.h, s.w, s.cout], &to_f32(&d_y), "d_y").unwrap();
    let ty = g.tensor(&[s.n, s.h, s.w, s.cout], "y").unwrap();
    let tdx = g.tensor(&[s.n, s.h, s.w, s.cin], "d_x").unwrap();
    let tdw = g.tensor(&[s.cout, s.kh, s.kw, s.cin], "d_w").unwrap();
    let tdb = g.tensor(&[s.cout], "d_b").unwrap();
    let ws = g.tensor(&[ops::conv2d_backward_weight_workspace_len(&s, bias)], "workspace").unwrap();
    for t in [&ty, &tdx, &tdw, &tdb, &ws] {
        g.fill(t, f32::NAN);
    }
    let mut p = PlanBuilder::new(g, "conv2d");
    ops::conv2d_forward(&mut p, &tx, &tw, bias.then_some(&tb), &ty, relu).unwrap();
    ops::conv2d_backward_input(&mut p, &tdy, &tw, &tdx).unwrap();
    ops::conv2d_backward_weight(&mut p, &tx, &tdy, &tdw, bias.then_some(&tdb), &ws).unwrap();
    g.run(&[&p.finish().unwrap()]).unwrap();
    let what = format!("{s:?} bias={bias} relu={relu} checks={}", g.runtime_checks);
    assert_close(&format!("conv2d_forward {what}"), &g.download(&ty).unwrap(), &y_ref);
    assert_close(&format!("conv2d_backward_input {what}"), &g.download(&tdx).unwrap(), &dx_ref);
    assert_close(&format!("conv2d_backward_weight {what}"), &g.download(&tdw).unwrap(), &dw_ref);
    if bias {
        assert_close(&format!("conv2d d_bias {what}"), &g.download(&tdb).unwrap(), &db_ref);
    }
}

#[test]
fn conv2d_matches_reference_on_edge_shapes() {
    let shapes = [
        // batch 1, one input channel, odd sizes
        Conv2dShape { n: 1, h: 5, w: 7, cin: 1, cout: 3, kh: 3, kw: 3 },
        // three input channels (RGB first stage), cout not a multiple of the tile
        Conv2dShape { n: 2, h: 9, w: 6, cin: 3, cout: 70, kh: 3, kw: 3 },
        // 1x1 kernels (MLP-SR heads), channel counts crossing tile edges
        Conv2dShape { n: 3, h: 4, w: 5, cin: 65, cout: 17, kh: 1, kw: 1 },
        // wide channels, small map (late stages)
        Conv2dShape { n: 2, h: 3, w: 3, cin: 130, cout: 66, kh: 3, kw: 3 },
        // 5x5 kernel (general KxK)
        Conv2dShape { n: 1, h: 6, w: 6, cin: 4, cout: 5, kh: 5, kw: 5 },
        // 1x1 map: a linear layer
        Conv2dShape { n: 67, h: 1, w: 1, cin: 33, cout: 10, kh: 1, kw: 1 },
    ];
    both_modes(|g| {
        let mut rng = Rng::new(11);
        for (i, s) in shapes.iter().enumerate() {
            check(g, *s, i % 2 == 0, i % 3 == 1, &mut rng);
        }
    });
}

#[test]
fn conv2d_matches_reference_on_random_shapes() {
    both_modes(|g| {
        let mut rng = Rng::new(12);
        for _ in 0..6 {
            let k = [1, 3][rng.range(0, 1)];
            let s = Conv2dShape {
                n: rng.range(1, 4),
                h: rng.range(1, 12),
                w: rng.range(1, 12),
                cin: rng.range(1, 40),
                cout: rng.range(1, 80),
                kh: k,
                kw: k,
            };
            let bias = rng.range(0, 1) == 1;
            check(g, s, bias, false, &mut rng);
        }
    });
}

#[test]
fn conv2d_backward_weight_splits_long_reductions() {
    // N*H*W = 2 * 40 * 40 = 3200 rows with few output tiles: many split-K chunks, combined in order.
    let s = Conv2dShape { n: 2, h: 40, w: 40, cin: 3, cout: 8, kh: 3, kw: 3 };
    both_modes(|g| check(g, s, true, false, &mut Rng::new(13)));
}

#[test]
fn conv2d_is_deterministic() {
    let g = gpu(false).or(gpu(true));
    let Some(g) = g else { return };
    let s = Conv2dShape { n: 2, h: 20, w: 20, cin: 8, cout: 16, kh: 3, kw: 3 };
    let mut rng = Rng::new(14);
    let tx = g.tensor_from(&[s.n, s.h, s.w, s.cin], &to_f32(&rng.normals(s.x_len())), "x").unwrap();
    let tdy = g.tensor_from(&[s.n, s.h, s.w, s.cout], &to_f32(&rng.normals(s.y_len())), "d_y").unwrap();
    let tdw = g.tensor(&[s.cout, s.kh, s.kw, s.cin], "d_w").unwrap();
    let tdb = g.tensor(&[s.cout], "d_b").unwrap();
    let ws = g.tensor(&[ops::conv2d_backward_weight_workspace_len(&s, true)], "ws").unwrap();
    let mut p = PlanBuilder::new(g, "conv2d bw");
    ops::conv2d_backward_weight(&mut p, &tx, &tdy, &tdw, Some(&tdb), &ws).unwrap();
    let plan = p.finish().unwrap();
    g.run(&[&plan]).unwrap();
    let first = (g.download_u32(&tdw).unwrap(), g.download_u32(&tdb).unwrap());
    g.run(&[&plan]).unwrap();
    assert_eq!(first, (g.download_u32(&tdw).unwrap(), g.download_u32(&tdb).unwrap()), "bitwise repeatable");
}
