use crate::common::*;
use layerwise::bench::verify::L2_TOL;
use layerwise::gpu::{Gpu, ParamArena, PlanBuilder, Tensor};
use layerwise::{ops, reference};

/// One batchnorm problem: x [M, C] plus its per-channel tensors, all rounded to f32 so both sides see
/// the same inputs.
pub struct Case {
    pub shape: Vec<usize>,
    pub c: usize,
    pub x: Vec<f64>,
    pub gamma: Vec<f64>,
    pub beta: Vec<f64>,
    pub running_mean: Vec<f64>,
    pub running_var: Vec<f64>,
    pub d_y: Vec<f64>,
}

impl Case {
    pub fn new(rng: &mut Rng, shape: &[usize], offset: f64, scale: f64) -> Case {
        let c = *shape.last().unwrap();
        let len: usize = shape.iter().product();
        let f32r = |v: f64| v as f32 as f64;
        // Per-channel offsets too, so channels are not interchangeable.
        let shifts: Vec<f64> = (0..c).map(|_| offset + scale * rng.normal()).collect();
        let x = (0..len).map(|i| f32r(shifts[i % c] + scale * rng.normal())).collect();
        let gamma = (0..c).map(|_| f32r(1.0 + 0.5 * rng.normal())).collect();
        let beta = rng.normals(c);
        let running_mean = rng.normals(c);
        let running_var = (0..c).map(|_| f32r(0.5 + rng.next_f64())).collect();
        let d_y = rng.normals(len);
        Case { shape: shape.to_vec(), c, x, gamma, beta, running_mean, running_var, d_y }
    }
}

/// Per-channel tensors packed the way the trainer packs them: gamma/beta in a parameter arena, running
/// stats in their own arena, saved stats in another, gradients in a third (so outputs share buffers).
pub struct Channels {
    pub params: ParamArena,
    pub running: ParamArena,
    pub saved: ParamArena,
    pub grads: ParamArena,
}

pub fn channels(g: &Gpu, c: usize) -> Channels {
    let two = [vec![c], vec![c]];
    let params = ParamArena::new(g, &two, "bn params").unwrap();
    let running = ParamArena::new(g, &two, "bn running").unwrap();
    let saved = ParamArena::new(g, &two, "bn saved").unwrap();
    let grads = params.like(g, "bn grads").unwrap();
    Channels { params, running, saved, grads }
}

pub fn poisoned(g: &Gpu, shape: &[usize], what: &str) -> Tensor {
    let t = g.tensor(shape, what).unwrap();
    g.fill(&t, f32::NAN);
    t
}

/// The CPU references of one case: the training forward (with the running statistics it updates and the
/// statistics it saves), the evaluation forward from the original running statistics, and the backward.
struct Expected {
    y: Vec<f64>,
    y_eval: Vec<f64>,
    save_mean: Vec<f64>,
    save_invstd: Vec<f64>,
    running_mean: Vec<f64>,
    running_var: Vec<f64>,
    /// y and the saved statistics rounded to f32: what the backward reads, on both sides.
    y32: Vec<f64>,
    save_mean32: Vec<f64>,
    save_invstd32: Vec<f64>,
    d_x: Vec<f64>,
    d_gamma: Vec<f64>,
    d_beta: Vec<f64>,
}

impl Expected {
    fn of(k: &Case, relu: bool) -> Expected {
        let (c, len) = (k.c, k.x.len());
        let mut rm = k.running_mean.clone();
        let mut rv = k.running_var.clone();
        let (mut save_mean, mut save_invstd) = (vec![0.0; c], vec![0.0; c]);
        let mut y = vec![0.0; len];
        reference::batchnorm_forward_train(
            &k.x,
            &k.gamma,
            &k.beta,
            &mut rm,
            &mut rv,
            &mut save_mean,
            &mut save_invstd,
            &mut y,
            relu,
        );
        let mut y_eval = vec![0.0; len];
        reference::batchnorm_forward_eval(&k.x, &k.gamma, &k.beta, &k.running_mean, &k.running_var, &mut y_eval, relu);
        // The backward gets the f32 versions of what the forward saved, as the GPU backward does.
        let (y32, sm32, si32) = (to_f64(&to_f32(&y)), to_f64(&to_f32(&save_mean)), to_f64(&to_f32(&save_invstd)));
        let mut d_x = vec![0.0; len];
        let (mut d_gamma, mut d_beta) = (vec![0.0; c], vec![0.0; c]);
        reference::batchnorm_backward(
            &k.x,
            &y32,
            &k.d_y,
            &k.gamma,
            &sm32,
            &si32,
            &mut d_x,
            &mut d_gamma,
            &mut d_beta,
            relu,
        );
        Expected {
            y,
            y_eval,
            save_mean,
            save_invstd,
            running_mean: rm,
            running_var: rv,
            y32,
            save_mean32: sm32,
            save_invstd32: si32,
            d_x,
            d_gamma,
            d_beta,
        }
    }
}

fn check_case(g: &Gpu, k: &Case, relu: bool) {
    let e = Expected::of(k, relu);
    let ch = channels(g, k.c);
    ch.params.upload(g, &[to_f32(&k.gamma), to_f32(&k.beta)]);
    ch.running.upload(g, &[to_f32(&k.running_mean), to_f32(&k.running_var)]);
    g.fill(&ch.saved.all, f32::NAN);
    g.fill(&ch.grads.all, f32::NAN);
    let tx = g.tensor_from(&k.shape, &to_f32(&k.x), "x").unwrap();
    check_forward(g, k, &ch, &tx, &e, relu);
    check_backward(g, k, &ch, &tx, &e, relu);
}

/// The training forward (into `ch`'s running and saved statistics) and the evaluation forward.
fn check_forward(g: &Gpu, k: &Case, ch: &Channels, tx: &Tensor, e: &Expected, relu: bool) {
    let what = format!("{:?} relu={relu}", k.shape);
    let (gamma, beta) = (&ch.params.tensors[0], &ch.params.tensors[1]);
    let (t_rm, t_rv) = (&ch.running.tensors[0], &ch.running.tensors[1]);
    let (t_sm, t_si) = (&ch.saved.tensors[0], &ch.saved.tensors[1]);
    let eval_stats = ParamArena::new(g, &[vec![k.c], vec![k.c]], "bn eval running").unwrap();
    eval_stats.upload(g, &[to_f32(&k.running_mean), to_f32(&k.running_var)]);
    let ty = poisoned(g, &k.shape, "y");
    let ty_eval = poisoned(g, &k.shape, "y_eval");
    let ws = poisoned(g, &[ops::batchnorm_workspace_len(k.x.len() / k.c, k.c)], "bn workspace");
    let mut p = PlanBuilder::new(g, "bn forward");
    ops::batchnorm_forward_train(&mut p, tx, gamma, beta, t_rm, t_rv, t_sm, t_si, &ty, &ws, relu).unwrap();
    let (eval_mean, eval_var) = (&eval_stats.tensors[0], &eval_stats.tensors[1]);
    ops::batchnorm_forward_eval(&mut p, tx, gamma, beta, eval_mean, eval_var, &ty_eval, relu).unwrap();
    g.run(&[&p.finish().unwrap()]).unwrap();
    assert_close(&format!("y {what}"), &g.download(&ty).unwrap(), &e.y);
    assert_close(&format!("y_eval {what}"), &g.download(&ty_eval).unwrap(), &e.y_eval);
    assert_close(&format!("save_mean {what}"), &g.download(t_sm).unwrap(), &e.save_mean);
    assert_close(&format!("save_invstd {what}"), &g.download(t_si).unwrap(), &e.save_invstd);
    assert_close(&format!("running_mean {what}"), &g.download(t_rm).unwrap(), &e.running_mean);
    assert_close(&format!("running_var {what}"), &g.download(t_rv).unwrap(), &e.running_var);
}

/// The backward from the same inputs the reference saw (saved statistics and y in f32).
fn check_backward(g: &Gpu, k: &Case, ch: &Channels, tx: &Tensor, e: &Expected, relu: bool) {
    let what = format!("{:?} relu={relu}", k.shape);
    let (c, len) = (k.c, k.x.len());
    let gamma = &ch.params.tensors[0];
    let (t_sm, t_si) = (&ch.saved.tensors[0], &ch.saved.tensors[1]);
    let (t_dgamma, t_dbeta) = (&ch.grads.tensors[0], &ch.grads.tensors[1]);
    ch.saved.upload(g, &[to_f32(&e.save_mean32), to_f32(&e.save_invstd32)]);
    let ty32 = g.tensor_from(&k.shape, &to_f32(&e.y32), "y f32").unwrap();
    let tdy = g.tensor_from(&k.shape, &to_f32(&k.d_y), "d_y").unwrap();
    let tdx = poisoned(g, &k.shape, "d_x");
    let ws = poisoned(g, &[ops::batchnorm_workspace_len(len / c, c)], "bn workspace");
    let y_arg = if relu { &ty32 } else { tx };
    let mut p = PlanBuilder::new(g, "bn backward");
    ops::batchnorm_backward(&mut p, tx, y_arg, &tdy, gamma, t_sm, t_si, &tdx, t_dgamma, t_dbeta, &ws, relu).unwrap();
    g.run(&[&p.finish().unwrap()]).unwrap();
    let got_dx = g.download(&tdx).unwrap();
    if len / c > 2 {
        assert_close(&format!("d_x {what}"), &got_dx, &e.d_x);
    } else {
        // With two rows xhat = +-1 up to eps, so d_x = gamma * invstd * (g - mean(g) - xhat * mean(g * xhat))
        // is zero up to eps / var: any f32 evaluation cancels. Measure against the size of the terms.
        let terms: Vec<f64> = (0..len).map(|i| k.gamma[i % c] * e.save_invstd32[i % c] * k.d_y[i]).collect();
        let norm = |v: &mut dyn Iterator<Item = f64>| v.map(|t| t * t).sum::<f64>().sqrt();
        let err = norm(&mut got_dx.iter().zip(&e.d_x).map(|(&a, b)| a as f64 - b)) / norm(&mut terms.into_iter());
        assert!(err < L2_TOL, "d_x {what}: error {err:.3e} relative to the terms");
    }
    assert_close(&format!("d_gamma {what}"), &g.download(t_dgamma).unwrap(), &e.d_gamma);
    assert_close(&format!("d_beta {what}"), &g.download(t_dbeta).unwrap(), &e.d_beta);
}

#[test]
fn batchnorm_matches_reference() {
    // NHWC and [N, C] shapes: batch 1, C = 1, 3, 5, 64, 300, M from 2 up to many row blocks with a short
    // last block (M = 3 * 41 * 43 = 5289). The f32 kernels take C % 4 != 0, the vec4 kernels the rest;
    // C = 259 (f32) and 1028 (vec4) need two channel tiles of a workgroup each, C = 16 (vec4) packs 64
    // row lanes into a workgroup.
    let shapes: [&[usize]; 11] = [
        &[2, 1],
        &[1, 5, 7, 3],
        &[3, 5, 7, 5],
        &[2, 9, 11, 64],
        &[6, 300],
        &[3, 41, 43, 1],
        &[128, 1000],
        &[2, 13, 17, 3],
        &[3, 5, 259],
        &[5, 1028],
        &[4, 13, 11, 16],
    ];
    both_modes(|g| {
        let mut rng = Rng::new(11);
        for (i, shape) in shapes.iter().enumerate() {
            let k = Case::new(&mut rng, shape, 0.0, 1.0);
            for span in GRID_SPANS {
                with_span(span, || {
                    check_case(g, &k, i % 2 == 0);
                    check_case(g, &k, i % 2 == 1);
                });
            }
        }
    });
}

#[test]
fn batchnorm_keeps_precision_on_shifted_inputs() {
    // Mean 100, std 0.1: the variance is 1e-6 of the second moment, so E[x^2] - E[x]^2 in f32 would lose it.
    // The largest case spans the full 256 chunks.
    let shapes: [&[usize]; 3] = [&[4, 9, 7, 5], &[2, 31, 33, 64], &[16, 64, 65, 3]];
    both_modes(|g| {
        let mut rng = Rng::new(12);
        for shape in shapes {
            let k = Case::new(&mut rng, shape, 100.0, 0.1);
            for span in GRID_SPANS {
                with_span(span, || {
                    check_case(g, &k, false);
                    check_case(g, &k, true);
                });
            }
        }
    });
}

#[test]
fn batchnorm_is_deterministic() {
    both_modes(|g| {
        let mut rng = Rng::new(13);
        let k = Case::new(&mut rng, &[2, 23, 29, 7], 3.0, 2.0);
        let ch = channels(g, k.c);
        let tx = g.tensor_from(&k.shape, &to_f32(&k.x), "x").unwrap();
        let tdy = g.tensor_from(&k.shape, &to_f32(&k.d_y), "d_y").unwrap();
        let ty = g.tensor(&k.shape, "y").unwrap();
        let tdx = g.tensor(&k.shape, "d_x").unwrap();
        let ws = g.tensor(&[ops::batchnorm_workspace_len(k.x.len() / k.c, k.c)], "ws").unwrap();
        let (gamma, beta) = (&ch.params.tensors[0], &ch.params.tensors[1]);
        let (t_rm, t_rv) = (&ch.running.tensors[0], &ch.running.tensors[1]);
        let (t_sm, t_si) = (&ch.saved.tensors[0], &ch.saved.tensors[1]);
        let mut p = PlanBuilder::new(g, "bn step");
        ops::batchnorm_forward_train(&mut p, &tx, gamma, beta, t_rm, t_rv, t_sm, t_si, &ty, &ws, true).unwrap();
        ops::batchnorm_backward(
            &mut p,
            &tx,
            &ty,
            &tdy,
            gamma,
            t_sm,
            t_si,
            &tdx,
            &ch.grads.tensors[0],
            &ch.grads.tensors[1],
            &ws,
            true,
        )
        .unwrap();
        let plan = p.finish().unwrap();
        ch.params.upload(g, &[to_f32(&k.gamma), to_f32(&k.beta)]);
        let bits = |t: &Tensor| g.download(t).unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let mut runs = Vec::new();
        for _ in 0..3 {
            g.run(&[&plan]).unwrap();
            runs.push([bits(&ty), bits(&ch.saved.all), bits(&tdx), bits(&ch.grads.all)]);
        }
        assert!(runs.windows(2).all(|w| w[0] == w[1]), "batchnorm results differ between identical runs");
    });
}

#[test]
fn batchnorm_train_refuses_a_single_row() {
    both_modes(|g| {
        let ch = channels(g, 4);
        let tx = g.tensor(&[1, 4], "x").unwrap();
        let ty = g.tensor(&[1, 4], "y").unwrap();
        let ws = g.tensor(&[ops::batchnorm_workspace_len(1, 4)], "ws").unwrap();
        let mut p = PlanBuilder::new(g, "bn one row");
        let r = ops::batchnorm_forward_train(
            &mut p,
            &tx,
            &ch.params.tensors[0],
            &ch.params.tensors[1],
            &ch.running.tensors[0],
            &ch.running.tensors[1],
            &ch.saved.tensors[0],
            &ch.saved.tensors[1],
            &ty,
            &ws,
            false,
        );
        let e = r.expect_err("M = 1 must be refused in training");
        assert!(e.to_string().contains("more than one value per channel"), "{e}");
    });
}
