use crate::common::*;
use layerwise::gpu::{Gpu, PlanBuilder};
use layerwise::ops::{self, Conv2dDirection, Conv2dKernel, Conv2dShape, Conv2dTiling};
use layerwise::reference;

/// Host data and CPU references of one problem.
struct Case {
    s: Conv2dShape,
    x: Vec<f64>,
    w: Vec<f64>,
    b: Vec<f64>,
    d_y: Vec<f64>,
}

impl Case {
    fn new(s: Conv2dShape, rng: &mut Rng) -> Case {
        Case {
            s,
            x: rng.normals(s.x_len()),
            w: rng.normals(s.w_len()),
            b: rng.normals(s.cout),
            d_y: rng.normals(s.y_len()),
        }
    }
    fn forward_ref(&self, bias: bool, relu: bool) -> Vec<f64> {
        let mut y = vec![0.0; self.s.y_len()];
        reference::conv2d_forward(&self.x, &self.w, bias.then_some(&self.b[..]), &mut y, relu, &self.s);
        y
    }
    fn backward_input_ref(&self) -> Vec<f64> {
        let mut d_x = vec![0.0; self.s.x_len()];
        reference::conv2d_backward_input(&self.d_y, &self.w, &mut d_x, &self.s);
        d_x
    }
    fn backward_weight_ref(&self) -> (Vec<f64>, Vec<f64>) {
        let (mut d_w, mut d_b) = (vec![0.0; self.s.w_len()], vec![0.0; self.s.cout]);
        reference::conv2d_backward_weight(&self.x, &self.d_y, &mut d_w, Some(&mut d_b), &self.s);
        (d_w, d_b)
    }
}

/// Which kernel each direction runs: the host's choice, or one variant.
#[derive(Clone, Copy)]
enum Pick {
    Auto,
    Kernel(&'static Conv2dKernel),
}

/// Run one direction on the GPU (outputs NaN-poisoned first) and compare with the CPU reference.
fn check_direction(g: &Gpu, c: &Case, dir: Conv2dDirection, pick: Pick, bias: bool, relu: bool) {
    let s = c.s;
    let tx = g.tensor_from(&[s.n, s.h, s.w, s.cin], &to_f32(&c.x), "x").unwrap();
    let tw = g.tensor_from(&[s.cout, s.kh, s.kw, s.cin], &to_f32(&c.w), "w").unwrap();
    let tb = g.tensor_from(&[s.cout], &to_f32(&c.b), "b").unwrap();
    let tdy = g.tensor_from(&[s.n, s.oh(), s.ow(), s.cout], &to_f32(&c.d_y), "d_y").unwrap();
    let name = match pick {
        Pick::Auto => format!("auto ({})", ops::conv2d_choose(g, &s, dir).name()),
        Pick::Kernel(k) => k.name().to_string(),
    };
    let what = format!("{dir:?} {name} {s:?} bias={bias} relu={relu} checks={}", g.runtime_checks);
    let mut p = PlanBuilder::new(g, "conv2d");
    match dir {
        Conv2dDirection::Forward => {
            let ty = g.tensor(&[s.n, s.oh(), s.ow(), s.cout], "y").unwrap();
            g.fill(&ty, f32::NAN);
            let b = bias.then_some(&tb);
            match pick {
                Pick::Auto => ops::conv2d_forward(&mut p, &tx, &tw, b, &ty, relu).unwrap(),
                Pick::Kernel(k) => ops::conv2d_forward_with(&mut p, k, &tx, &tw, b, &ty, relu).unwrap(),
            }
            g.run(&[&p.finish().unwrap()]).unwrap();
            assert_close(&what, &g.download(&ty).unwrap(), &c.forward_ref(bias, relu));
        }
        Conv2dDirection::BackwardInput => {
            let tdx = g.tensor(&[s.n, s.h, s.w, s.cin], "d_x").unwrap();
            g.fill(&tdx, f32::NAN);
            match pick {
                Pick::Auto => ops::conv2d_backward_input(&mut p, &tdy, &tw, &tdx).unwrap(),
                Pick::Kernel(k) => ops::conv2d_backward_input_with(&mut p, k, &tdy, &tw, &tdx).unwrap(),
            }
            g.run(&[&p.finish().unwrap()]).unwrap();
            assert_close(&what, &g.download(&tdx).unwrap(), &c.backward_input_ref());
        }
        Conv2dDirection::BackwardWeight => {
            let tdw = g.tensor(&[s.cout, s.kh, s.kw, s.cin], "d_w").unwrap();
            let tdb = g.tensor(&[s.cout], "d_b").unwrap();
            let ws = g.tensor(&[ops::conv2d_backward_weight_workspace_len(&s, bias)], "workspace").unwrap();
            for t in [&tdw, &tdb, &ws] {
                g.fill(t, f32::NAN);
            }
            let d_b = bias.then_some(&tdb);
            match pick {
                Pick::Auto => ops::conv2d_backward_weight(&mut p, &tx, &tdy, &tdw, d_b, &ws).unwrap(),
                Pick::Kernel(k) => ops::conv2d_backward_weight_with(&mut p, k, &tx, &tdy, &tdw, d_b, &ws).unwrap(),
            }
            g.run(&[&p.finish().unwrap()]).unwrap();
            let (dw_ref, db_ref) = c.backward_weight_ref();
            assert_close(&what, &g.download(&tdw).unwrap(), &dw_ref);
            if bias {
                assert_close(&format!("d_bias {what}"), &g.download(&tdb).unwrap(), &db_ref);
            }
        }
    }
}

const DIRECTIONS: [Conv2dDirection; 3] =
    [Conv2dDirection::Forward, Conv2dDirection::BackwardInput, Conv2dDirection::BackwardWeight];

/// All three directions with the host's kernel choice.
fn check(g: &Gpu, s: Conv2dShape, bias: bool, relu: bool, rng: &mut Rng) {
    let c = Case::new(s, rng);
    for dir in DIRECTIONS {
        check_direction(g, &c, dir, Pick::Auto, bias, relu);
    }
}

const fn shape(n: usize, h: usize, w: usize, cin: usize, cout: usize, k: usize) -> Conv2dShape {
    Conv2dShape { n, h, w, cin, cout, kh: k, kw: k, stride: 1 }
}

/// `shape` at stride 2.
const fn strided(n: usize, h: usize, w: usize, cin: usize, cout: usize, k: usize) -> Conv2dShape {
    Conv2dShape { n, h, w, cin, cout, kh: k, kw: k, stride: 2 }
}

#[test]
fn conv2d_matches_reference_on_edge_shapes() {
    let shapes = [
        // batch 1, one input channel, odd sizes
        shape(1, 5, 7, 1, 3, 3),
        // three input channels (RGB first stage), cout not a multiple of the tile
        shape(2, 9, 6, 3, 70, 3),
        // 1x1 kernels (MLP-SR heads), channel counts crossing tile edges
        shape(3, 4, 5, 65, 17, 1),
        // wide channels, small map (late stages)
        shape(2, 3, 3, 130, 66, 3),
        // 5x5 kernel (general KxK)
        shape(1, 6, 6, 4, 5, 5),
        // 1x1 map: a linear layer
        shape(67, 1, 1, 33, 10, 1),
        // stride 2: a ResNet group's first 3x3 and its 1x1 projection (odd and even sizes: every phase of
        // the input gradient, and the odd rows and columns a 1x1 window never reaches), the 7x7 stem
        strided(2, 9, 8, 5, 12, 3),
        strided(3, 7, 6, 6, 17, 1),
        strided(1, 13, 12, 3, 9, 7),
        // stride 2 on a 1-pixel row and a 2x2 map
        strided(2, 1, 5, 4, 8, 3),
        strided(1, 2, 2, 8, 4, 1),
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
        for _ in 0..8 {
            let k = [1, 3, 7][rng.range(0, 2)];
            let stride = rng.range(1, 2);
            let (n, h, w) = (rng.range(1, 4), rng.range(1, 12), rng.range(1, 12));
            let s = Conv2dShape { stride, ..shape(n, h, w, rng.range(1, 40), rng.range(1, 80), k) };
            let bias = rng.range(0, 1) == 1;
            check(g, s, bias, false, &mut rng);
        }
    });
}

/// Shapes that put every variant at its edges: Cin 1 and 3, Cin % 4 == 0 and != 0, Cin a multiple of
/// the tiles' reduction step (whole tiles within one tap) or not, output columns and pixel counts just
/// past a 128 tile, image widths that are and are not multiples of the run lengths 4, 7 and 8, batch 1,
/// 1x1 and 5x5 kernels (the run kernels need 3-wide ones at stride 1 and are skipped elsewhere), and stride 2
/// with 3x3, 1x1 and 7x7 kernels on odd and even sizes.
const VARIANT_SHAPES: [Conv2dShape; 10] = [
    shape(1, 5, 7, 1, 3, 3),
    shape(2, 9, 10, 3, 130, 3),
    shape(1, 7, 15, 20, 40, 3),
    shape(3, 6, 14, 16, 33, 3),
    shape(2, 4, 8, 64, 17, 3),
    shape(3, 4, 5, 65, 17, 1),
    shape(1, 6, 6, 4, 5, 5),
    strided(2, 9, 10, 16, 33, 3),
    strided(3, 7, 9, 20, 12, 1),
    strided(1, 11, 8, 3, 17, 7),
];

#[test]
fn every_conv2d_kernel_variant_matches_reference() {
    both_modes(|g| {
        let mut rng = Rng::new(15);
        for (i, s) in VARIANT_SHAPES.iter().enumerate() {
            let c = Case::new(*s, &mut rng);
            for dir in DIRECTIONS {
                for k in ops::conv2d_kernels(dir) {
                    if k.supports(g, s) {
                        check_direction(g, &c, dir, Pick::Kernel(k), i % 2 == 0, i % 3 == 1);
                    }
                }
            }
        }
    });
}

#[test]
fn conv2d_backward_weight_splits_long_reductions() {
    // N*H*W = 2 * 40 * 40 = 3200 rows with few output tiles: many split-K chunks, combined in order.
    let s = shape(2, 40, 40, 3, 8, 3);
    both_modes(|g| {
        let c = Case::new(s, &mut Rng::new(13));
        for k in ops::conv2d_kernels(Conv2dDirection::BackwardWeight) {
            check_direction(g, &c, Conv2dDirection::BackwardWeight, Pick::Kernel(k), true, false);
        }
    });
}

#[test]
fn conv2d_choice_fits_the_adapter() {
    let Some(g) = gpu(false) else { return };
    let cpu = g.summary.device_type == "Cpu" && g.summary.subgroup && g.summary.subgroup_size.0 >= 8;
    for s in VARIANT_SHAPES.iter().chain(&[
        shape(128, 28, 28, 1, 16, 3),
        shape(128, 14, 14, 64, 32, 3),
        shape(128, 8, 8, 1024, 1024, 3),
        strided(128, 32, 32, 16, 32, 3),
        strided(128, 32, 32, 16, 32, 1),
        strided(128, 224, 224, 3, 64, 7),
    ]) {
        for dir in DIRECTIONS {
            let k = ops::conv2d_choose(g, s, dir);
            assert_eq!(k.direction, dir);
            assert!(k.supports(g, s), "{} for {s:?}", k.name());
            // CPU adapters get the kernels built for them (10x faster there), GPUs the tiled ones.
            assert_eq!(
                !matches!(k.tiling, Conv2dTiling::Tiled { .. }),
                cpu,
                "{} on {} for {s:?}",
                k.name(),
                g.summary.name
            );
        }
    }
}

#[test]
fn conv2d_is_deterministic() {
    let g = gpu(false).or(gpu(true));
    let Some(g) = g else { return };
    let s = shape(2, 20, 20, 8, 16, 3);
    let mut rng = Rng::new(14);
    let tx = g.tensor_from(&[s.n, s.h, s.w, s.cin], &to_f32(&rng.normals(s.x_len())), "x").unwrap();
    let tdy = g.tensor_from(&[s.n, s.oh(), s.ow(), s.cout], &to_f32(&rng.normals(s.y_len())), "d_y").unwrap();
    let tdw = g.tensor(&[s.cout, s.kh, s.kw, s.cin], "d_w").unwrap();
    let tdb = g.tensor(&[s.cout], "d_b").unwrap();
    let ws = g.tensor(&[ops::conv2d_backward_weight_workspace_len(&s, true)], "ws").unwrap();
    for k in ops::conv2d_kernels(Conv2dDirection::BackwardWeight).filter(|k| k.supports(g, &s)) {
        let mut p = PlanBuilder::new(g, "conv2d bw");
        ops::conv2d_backward_weight_with(&mut p, k, &tx, &tdy, &tdw, Some(&tdb), &ws).unwrap();
        let plan = p.finish().unwrap();
        g.run(&[&plan]).unwrap();
        let first = (g.download_u32(&tdw).unwrap(), g.download_u32(&tdb).unwrap());
        g.fill(&tdw, f32::NAN);
        g.run(&[&plan]).unwrap();
        assert_eq!(
            first,
            (g.download_u32(&tdw).unwrap(), g.download_u32(&tdb).unwrap()),
            "{} bitwise repeatable",
            k.name()
        );
    }
}

/// The PyTorch float64 cases (stride 1 and 2, kernels 1, 3 and 7) through the kernels the library picks,
/// each direction against PyTorch's own result.
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
    both_modes(|g| {
        for (case, stride) in cases {
            let get = |name: &str| {
                let (v, shape) = torch(&format!("{case}.{name}"));
                let v = if shape.len() == 4 { nchw_to_nhwc(&v, &shape) } else { v };
                (to_f32(&v), v, shape)
            };
            let ((x, _, xs), (w, _, ws)) = (get("x"), get("weight"));
            let (b, (d_y, _, ys)) = (get("bias").0, get("d_y"));
            let s = Conv2dShape { n: xs[0], h: xs[2], w: xs[3], cin: xs[1], cout: ws[0], kh: ws[2], kw: ws[3], stride };
            let tx = g.tensor_from(&[s.n, s.h, s.w, s.cin], &x, "x").unwrap();
            let tw = g.tensor_from(&[s.cout, s.kh, s.kw, s.cin], &w, "w").unwrap();
            let tb = g.tensor_from(&[s.cout], &b, "b").unwrap();
            let tdy = g.tensor_from(&[ys[0], ys[2], ys[3], ys[1]], &d_y, "d_y").unwrap();
            let ty = g.tensor(tdy.shape(), "y").unwrap();
            let tdx = g.tensor(tx.shape(), "d_x").unwrap();
            let tdw = g.tensor(tw.shape(), "d_w").unwrap();
            let tdb = g.tensor(&[s.cout], "d_b").unwrap();
            let ws = g.tensor(&[ops::conv2d_backward_weight_workspace_len(&s, true)], "workspace").unwrap();
            for t in [&ty, &tdx, &tdw, &tdb] {
                g.fill(t, f32::NAN);
            }
            let mut p = PlanBuilder::new(g, "conv2d vs pytorch");
            ops::conv2d_forward(&mut p, &tx, &tw, Some(&tb), &ty, false).unwrap();
            ops::conv2d_backward_input(&mut p, &tdy, &tw, &tdx).unwrap();
            ops::conv2d_backward_weight(&mut p, &tx, &tdy, &tdw, Some(&tdb), &ws).unwrap();
            g.run(&[&p.finish().unwrap()]).unwrap();
            let what = |t: &str| format!("{case} {t} (checks={})", g.runtime_checks);
            assert_close(&what("y"), &g.download(&ty).unwrap(), &get("y").1);
            assert_close(&what("d_x"), &g.download(&tdx).unwrap(), &get("d_x").1);
            assert_close(&what("d_weight"), &g.download(&tdw).unwrap(), &get("d_weight").1);
            assert_close(&what("d_bias"), &g.download(&tdb).unwrap(), &get("d_bias").1);
        }
    });
}
