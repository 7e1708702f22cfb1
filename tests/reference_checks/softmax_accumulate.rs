use crate::common::*;
use layerwise::reference;

/// PyTorch's softmax, recovered exactly from its cross-entropy gradient: (softmax - onehot) / N.
#[test]
fn softmax_accumulate_matches_pytorch_softmax() {
    let (logits, s) = torch("cross_entropy.logits");
    let (labels, _) = torch("cross_entropy.labels");
    let (d_logits, _) = torch("cross_entropy.d_logits");
    let (n, k) = (s[0], s[1]);
    let mut softmax = vec![0.0; n * k];
    for r in 0..n {
        for j in 0..k {
            let onehot = if j == labels[r] as usize { 1.0 } else { 0.0 };
            softmax[r * k + j] = d_logits[r * k + j] * n as f64 + onehot;
        }
    }
    let mut probs = vec![1.0; n * k];
    reference::softmax_accumulate(&logits, &mut probs, 0.25, n, k);
    let want: Vec<f64> = softmax.iter().map(|p| 1.0 + 0.25 * p).collect();
    assert!(rel_err64(&probs, &want) < 1e-12);
}
