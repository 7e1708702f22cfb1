//! CPU mirror of `ops::softmax_accumulate`. Shapes: logits, probs [N, K].

/// probs += weight * softmax(logits), row by row.
pub fn softmax_accumulate(logits: &[f64], probs: &mut [f64], weight: f64, n: usize, k: usize) {
    assert_eq!(logits.len(), n * k);
    assert_eq!(probs.len(), n * k);
    for r in 0..n {
        let row = &logits[r * k..(r + 1) * k];
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = row.iter().map(|&v| (v - m).exp()).sum();
        for (p, &v) in probs[r * k..(r + 1) * k].iter_mut().zip(row) {
            *p += weight * (v - m).exp() / s;
        }
    }
}
