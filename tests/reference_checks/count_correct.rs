use crate::common::*;
use layerwise::reference;

#[test]
fn count_correct_matches_pytorch() {
    let (logits, s) = torch("cross_entropy.logits");
    let (labels, _) = torch("cross_entropy.labels");
    let (correct, _) = torch("cross_entropy.correct");
    let labels: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
    let mut counts = [1.0, 0.0];
    reference::count_correct(&logits, &labels, &mut counts, s[0], s[1], 5);
    assert_eq!(counts[0] - 1.0, correct[0]);
}

#[test]
fn count_correct_takes_the_first_max_and_skips_padding() {
    let scores = [1.0, 3.0, 3.0, /**/ 2.0, 2.0, 0.0, /**/ 0.0, 0.0, 5.0];
    let mut counts = [0.0, 0.0];
    reference::count_correct(&scores, &[2, 0, u32::MAX], &mut counts, 3, 3, 1);
    assert_eq!(counts, [1.0, 1.0], "top 1 is the first argmax");
}

/// Top 5 by hand: the label's rank is the number of classes scoring above it, or as high at a lower
/// index; ranks 0..=4 count.
#[test]
fn count_correct_top5_by_hand() {
    // Row 0: label 3 scores 0.5; above it 0.9, 0.8, 0.7, 0.6 (classes 0, 1, 2, 4): rank 4, in the top 5.
    // Row 1: label 6 scores 0.5; above it six classes: rank 6, out.
    // Row 2: label 5 ties 0.5 with classes 3 and 4 (lower index, ranked first) and has 0.9, 0.8 above:
    //        rank 4, in; row 3: the same scores, label 6 (tie with 3, 4, 5 before it): rank 5, out.
    // Row 4: label 1 is the argmax: in both counts. Row 5: padding, never counted.
    let scores = [
        0.9, 0.8, 0.7, 0.5, 0.6, 0.1, 0.0, //
        0.9, 0.8, 0.7, 0.6, 0.55, 0.51, 0.5, //
        0.9, 0.8, 0.1, 0.5, 0.5, 0.5, 0.5, //
        0.9, 0.8, 0.1, 0.5, 0.5, 0.5, 0.5, //
        0.1, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1, //
        0.1, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1,
    ];
    let mut counts = [0.0, 0.0];
    reference::count_correct(&scores, &[3, 6, 5, 6, 1, u32::MAX], &mut counts, 6, 7, 5);
    assert_eq!(counts, [1.0, 3.0]);
}
