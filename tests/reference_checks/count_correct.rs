use crate::common::*;
use layerwise::reference;

#[test]
fn count_correct_matches_pytorch() {
    let (logits, s) = torch("cross_entropy.logits");
    let (labels, _) = torch("cross_entropy.labels");
    let (correct, _) = torch("cross_entropy.correct");
    let labels: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
    let mut counts = [1.0];
    reference::count_correct(&logits, &labels, &mut counts, s[0], s[1]);
    assert_eq!(counts[0] - 1.0, correct[0]);
}

#[test]
fn count_correct_takes_the_first_max_and_skips_padding() {
    let scores = [1.0, 3.0, 3.0, /**/ 2.0, 2.0, 0.0, /**/ 0.0, 0.0, 5.0];
    let mut counts = [0.0];
    reference::count_correct(&scores, &[2, 0, u32::MAX], &mut counts, 3, 3);
    assert_eq!(counts[0], 1.0);
}
