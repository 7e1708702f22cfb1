use crate::common::*;
use layerwise::reference;

#[test]
fn sgd_update_matches_pytorch_over_three_steps() {
    let (mut w, _) = torch("sgd.w_before");
    let mut momentum = vec![0.0; w.len()];
    for step in 0..3 {
        let (g, _) = torch(&format!("sgd.grad_{step}"));
        let (want, _) = torch(&format!("sgd.w_after_{step}"));
        reference::sgd_update(&mut w, &g, &mut momentum, [0.1, 0.9, 5e-4, 0.0], &[0.0; 3]);
        assert!(rel_err64(&w, &want) < 1e-12, "step {step}");
    }
}

#[test]
fn nesterov_and_plain_sgd_follow_the_definitions() {
    // Two steps by hand. Plain momentum 0.5, no decay: buf1 = g1, w1 = w0 - lr*g1;
    // buf2 = 0.5*g1 + g2. Nesterov: step = g + 0.5*buf.
    let (lr, mu) = (0.1, 0.5);
    let (w0, g1, g2) = (2.0, 1.0, -3.0);
    let mut w = [w0];
    let mut buf = [0.0];
    reference::sgd_update(&mut w, &[g1], &mut buf, [lr, mu, 0.0, 0.0], &[0.0; 3]);
    reference::sgd_update(&mut w, &[g2], &mut buf, [lr, mu, 0.0, 0.0], &[0.0; 3]);
    assert!((w[0] - (w0 - lr * g1 - lr * (mu * g1 + g2))).abs() < 1e-15);
    let mut w = [w0];
    let mut buf = [0.0];
    reference::sgd_update(&mut w, &[g1], &mut buf, [lr, mu, 0.0, 1.0], &[0.0; 3]);
    reference::sgd_update(&mut w, &[g2], &mut buf, [lr, mu, 0.0, 1.0], &[0.0; 3]);
    let b2 = mu * g1 + g2;
    assert!((w[0] - (w0 - lr * (g1 + mu * g1) - lr * (g2 + mu * b2))).abs() < 1e-15);
}

#[test]
fn no_update_once_the_loss_has_diverged() {
    // stats = [loss sum, correct, diverged]: only the flag matters.
    let (mut w, mut buf) = ([2.0, -1.0], [0.5, 0.25]);
    reference::sgd_update(&mut w, &[1.0, f64::NAN], &mut buf, [0.1, 0.9, 5e-4, 0.0], &[f64::NAN, 3.0, 1.0]);
    assert_eq!((w, buf), ([2.0, -1.0], [0.5, 0.25]));
}
