use crate::batchnorm::{channels, poisoned, Case};
use crate::common::*;
use layerwise::gpu::{Gpu, PlanBuilder};
use layerwise::{ops, reference};

/// The fused y = relu(batchnorm(x) + r) against its reference: the training forward (running and saved
/// statistics included), the evaluation forward, and the backward (d_x, d_r, d_gamma, d_beta) from the
/// f32 values the forward left, as the trainer runs it.
fn check_case(g: &Gpu, k: &Case, r: &[f64]) {
    let (c, len) = (k.c, k.x.len());
    let what = format!("{:?} (checks={})", k.shape, g.runtime_checks);
    let (mut rm, mut rv) = (k.running_mean.clone(), k.running_var.clone());
    let (mut sm, mut si, mut y) = (vec![0.0; c], vec![0.0; c], vec![0.0; len]);
    reference::batchnorm_add_relu_forward_train(&k.x, r, &k.gamma, &k.beta, &mut rm, &mut rv, &mut sm, &mut si, &mut y);
    let mut y_eval = vec![0.0; len];
    let (m0, v0) = (&k.running_mean, &k.running_var);
    reference::batchnorm_add_relu_forward_eval(&k.x, r, &k.gamma, &k.beta, m0, v0, &mut y_eval);

    let ch = channels(g, c);
    ch.params.upload(g, &[to_f32(&k.gamma), to_f32(&k.beta)]);
    ch.running.upload(g, &[to_f32(&k.running_mean), to_f32(&k.running_var)]);
    g.fill(&ch.saved.all, f32::NAN);
    g.fill(&ch.grads.all, f32::NAN);
    let eval = layerwise::gpu::ParamArena::new(g, &[vec![c], vec![c]], "eval running").unwrap();
    eval.upload(g, &[to_f32(&k.running_mean), to_f32(&k.running_var)]);
    let tx = g.tensor_from(&k.shape, &to_f32(&k.x), "x").unwrap();
    let tr = g.tensor_from(&k.shape, &to_f32(r), "r").unwrap();
    let (ty, ty_eval) = (poisoned(g, &k.shape, "y"), poisoned(g, &k.shape, "y_eval"));
    let ws = poisoned(g, &[ops::batchnorm_workspace_len(len / c, c)], "workspace");
    let (gamma, beta) = (&ch.params.tensors[0], &ch.params.tensors[1]);
    let (t_rm, t_rv) = (&ch.running.tensors[0], &ch.running.tensors[1]);
    let (t_sm, t_si) = (&ch.saved.tensors[0], &ch.saved.tensors[1]);
    let mut p = PlanBuilder::new(g, "bn add relu forward");
    ops::batchnorm_add_relu_forward_train(&mut p, &tx, &tr, gamma, beta, t_rm, t_rv, t_sm, t_si, &ty, &ws).unwrap();
    let (e_rm, e_rv) = (&eval.tensors[0], &eval.tensors[1]);
    ops::batchnorm_add_relu_forward_eval(&mut p, &tx, &tr, gamma, beta, e_rm, e_rv, &ty_eval).unwrap();
    g.run(&[&p.finish().unwrap()]).unwrap();
    assert_close(&format!("y {what}"), &g.download(&ty).unwrap(), &y);
    assert_close(&format!("y_eval {what}"), &g.download(&ty_eval).unwrap(), &y_eval);
    assert_close(&format!("save_mean {what}"), &g.download(t_sm).unwrap(), &sm);
    assert_close(&format!("save_invstd {what}"), &g.download(t_si).unwrap(), &si);
    assert_close(&format!("running_mean {what}"), &g.download(t_rm).unwrap(), &rm);
    assert_close(&format!("running_var {what}"), &g.download(t_rv).unwrap(), &rv);

    // The backward reads what the GPU forward left (y, saved statistics), as in training.
    let (y32, sm32, si32) =
        (to_f64(&g.download(&ty).unwrap()), to_f64(&g.download(t_sm).unwrap()), to_f64(&g.download(t_si).unwrap()));
    let (mut d_x, mut d_r, mut d_gamma, mut d_beta) = (vec![0.0; len], vec![0.0; len], vec![0.0; c], vec![0.0; c]);
    reference::batchnorm_add_relu_backward(
        &k.x,
        &y32,
        &k.d_y,
        &k.gamma,
        &sm32,
        &si32,
        &mut d_x,
        &mut d_r,
        &mut d_gamma,
        &mut d_beta,
    );
    let tdy = g.tensor_from(&k.shape, &to_f32(&k.d_y), "d_y").unwrap();
    let (tdx, tdr) = (poisoned(g, &k.shape, "d_x"), poisoned(g, &k.shape, "d_r"));
    let (t_dg, t_db) = (&ch.grads.tensors[0], &ch.grads.tensors[1]);
    let mut p = PlanBuilder::new(g, "bn add relu backward");
    ops::batchnorm_add_relu_backward(&mut p, &tx, &ty, &tdy, gamma, t_sm, t_si, &tdx, &tdr, t_dg, t_db, &ws).unwrap();
    g.run(&[&p.finish().unwrap()]).unwrap();
    assert_close(&format!("d_x {what}"), &g.download(&tdx).unwrap(), &d_x);
    assert_close(&format!("d_r {what}"), &g.download(&tdr).unwrap(), &d_r);
    assert_close(&format!("d_gamma {what}"), &g.download(t_dg).unwrap(), &d_gamma);
    assert_close(&format!("d_beta {what}"), &g.download(t_db).unwrap(), &d_beta);
}

#[test]
fn batchnorm_add_relu_matches_reference() {
    // NHWC shapes: batch 1, C = 1, 3 and 5 (f32 kernels), 16 and 64 (vec4), many row blocks with a short
    // last one, and C = 259 (two channel tiles).
    let shapes: [&[usize]; 6] =
        [&[1, 5, 7, 3], &[3, 5, 7, 5], &[2, 9, 11, 64], &[3, 41, 43, 1], &[4, 13, 11, 16], &[3, 5, 259]];
    both_modes(|g| {
        let mut rng = Rng::new(21);
        for shape in shapes {
            let k = Case::new(&mut rng, shape, 0.0, 1.0);
            let r = rng.normals(k.x.len());
            for span in GRID_SPANS {
                with_span(span, || check_case(g, &k, &r));
            }
        }
    });
}

/// PyTorch's float64 `batchnorm_add_relu` case: y, the running statistics, the gradients and the
/// evaluation output.
#[test]
fn batchnorm_add_relu_matches_pytorch() {
    let ours = |name: &str| {
        let (v, shape) = torch(&format!("batchnorm_add_relu.{name}"));
        (if shape.len() == 4 { nchw_to_nhwc(&v, &shape) } else { v }, shape)
    };
    both_modes(|g| {
        let (x, xs) = ours("x");
        let shape = [xs[0], xs[2], xs[3], xs[1]];
        let c = xs[1];
        let ch = channels(g, c);
        ch.params.upload(g, &[to_f32(&ours("gamma").0), to_f32(&ours("beta").0)]);
        ch.running.upload(g, &[to_f32(&ours("running_mean_before").0), to_f32(&ours("running_var_before").0)]);
        let tensor = |name: &str| g.tensor_from(&shape, &to_f32(&ours(name).0), name).unwrap();
        let (tx, tr, tdy, tx_eval, tr_eval) =
            (tensor("x"), tensor("r"), tensor("d_y"), tensor("x_eval"), tensor("r_eval"));
        let [ty, ty_eval, tdx, tdr] = ["y", "y_eval", "d_x", "d_r"].map(|n| poisoned(g, &shape, n));
        let ws = poisoned(g, &[ops::batchnorm_workspace_len(x.len() / c, c)], "workspace");
        let (gamma, beta) = (&ch.params.tensors[0], &ch.params.tensors[1]);
        let (t_rm, t_rv) = (&ch.running.tensors[0], &ch.running.tensors[1]);
        let (t_sm, t_si) = (&ch.saved.tensors[0], &ch.saved.tensors[1]);
        let (t_dg, t_db) = (&ch.grads.tensors[0], &ch.grads.tensors[1]);
        let mut p = PlanBuilder::new(g, "bn add relu vs pytorch");
        ops::batchnorm_add_relu_forward_train(&mut p, &tx, &tr, gamma, beta, t_rm, t_rv, t_sm, t_si, &ty, &ws).unwrap();
        ops::batchnorm_add_relu_backward(&mut p, &tx, &ty, &tdy, gamma, t_sm, t_si, &tdx, &tdr, t_dg, t_db, &ws)
            .unwrap();
        // The evaluation pass uses the running statistics the training pass just updated, as PyTorch's.
        ops::batchnorm_add_relu_forward_eval(&mut p, &tx_eval, &tr_eval, gamma, beta, t_rm, t_rv, &ty_eval).unwrap();
        g.run(&[&p.finish().unwrap()]).unwrap();
        for (name, t) in [("y", &ty), ("d_x", &tdx), ("d_r", &tdr), ("y_eval", &ty_eval)] {
            assert_close(&format!("batchnorm_add_relu {name}"), &g.download(t).unwrap(), &ours(name).0);
        }
        for (name, t) in
            [("running_mean_after", t_rm), ("running_var_after", t_rv), ("d_gamma", t_dg), ("d_beta", t_db)]
        {
            assert_close(&format!("batchnorm_add_relu {name}"), &g.download(t).unwrap(), &ours(name).0);
        }
    });
}
