//! CPU mirror of `ops::count_correct`. Shapes: scores [N, K]; labels [N]; counts [1].

use super::cross_entropy::first_argmax;

/// counts[0] += rows with a valid label equal to the row's first argmax.
pub fn count_correct(scores: &[f64], labels: &[u32], counts: &mut [f64], n: usize, k: usize) {
    assert_eq!(scores.len(), n * k);
    assert_eq!(labels.len(), n);
    assert_eq!(counts.len(), 1);
    for (r, &label) in labels.iter().enumerate() {
        // A padding label (u32::MAX) never equals an argmax, so it needs no special case.
        if k > 0 && first_argmax(&scores[r * k..(r + 1) * k]) == label as usize {
            counts[0] += 1.0;
        }
    }
}
