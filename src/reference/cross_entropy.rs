//! CPU mirror of `ops::cross_entropy`. Shapes: logits, d_logits [N, K]; labels [N]; stats [3].

/// Padding rows carry this label (same as `ops::IGNORE_LABEL`).
const IGNORE: u32 = u32::MAX;

/// Index of the first maximum of a row.
pub(crate) fn first_argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = j;
        }
    }
    best
}

/// d_logits = (softmax - onehot) / n_valid; stats[0] += mean loss over valid rows; stats[1] += valid
/// rows whose first argmax is the label; stats[2] = 1 when that mean loss is not finite or above
/// `ops::cross_entropy::loss_limit(k)` (divergence). Rows labelled `IGNORE` (or >= K) are left out and
/// get zero gradient.
pub fn cross_entropy(logits: &[f64], labels: &[u32], d_logits: &mut [f64], stats: &mut [f64], n: usize, k: usize) {
    assert_eq!(logits.len(), n * k);
    assert_eq!(labels.len(), n);
    assert_eq!(d_logits.len(), n * k);
    assert_eq!(stats.len(), 3);
    let valid = |l: u32| l != IGNORE && (l as usize) < k;
    let n_valid = labels.iter().filter(|&&l| valid(l)).count();
    let (mut loss, mut correct) = (0.0, 0.0);
    for r in 0..n {
        let row = &logits[r * k..(r + 1) * k];
        let d_row = &mut d_logits[r * k..(r + 1) * k];
        let label = labels[r];
        if !valid(label) {
            d_row.fill(0.0);
            continue;
        }
        let label = label as usize;
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = row.iter().map(|&v| (v - m).exp()).sum();
        loss += s.ln() + m - row[label];
        if first_argmax(row) == label {
            correct += 1.0;
        }
        for (j, (d, &v)) in d_row.iter_mut().zip(row).enumerate() {
            let onehot = if j == label { 1.0 } else { 0.0 };
            *d = ((v - m).exp() / s - onehot) / n_valid as f64;
        }
    }
    if n_valid > 0 {
        let mean = loss / n_valid as f64;
        stats[0] += mean;
        if !mean.is_finite() || mean > crate::ops::cross_entropy::loss_limit(k) as f64 {
            stats[2] = 1.0;
        }
    }
    stats[1] += correct;
}
