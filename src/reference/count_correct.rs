//! CPU mirror of `ops::count_correct`. Shapes: scores [N, K]; labels [N]; counts [2].

use super::cross_entropy::first_argmax;

/// counts[0] += rows with a valid label equal to the row's first argmax; counts[1] += rows whose
/// label ranks below `top` (the classes scoring above it, or as high at a lower index, are fewer).
pub fn count_correct(scores: &[f64], labels: &[u32], counts: &mut [f64], n: usize, k: usize, top: usize) {
    assert_eq!(scores.len(), n * k);
    assert_eq!(labels.len(), n);
    assert_eq!(counts.len(), 2);
    for (r, &label) in labels.iter().enumerate() {
        // A padding label (u32::MAX) or no such class is never counted.
        let label = label as usize;
        if label >= k {
            continue;
        }
        let row = &scores[r * k..(r + 1) * k];
        if first_argmax(row) == label {
            counts[0] += 1.0;
        }
        let s = row[label];
        let rank = row.iter().enumerate().filter(|&(j, &v)| v > s || (v == s && j < label)).count();
        if rank < top {
            counts[1] += 1.0;
        }
    }
}
