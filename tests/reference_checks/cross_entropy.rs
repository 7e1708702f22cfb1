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
    let mut stats = [0.5, 2.0, 0.0];
    reference::cross_entropy(&logits, &labels, &mut got, &mut stats, s[0], s[1]);
    assert!(rel_err64(&got, &d_logits) < 1e-12);
    assert!((stats[0] - 0.5 - loss[0]).abs() < 1e-12 * loss[0].abs(), "loss {} vs {}", stats[0] - 0.5, loss[0]);
    assert_eq!(stats[1] - 2.0, correct[0]);
    assert_eq!(stats[2], 0.0, "a finite, moderate loss is no divergence");
}

#[test]
fn cross_entropy_gradient_matches_finite_differences_of_the_mean_loss() {
    let mut rng = Rng::new(14);
    let (n, k) = (6, 5);
    let logits = rng.normals(n * k);
    // Two padding rows (one marked, one out of range): no loss, no gradient, not in the mean.
    let labels = [3, u32::MAX, 0, 4, 7, 1];
    let mut d_logits = vec![0.0; n * k];
    let mut stats = [0.0; 3];
    reference::cross_entropy(&logits, &labels, &mut d_logits, &mut stats, n, k);
    assert!(d_logits[k..2 * k].iter().chain(&d_logits[4 * k..5 * k]).all(|&d| d == 0.0));
    let err = finite_diff_error(&logits, &d_logits, |l| {
        let mut d = vec![0.0; n * k];
        let mut stats = [0.0; 3];
        reference::cross_entropy(l, &labels, &mut d, &mut stats, n, k);
        stats[0]
    });
    assert!(err < 1e-6, "finite differences: {err:e}");
}

#[test]
fn cross_entropy_is_stable_for_large_logits() {
    let logits = [1000.0, 0.0, -1000.0, 1e4, 1e4 - 1.0, 0.0];
    let mut d = [0.0; 6];
    let mut stats = [0.0; 3];
    reference::cross_entropy(&logits, &[1, 0], &mut d, &mut stats, 2, 3);
    assert!(stats[0].is_finite() && d.iter().all(|v| v.is_finite()));
    // Row 0 loses 1000, row 1 loses log(1 + e^-1 + e^-1e4) ~ 0.3133.
    assert!((stats[0] - (1000.0 + (1.0 + (-1.0f64).exp()).ln()) / 2.0).abs() < 1e-9);
    assert_eq!(stats[1], 1.0);
    // A mean loss of ~500 is below the divergence limit for 3 classes (1000 ln 3 ~ 1099).
    assert_eq!(stats[2], 0.0);
}

#[test]
fn cross_entropy_flags_a_diverged_loss() {
    let limit = layerwise::ops::cross_entropy::loss_limit(3) as f64;
    assert!((limit - 1000.0 * 3f64.ln()).abs() < 1e-3);
    // (logits of one row labelled 0, flagged?): just under and over the limit, NaN, infinite.
    for (row, flagged) in [
        ([0.0, limit - 1.0, 0.0], false),
        ([0.0, limit + 1.0, 0.0], true),
        ([f64::NAN, 0.0, 0.0], true),
        ([0.0, f64::INFINITY, 0.0], true),
    ] {
        let (mut d, mut stats) = ([0.0; 3], [0.0; 3]);
        reference::cross_entropy(&row, &[0], &mut d, &mut stats, 1, 3);
        assert_eq!(stats[2] != 0.0, flagged, "{row:?}: loss {}", stats[0]);
    }
    // The flag stays once set, whatever the next batch's loss.
    let (mut d, mut stats) = ([0.0; 3], [0.0, 0.0, 1.0]);
    reference::cross_entropy(&[1.0, 0.0, 0.0], &[0], &mut d, &mut stats, 1, 3);
    assert_eq!(stats[2], 1.0);
}
