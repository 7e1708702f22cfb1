//! The Dataset value itself: indexing, subsets, hold-outs.

use layerwise::data::Dataset;

fn tiny() -> Dataset {
    // 4 images of 1x2 pixels with 3 channels: image i holds bytes 10*i .. 10*i+5.
    let images = (0..4u8).flat_map(|i| (0..6u8).map(move |b| 10 * i + b)).collect();
    Dataset {
        images,
        labels: vec![0, 1, 2, 1],
        height: 1,
        width: 2,
        channels: 3,
        classes: vec!["a".into(), "b".into(), "c".into()],
        source: "tiny".into(),
    }
}

#[test]
fn image_and_len() {
    let d = tiny();
    assert_eq!(d.len(), 4);
    assert!(!d.is_empty());
    assert_eq!(d.image_len(), 6);
    assert_eq!(d.image(2), &[20, 21, 22, 23, 24, 25]);
}

#[test]
fn subset_keeps_order_and_repeats() {
    let s = tiny().subset(&[3, 0, 3]);
    assert_eq!(s.len(), 3);
    assert_eq!(s.labels, vec![1, 0, 1]);
    assert_eq!(s.image(0), &[30, 31, 32, 33, 34, 35]);
    assert_eq!(s.image(1), &[0, 1, 2, 3, 4, 5]);
    assert_eq!((s.height, s.width, s.channels), (1, 2, 3));
    assert_eq!(s.classes, tiny().classes);
}

#[test]
fn split_off_last_holds_out_the_tail() {
    let (rest, last) = tiny().split_off_last(1).unwrap();
    assert_eq!((rest.len(), last.len()), (3, 1));
    assert_eq!(rest.labels, vec![0, 1, 2]);
    assert_eq!(last.image(0), &[30, 31, 32, 33, 34, 35]);
    assert_eq!(rest.images.len(), 18);

    let (all, none) = tiny().split_off_last(0).unwrap();
    assert_eq!((all.len(), none.len()), (4, 0));

    let e = crate::err(tiny().split_off_last(5));
    assert!(matches!(e, layerwise::Error::Usage(_)), "{e:?}");
}
