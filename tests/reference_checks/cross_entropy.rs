use crate::common::*;
use layerwise::reference;

#[test]
fn cross_entropy_matches_pytorch() {
    let (logits, s) = torch("cross_entropy.logits");
    let (labels, _) = torch("cross_entropy.labels");
    let (loss, _) = torch("cross_entropy.loss");
    let (correct, _) = torch("cross_entropy.correct");
    let (d_logits, _) = torch("cross_entropy.d_logits");
    let labels: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
    let mut got = vec![0.0; logits.len()];
    // stats accumulate: start from non-zero values.
    let mut stats = [0.5, 2.0];
    reference::cross_entropy(&logits, &labels, &mut got, &mut stats, s[0], s[1]);
    assert!(rel_err64(&got, &d_logits) < 1e-12);
    assert!((stats[0] - 0.5 - loss[0]).abs() < 1e-12 * loss[0].abs(), "loss {} vs {}", stats[0] - 0.5, loss[0]);
    assert_eq!(stats[1] - 2.0, correct[0]);
}

#[test]
fn cross_entropy_gradient_matches_finite_differences_of_the_mean_loss() {
    let mut rng = Rng::new(14);
    let (n, k) = (6, 5);
    let logits = rng.normals(n * k);
    // Two padding rows (one marked, one out of range): no loss, no gradient, not in the mean.
    let labels = [3, u32::MAX, 0, 4, 7, 1];
    let mut d_logits = vec![0.0; n * k];
    let mut stats = [0.0; 2];
    reference::cross_entropy(&logits, &labels, &mut d_logits, &mut stats, n, k);
    assert!(d_logits[k..2 * k].iter().chain(&d_logits[4 * k..5 * k]).all(|&d| d == 0.0));
    let err = finite_diff_error(&logits, &d_logits, |l| {
        let mut d = vec![0.0; n * k];
        let mut stats = [0.0; 2];
        reference::cross_entropy(l, &labels, &mut d, &mut stats, n, k);
        stats[0]
    });
    assert!(err < 1e-6, "finite differences: {err:e}");
}

#[test]
fn cross_entropy_is_stable_for_large_logits() {
    let logits = [1000.0, 0.0, -1000.0, 1e4, 1e4 - 1.0, 0.0];
    let mut d = [0.0; 6];
    let mut stats = [0.0; 2];
    reference::cross_entropy(&logits, &[1, 0], &mut d, &mut stats, 2, 3);
    assert!(stats[0].is_finite() && d.iter().all(|v| v.is_finite()));
    // Row 0 loses 1000, row 1 loses log(1 + e^-1 + e^-1e4) ~ 0.3133.
    assert!((stats[0] - (1000.0 + (1.0 + (-1.0f64).exp()).ln()) / 2.0).abs() < 1e-9);
    assert_eq!(stats[1], 1.0);
}
