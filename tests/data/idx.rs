//! MNIST / Fashion-MNIST IDX files: synthetic valid and broken files, and the real Fashion-MNIST.

use std::path::Path;

use layerwise::data::{load, DatasetKind};
use md5::{Digest, Md5};

use crate::{assert_data_error, err, gzip, write};

/// An IDX image file of `n` images of rows x cols; pixel bytes follow `pixel(i)` for byte i.
fn idx_images(n: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for v in [n, rows, cols] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend((0..n * rows * cols).map(pixel));
    b
}

fn pixel(i: u32) -> u8 {
    (i.wrapping_mul(2654435761) >> 24) as u8
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 1];
    b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

const TRAIN_LABELS: [u8; 7] = [3, 1, 4, 1, 5, 9, 2];

/// A valid set: 7 training images of 5 rows x 4 columns (not square, so a rows/cols swap shows), 3 test.
fn write_set(dir: &Path, spelling: &str, gz: bool) {
    let name = |prefix: &str, what: &str, dims: u32| {
        let sep = if spelling == "dash" { '-' } else { '.' };
        format!("{prefix}-{what}{sep}idx{dims}-ubyte{}", if gz { ".gz" } else { "" })
    };
    let enc = |b: Vec<u8>| if gz { gzip(&b) } else { b };
    write(&dir.join(name("train", "images", 3)), &enc(idx_images(7, 5, 4)));
    write(&dir.join(name("train", "labels", 1)), &enc(idx_labels(&TRAIN_LABELS)));
    write(&dir.join(name("t10k", "images", 3)), &enc(idx_images(3, 5, 4)));
    write(&dir.join(name("t10k", "labels", 1)), &enc(idx_labels(&[0, 9, 8])));
}

fn check_set(splits: &layerwise::data::Splits) {
    let train = &splits.train;
    assert_eq!((train.len(), train.height, train.width, train.channels), (7, 5, 4, 1));
    assert_eq!(train.labels, TRAIN_LABELS);
    let want: Vec<u8> = (0..7 * 20).map(pixel).collect();
    assert_eq!(train.images, want);
    assert_eq!(train.image(6), &want[120..140]);
    let test = splits.test.as_ref().expect("t10k files give a test split");
    assert_eq!((test.len(), test.height, test.width), (3, 5, 4));
    assert_eq!(test.labels, vec![0, 9, 8]);
}

#[test]
fn plain_files_load_by_path() {
    let tmp = tempfile::tempdir().unwrap();
    write_set(tmp.path(), "dash", false);
    let s = load(tmp.path().to_str().unwrap(), None).unwrap();
    check_set(&s);
    // A temp path does not say "fashion": the digits' class names.
    assert_eq!(s.kind, DatasetKind::Mnist);
    assert_eq!(s.train.classes[9], "9");
}

#[test]
fn gzipped_dot_spelling_found_by_name_under_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    write_set(&tmp.path().join("fashion-mnist"), "dot", true);
    let s = load("fashion-mnist", Some(tmp.path())).unwrap();
    check_set(&s);
    assert_eq!(s.kind, DatasetKind::FashionMnist);
    assert_eq!(s.train.classes[0], "T-shirt/top");
    assert_eq!(s.train.classes[9], "Ankle boot");
    assert!(s.train.source.contains("train-images.idx3-ubyte.gz"), "{}", s.train.source);

    // --data may also name the dataset folder itself; the name decides the classes.
    let s = load("mnist", Some(&tmp.path().join("fashion-mnist"))).unwrap();
    assert_eq!(s.kind, DatasetKind::Mnist);
    assert_eq!(s.train.classes[0], "0");
}

#[test]
fn test_split_is_optional() {
    let tmp = tempfile::tempdir().unwrap();
    write(&tmp.path().join("train-images-idx3-ubyte"), &idx_images(2, 3, 3));
    write(&tmp.path().join("train-labels-idx1-ubyte"), &idx_labels(&[1, 2]));
    let s = load(tmp.path().to_str().unwrap(), None).unwrap();
    assert_eq!(s.train.len(), 2);
    assert!(s.test.is_none());
}

#[test]
fn truncated_file_names_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    write_set(tmp.path(), "dash", false);
    let path = tmp.path().join("train-images-idx3-ubyte");
    let full = idx_images(7, 5, 4);
    // Cut inside image 2 (header 16 + 2 whole images of 20 bytes + 7 bytes).
    write(&path, &full[..16 + 40 + 7]);
    let e = err(load(tmp.path().to_str().unwrap(), None));
    assert_data_error(&e, &["train-images-idx3-ubyte", "byte offset 63", "record 2"]);

    // Cut inside the header.
    write(&path, &full[..10]);
    let e = err(load(tmp.path().to_str().unwrap(), None));
    assert_data_error(&e, &["train-images-idx3-ubyte", "byte offset 10", "header"]);
}

#[test]
fn truncated_gzip_and_trailing_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    write_set(tmp.path(), "dash", true);
    let path = tmp.path().join("train-labels-idx1-ubyte.gz");
    let z = gzip(&idx_labels(&TRAIN_LABELS));
    write(&path, &z[..z.len() - 12]);
    let e = err(load(tmp.path().to_str().unwrap(), None));
    assert_data_error(&e, &["train-labels-idx1-ubyte.gz", "ends early"]);

    let mut long = idx_labels(&TRAIN_LABELS);
    long.extend_from_slice(&[0, 0, 0]);
    write(&path, &gzip(&long));
    let e = err(load(tmp.path().to_str().unwrap(), None));
    assert_data_error(&e, &["train-labels-idx1-ubyte.gz", "3 unexpected bytes", "decompressed"]);
}

#[test]
fn wrong_magic() {
    let tmp = tempfile::tempdir().unwrap();
    write_set(tmp.path(), "dash", false);
    // A label file where the images should be.
    write(&tmp.path().join("t10k-images-idx3-ubyte"), &idx_labels(&[1, 2, 3]));
    let e = err(load(tmp.path().to_str().unwrap(), None));
    assert_data_error(&e, &["t10k-images-idx3-ubyte", "bad magic number 0x00000801", "0x00000803", "label file"]);

    write(&tmp.path().join("t10k-images-idx3-ubyte"), b"GIF89a not an idx file");
    let e = err(load(tmp.path().to_str().unwrap(), None));
    assert_data_error(&e, &["t10k-images-idx3-ubyte", "bad magic number"]);
}

#[test]
fn label_out_of_range_names_record() {
    let tmp = tempfile::tempdir().unwrap();
    write_set(tmp.path(), "dash", false);
    let mut labels = TRAIN_LABELS;
    labels[4] = 10;
    write(&tmp.path().join("train-labels-idx1-ubyte"), &idx_labels(&labels));
    let e = err(load(tmp.path().to_str().unwrap(), None));
    assert_data_error(&e, &["train-labels-idx1-ubyte", "record 4", "label 10"]);
}

#[test]
fn count_mismatch() {
    let tmp = tempfile::tempdir().unwrap();
    write_set(tmp.path(), "dash", false);
    write(&tmp.path().join("t10k-labels-idx1-ubyte"), &idx_labels(&[1, 2]));
    let e = err(load(tmp.path().to_str().unwrap(), None));
    assert_data_error(&e, &["t10k-labels-idx1-ubyte", "2 labels", "t10k-images-idx3-ubyte", "3 images"]);
}

#[test]
fn missing_labels_and_size_mismatch_between_splits() {
    let tmp = tempfile::tempdir().unwrap();
    write_set(tmp.path(), "dash", false);
    std::fs::remove_file(tmp.path().join("train-labels-idx1-ubyte")).unwrap();
    let e = err(load(tmp.path().to_str().unwrap(), None));
    assert_data_error(&e, &["train-labels-idx1-ubyte", "missing"]);

    write_set(tmp.path(), "dash", false);
    write(&tmp.path().join("t10k-images-idx3-ubyte"), &idx_images(3, 4, 5));
    let e = err(load(tmp.path().to_str().unwrap(), None));
    assert_data_error(&e, &["t10k-images-idx3-ubyte", "4x5", "5x4"]);
}

fn md5_hex(parts: &[&[u8]]) -> String {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The real files, wherever `load` finds them (scripts/dev.sh installs the Debian package): exact bytes
/// through the published md5s of the decompressed files.
#[test]
fn real_fashion_mnist() {
    let t0 = std::time::Instant::now();
    let s = match load("fashion-mnist", None) {
        Ok(s) => s,
        Err(e) => panic!("Fashion-MNIST is needed for this test (scripts/dev.sh installs it):\n{e}"),
    };
    eprintln!("Fashion-MNIST from {} loaded in {:.2?}", s.train.source, t0.elapsed());
    assert_eq!(s.kind, DatasetKind::FashionMnist);
    let train = &s.train;
    let test = s.test.as_ref().unwrap();
    assert_eq!((train.len(), train.height, train.width, train.channels), (60000, 28, 28, 1));
    assert_eq!((test.len(), test.height, test.width, test.channels), (10000, 28, 28, 1));
    assert_eq!(train.labels[..10], [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    assert_eq!(test.labels[..10], [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    let header = |magic: u8, n: u32, dims: bool| {
        let mut h = vec![0, 0, 8, magic];
        h.extend_from_slice(&n.to_be_bytes());
        if dims {
            h.extend_from_slice(&28u32.to_be_bytes());
            h.extend_from_slice(&28u32.to_be_bytes());
        }
        h
    };
    assert_eq!(md5_hex(&[&header(3, 60000, true), &train.images]), "f4a8712d7a061bf5bd6d2ca38dc4d50a");
    assert_eq!(md5_hex(&[&header(1, 60000, false), &train.labels]), "9018921c3c673c538a1fc5bad174d6f9");
    assert_eq!(md5_hex(&[&header(3, 10000, true), &test.images]), "8181f5470baa50b63fa0f6fddb340f0a");
    assert_eq!(md5_hex(&[&header(1, 10000, false), &test.labels]), "15d484375f8d13e6eb1aabb0c3f46965");
}
