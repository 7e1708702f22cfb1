//! CPU mirror of `ops::logits_accumulate`. Shapes: logits, acc [N, K].

/// acc += weight * logits, element by element.
pub fn logits_accumulate(logits: &[f64], acc: &mut [f64], weight: f64, n: usize, k: usize) {
    assert_eq!(logits.len(), n * k);
    assert_eq!(acc.len(), n * k);
    for (a, &l) in acc.iter_mut().zip(logits) {
        *a += weight * l;
    }
}
