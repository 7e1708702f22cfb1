//! Image folders and archives of them: a tiny synthetic tree of PNGs, real photos (tests/fixtures/images,
//! see tests/fixtures/README.md) against Pillow's decode, and the CIFAR-10 JPEG archive in ../shared/data.

use std::io::Write;
use std::path::{Path, PathBuf};

use layerwise::data::{load, DatasetKind, Splits};

use crate::{assert_data_error, err, shared_data};

fn rgb_pixel(seed: u8, x: u32, y: u32) -> [u8; 3] {
    let v = seed as u32 * 31 + x * 17 + y * 5;
    [v as u8, (v * 3) as u8, (255 - v) as u8]
}

fn save_rgb(path: &Path, seed: u8, w: u32, h: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_fn(w, h, |x, y| image::Rgb(rgb_pixel(seed, x, y))).save(path).unwrap();
}

fn save_grey(path: &Path, seed: u8, w: u32, h: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::GrayImage::from_fn(w, h, |x, y| image::Luma([rgb_pixel(seed, x, y)[0]])).save(path).unwrap();
}

fn expected_rgb(seed: u8, w: u32, h: u32) -> Vec<u8> {
    (0..h).flat_map(|y| (0..w).flat_map(move |x| rgb_pixel(seed, x, y))).collect()
}

/// train/{cat: b (seed 2), a (seed 1)}, train/ant: x (seed 3), test/cat: c (seed 4); 5x3 RGB PNGs.
fn tiny_tree(root: &Path) {
    save_rgb(&root.join("train/cat/b.png"), 2, 5, 3);
    save_rgb(&root.join("train/cat/a.png"), 1, 5, 3);
    save_rgb(&root.join("train/ant/x.png"), 3, 5, 3);
    save_rgb(&root.join("test/cat/c.png"), 4, 5, 3);
    std::fs::write(root.join("train/cat/notes.txt"), "not an image").unwrap();
    std::fs::write(root.join("train/cat/._a.png"), "macOS resource fork, not an image").unwrap();
}

fn check_tiny(s: &Splits) {
    let t = &s.train;
    assert_eq!(t.classes, ["ant", "cat"]);
    assert_eq!((t.len(), t.height, t.width, t.channels), (3, 3, 5, 3));
    assert_eq!(t.labels, vec![0, 1, 1]);
    // Class by class, files by name: ant/x, cat/a, cat/b.
    assert_eq!(t.image(0), expected_rgb(3, 5, 3));
    assert_eq!(t.image(1), expected_rgb(1, 5, 3));
    assert_eq!(t.image(2), expected_rgb(2, 5, 3));
    let test = s.test.as_ref().unwrap();
    assert_eq!(test.labels, vec![1]);
    assert_eq!(test.image(0), expected_rgb(4, 5, 3));
}

#[test]
fn tiny_folder_of_pngs() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_tree(tmp.path());
    let s = load(tmp.path().to_str().unwrap(), None).unwrap();
    assert_eq!(s.kind, DatasetKind::ImageFolder);
    check_tiny(&s);
    // Loaded again: the in-memory cache answers, with the same content.
    assert_eq!(load(tmp.path().to_str().unwrap(), None).unwrap(), s);
}

#[test]
fn val_folder_is_the_test_split_when_there_is_no_test_folder() {
    let tmp = tempfile::tempdir().unwrap();
    save_grey(&tmp.path().join("train/b/1.png"), 1, 4, 4);
    save_grey(&tmp.path().join("train/a/1.png"), 2, 4, 4);
    save_grey(&tmp.path().join("val/b/9.png"), 3, 4, 4);
    let s = load(tmp.path().to_str().unwrap(), None).unwrap();
    let v = s.test.unwrap();
    assert_eq!((v.len(), v.labels[0], v.channels), (1, 1, 1));
    assert!(v.source.ends_with("val"), "{}", v.source);
}

#[test]
fn grey_stays_one_channel_only_when_all_are_grey() {
    let tmp = tempfile::tempdir().unwrap();
    save_grey(&tmp.path().join("train/a/1.png"), 7, 4, 2);
    save_grey(&tmp.path().join("train/b/1.png"), 8, 4, 2);
    let s = load(tmp.path().to_str().unwrap(), None).unwrap();
    assert_eq!(s.train.channels, 1);
    let grey_a: Vec<u8> = expected_rgb(7, 4, 2).chunks(3).map(|p| p[0]).collect();
    assert_eq!(s.train.image(0), grey_a);

    // One colour image turns every image into RGB, the grey ones replicated.
    save_rgb(&tmp.path().join("train/b/2.png"), 9, 4, 2);
    let s = load(tmp.path().to_str().unwrap(), None).unwrap();
    assert_eq!((s.train.channels, s.train.len()), (3, 3));
    let rgb_a: Vec<u8> = grey_a.iter().flat_map(|&v| [v, v, v]).collect();
    assert_eq!(s.train.image(0), rgb_a);
    assert_eq!(s.train.image(2), expected_rgb(9, 4, 2));
}

#[test]
fn mixed_sizes_name_the_first_odd_file_and_both_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_tree(tmp.path());
    save_rgb(&tmp.path().join("train/cat/z.png"), 5, 6, 3);
    save_rgb(&tmp.path().join("test/cat/odd.png"), 5, 7, 7);
    let e = err(load(tmp.path().to_str().unwrap(), None));
    let z = tmp.path().join("train/cat/z.png");
    assert_data_error(&e, &[&z.display().to_string(), "6x3", "5x3", "ant/x.png"]);
}

#[test]
fn undecodable_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_tree(tmp.path());
    std::fs::write(tmp.path().join("train/ant/broken.png"), b"\x89PNG\r\n\x1a\n truncated").unwrap();
    let e = err(load(tmp.path().to_str().unwrap(), None));
    assert_data_error(&e, &["broken.png", "cannot decode"]);

    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("train/a")).unwrap();
    let e = err(load(tmp.path().to_str().unwrap(), None));
    assert_data_error(&e, &["train", "no .png/.jpg/.jpeg images"]);
}

/// Pack `root`'s tree under `top/` into a tar, optionally compressed.
fn pack(root: &Path, out: &Path, top: &str) {
    let mut tar = tar::Builder::new(Vec::new());
    tar.append_dir_all(top, root).unwrap();
    let raw = tar.into_inner().unwrap();
    let name = out.to_string_lossy();
    let bytes = if name.ends_with(".gz") {
        crate::gzip(&raw)
    } else if name.ends_with(".xz") {
        let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 1);
        enc.write_all(&raw).unwrap();
        enc.finish().unwrap()
    } else {
        raw
    };
    std::fs::write(out, bytes).unwrap();
}

#[test]
fn archives_of_a_folder_load_like_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("tree");
    tiny_tree(&root);
    for (name, top) in [("a.tar", "."), ("b.tar.gz", "mini"), ("c.tgz", "x/y"), ("d.tar.xz", "mini")] {
        let archive = tmp.path().join(name);
        pack(&root, &archive, top);
        let s = load(archive.to_str().unwrap(), None).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.kind, DatasetKind::ImageFolder);
        check_tiny(&s);
    }
    // A truncated archive is reported, not a crash or a silently shorter dataset.
    let full = std::fs::read(tmp.path().join("b.tar.gz")).unwrap();
    let cut = tmp.path().join("cut.tar.gz");
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
    let e = err(load(cut.to_str().unwrap(), None));
    assert_data_error(&e, &["cut.tar.gz"]);
    // An archive with no train/<class>/ tree.
    let empty = tmp.path().join("empty.tar");
    pack(&root.join("train/ant"), &empty, "just-files");
    let e = err(load(empty.to_str().unwrap(), None));
    assert_data_error(&e, &["empty.tar", "train/<class>/<image>"]);
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images").join(name)
}

/// Mean and max absolute difference between two byte images.
fn diff(a: &[u8], b: &[u8]) -> (f64, u8) {
    assert_eq!(a.len(), b.len());
    let sum: u64 = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y) as u64).sum();
    (sum as f64 / a.len() as f64, a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0))
}

/// Real photos: PNG decodes exactly; JPEG (colour and grey) within IDCT rounding of Pillow's decode.
#[test]
fn real_photos_decode_like_pillow() {
    let tmp = tempfile::tempdir().unwrap();
    let copy = |from: &str, to: &str| {
        let dest = tmp.path().join(to);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(fixture(from), dest).unwrap();
    };
    copy("coffee.jpg", "train/1_jpeg/coffee.jpg");
    copy("coffee.jpg.pillow.png", "train/2_pillow/coffee.png");
    copy("astronaut.png", "train/3_png/astronaut.png");
    let s = load(tmp.path().to_str().unwrap(), None).unwrap();
    let t = &s.train;
    assert_eq!((t.width, t.height, t.channels), (40, 30, 3));
    let (mean, max) = diff(t.image(0), t.image(1));
    eprintln!("coffee.jpg vs Pillow: mean abs diff {mean:.3}, max {max}");
    assert!(mean < 1.0 && max <= 8, "JPEG decode differs from Pillow's: mean {mean}, max {max}");
    // Pillow's bytes of astronaut.png: first pixels and an md5 of all 3600.
    assert_eq!(&t.image(2)[..6], &[185, 178, 177, 183, 174, 169]);
    let digest: String = {
        use md5::Digest;
        md5::Md5::digest(t.image(2)).iter().map(|b| format!("{b:02x}")).collect()
    };
    assert_eq!(digest, "4867296dc89687f45da85da46b325573");

    let tmp = tempfile::tempdir().unwrap();
    let copy = |from: &str, to: &str| {
        let dest = tmp.path().join(to);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(fixture(from), dest).unwrap();
    };
    copy("camera.jpg", "train/a/camera.jpg");
    copy("camera.jpg.pillow.png", "train/b/camera.png");
    copy("camera.png", "train/c/camera.png");
    let s = load(tmp.path().to_str().unwrap(), None).unwrap();
    assert_eq!(s.train.channels, 1, "a grey JPEG and grey PNGs stay one channel");
    let (mean, max) = diff(s.train.image(0), s.train.image(1));
    eprintln!("camera.jpg vs Pillow: mean abs diff {mean:.3}, max {max}");
    assert!(mean < 1.0 && max <= 8, "grey JPEG decode differs from Pillow's: mean {mean}, max {max}");
    assert_eq!(&s.train.image(2)[..6], &[207, 206, 206, 206, 206, 205]);
}

/// The 50,000 CIFAR-10 training JPEGs: counts, decode time, and agreement with the official bytes.
#[test]
fn cifar10_jpeg_archive() {
    let Some(shared) = shared_data("cifar10_jpeg_archive") else { return };
    let archive = shared.join("cifar10/train-jpeg.tar.xz");
    let t0 = std::time::Instant::now();
    let s = load(archive.to_str().unwrap(), None).unwrap();
    let secs = t0.elapsed().as_secs_f64();
    eprintln!("decoded {} images from {} in {secs:.2} s", s.train.len(), archive.display());
    assert_eq!(s.kind, DatasetKind::ImageFolder);
    let t = &s.train;
    assert_eq!((t.len(), t.height, t.width, t.channels), (50_000, 32, 32, 3));
    assert_eq!(t.classes, ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]);
    for c in 0..10u8 {
        assert_eq!(t.labels.iter().filter(|&&l| l == c).count(), 5_000, "class {c}");
    }
    assert!(s.test.is_none());
    // Generous for a loaded 2-core CI machine; about 2 s when idle.
    assert!(secs < 60.0, "decoding took {secs:.1} s");

    // By name, in the place ../shared/data/cifar10: the same archive, as Cifar10 (from the cache).
    let t1 = std::time::Instant::now();
    let named = load("cifar10", Some(&shared)).unwrap();
    eprintln!("loaded again by name in {:.2?}", t1.elapsed());
    assert_eq!(named.kind, DatasetKind::Cifar10);
    assert_eq!(named.train.images, t.images);

    // train/<class>/NNNN.jpg follows the official order: rebuild it for the official prefix of
    // data_batch_1 and compare pixels (JPEG at about quality 75: mean error about 6/255).
    let prefix = load(shared.join("cifar10/exact-prefix").to_str().unwrap(), None).unwrap();
    let mut seen = [0usize; 10];
    let mut total = 0.0;
    for i in 0..1102 {
        let label = prefix.train.labels[i] as usize;
        let j = label * 5000 + seen[label];
        seen[label] += 1;
        assert_eq!(t.labels[j] as usize, label);
        total += diff(prefix.train.image(i), t.image(j)).0;
    }
    let mean = total / 1102.0;
    eprintln!("JPEG archive vs official bytes over 1102 images: mean abs diff {mean:.2}");
    assert!(mean < 8.0, "the JPEG images do not match the official ones: mean abs diff {mean}");
}

/// A class folder without images would be a class no training image teaches: refused, named, in a
/// folder and in an archive (whose empty folder is only a directory entry), and one holding only
/// non-image files too.
#[test]
fn empty_class_folders_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("tree");
    tiny_tree(&root);
    std::fs::create_dir_all(root.join("train/dog")).unwrap();
    let e = err(load(root.to_str().unwrap(), None));
    assert_data_error(&e, &["train/dog", "holds no .png/.jpg/.jpeg images"]);
    for (name, top) in [("flat.tar", "."), ("nested.tar.gz", "mini")] {
        pack(&root, &tmp.path().join(name), top);
        let e = err(load(tmp.path().join(name).to_str().unwrap(), None));
        assert_data_error(&e, &[name, "train/dog", "holds no .png/.jpg/.jpeg images"]);
    }
    std::fs::write(root.join("train/dog/readme.txt"), "no images here").unwrap();
    assert_data_error(&err(load(root.to_str().unwrap(), None)), &["train/dog"]);
    std::fs::remove_dir_all(root.join("train/dog")).unwrap();
    assert_eq!(load(root.to_str().unwrap(), None).unwrap().train.classes, ["ant", "cat"]);
}
