//! The pre-processed copy: what it stores, that reading it gives the batches the originals would after
//! the same resize, and that a damaged one is an error.

use layerwise::data::stream::{pack, EpochPlan, ImageList, ListOptions, PackEncoding, PackOptions, Transform};

use crate::{collect, pipeline, tiny_tree};

fn options(short_side: usize, encoding: PackEncoding) -> PackOptions {
    PackOptions { short_side, encoding, workers: 2, progress: false }
}

#[test]
fn raw_copy_at_the_eval_resize_gives_the_same_eval_batches() {
    let tmp = tempfile::tempdir().unwrap();
    let n = tiny_tree(&tmp.path().join("tree"));
    let list = ImageList::open(&[tmp.path().join("tree")], &ListOptions::default()).unwrap();
    let file = tmp.path().join("tree.pack");
    let s = pack(&list, &file, &options(20, PackEncoding::Raw)).unwrap();
    assert_eq!(s.images, n);
    assert_eq!(s.bytes, std::fs::metadata(&file).unwrap().len());
    let packed = ImageList::open(std::slice::from_ref(&file), &ListOptions::default()).unwrap();
    assert_eq!(packed.classes, list.classes);
    assert_eq!(
        packed.entries.iter().map(|e| e.label).collect::<Vec<_>>(),
        list.entries.iter().map(|e| e.label).collect::<Vec<_>>()
    );
    // Resize(20) then CenterCrop(16) on the stored images resizes nothing again where the copy shrank the
    // short side to 20, and repeats the same enlargement where it kept a smaller image: the same bytes
    // as evaluating the originals.
    let eval = Transform::ResizeCenterCrop { resize: 20, size: 16 };
    let plan = EpochPlan::in_order(n, 0);
    let shrunk = (0..n).filter(|&i| image::image_dimensions(list.name(i)).map(|(w, h)| w.min(h) > 20).unwrap()).count();
    assert!(shrunk >= 5 && shrunk < n, "{shrunk} of {n} images shrunk: both cases are covered");
    assert_eq!(
        collect(&pipeline(packed.clone(), 3, 1, eval), &plan),
        collect(&pipeline(list.clone(), 3, 2, eval), &plan)
    );
    // Training reads it too.
    assert_eq!(collect(&pipeline(packed, 2, 2, crate::small_train()), &EpochPlan::shuffled(n, 4)).len(), n / 2);
}

#[test]
fn jpeg_copy_is_smaller_and_close() {
    let tmp = tempfile::tempdir().unwrap();
    let n = tiny_tree(&tmp.path().join("tree"));
    let list = ImageList::open(&[tmp.path().join("tree")], &ListOptions::default()).unwrap();
    let (raw, jpeg) = (tmp.path().join("raw.pack"), tmp.path().join("jpeg.pack"));
    let r = pack(&list, &raw, &options(24, PackEncoding::Raw)).unwrap();
    let j = pack(&list, &jpeg, &options(24, PackEncoding::Jpeg { quality: 95 })).unwrap();
    assert!(j.bytes < r.bytes, "{} vs {}", j.bytes, r.bytes);
    let eval = Transform::ResizeCenterCrop { resize: 24, size: 16 };
    let plan = EpochPlan::in_order(n, 0);
    let open = |f: &std::path::Path| ImageList::open(&[f.to_path_buf()], &ListOptions::default()).unwrap();
    let a = collect(&pipeline(open(&raw), 4, 2, eval), &plan);
    let b = collect(&pipeline(open(&jpeg), 4, 2, eval), &plan);
    let diff: f64 =
        a.iter().zip(&b).flat_map(|(x, y)| x.0.iter().zip(&y.0)).map(|(&p, &q)| (p as f64 - q as f64).abs()).sum();
    let count: usize = a.iter().map(|x| x.0.len()).sum();
    assert!(diff / (count as f64) < 6.0, "mean difference {}", diff / count as f64);
    assert_eq!(a.iter().map(|x| x.1.clone()).collect::<Vec<_>>(), b.iter().map(|x| x.1.clone()).collect::<Vec<_>>());
}

#[test]
fn a_damaged_copy_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_tree(&tmp.path().join("tree"));
    let list = ImageList::open(&[tmp.path().join("tree")], &ListOptions::default()).unwrap();
    let file = tmp.path().join("t.pack");
    pack(&list, &file, &options(16, PackEncoding::Raw)).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 10]).unwrap();
    let e = ImageList::open(std::slice::from_ref(&file), &ListOptions::default()).unwrap_err().to_string();
    assert!(e.contains("not a complete packed copy"), "{e}");
    assert!(pack(&list, &file, &options(0, PackEncoding::Raw)).is_err());
    assert!(pack(&list, &file, &options(8, PackEncoding::Jpeg { quality: 0 })).is_err());
}
