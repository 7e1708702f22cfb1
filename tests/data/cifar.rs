//! CIFAR-10 binary batches: synthetic records, broken files, archives of batches, and the byte-exact
//! prefixes of the official files in ../shared/data/cifar10/exact-prefix.

use std::path::Path;

use layerwise::data::{load, DatasetKind};

use crate::{assert_data_error, err, shared_data, write};

const RECORD: usize = 3073;

/// One record whose pixel (y, x) in plane c is (seed + 7c + 3y + x) mod 256.
fn record(label: u8, seed: u8) -> Vec<u8> {
    let mut r = vec![label];
    for c in 0..3u32 {
        for p in 0..1024u32 {
            r.push((seed as u32 + 7 * c + 3 * (p / 32) + p % 32) as u8);
        }
    }
    r
}

fn batch(records: &[(u8, u8)]) -> Vec<u8> {
    records.iter().flat_map(|&(l, s)| record(l, s)).collect()
}

fn write_batches(dir: &Path) {
    write(&dir.join("data_batch_1.bin"), &batch(&[(6, 0), (9, 50), (0, 100)]));
    write(&dir.join("data_batch_2.bin"), &batch(&[(3, 150), (3, 200)]));
    write(&dir.join("test_batch.bin"), &batch(&[(1, 250)]));
}

#[test]
fn planes_become_hwc() {
    let tmp = tempfile::tempdir().unwrap();
    write_batches(tmp.path());
    let s = load(tmp.path().to_str().unwrap(), None).unwrap();
    assert_eq!(s.kind, DatasetKind::Cifar10);
    let t = &s.train;
    assert_eq!((t.len(), t.height, t.width, t.channels), (5, 32, 32, 3));
    assert_eq!(t.labels, vec![6, 9, 0, 3, 3]);
    assert_eq!(t.classes[6], "frog");
    for (i, seed) in [0u32, 50, 100, 150, 200].into_iter().enumerate() {
        let img = t.image(i);
        for (y, x, c) in [(0, 0, 0), (0, 1, 2), (5, 31, 1), (31, 30, 2)] {
            assert_eq!(img[(y * 32 + x) * 3 + c] as u32, (seed + 7 * c as u32 + 3 * y as u32 + x as u32) % 256);
        }
    }
    let test = s.test.unwrap();
    assert_eq!((test.len(), test.labels[0]), (1, 1));
}

#[test]
fn partial_record_names_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    write_batches(tmp.path());
    let mut b = batch(&[(1, 1), (2, 2)]);
    b.extend_from_slice(&[5; 100]);
    write(&tmp.path().join("data_batch_2.bin"), &b);
    let e = err(load(tmp.path().to_str().unwrap(), None));
    assert_data_error(&e, &["data_batch_2.bin", "record 2 starts at byte offset 6146", "100 bytes"]);
}

#[test]
fn bad_label_names_file_and_record() {
    let tmp = tempfile::tempdir().unwrap();
    write_batches(tmp.path());
    write(&tmp.path().join("test_batch.bin"), &batch(&[(1, 1), (10, 2)]));
    let e = err(load(tmp.path().to_str().unwrap(), None));
    assert_data_error(&e, &["test_batch.bin", "record 1", "byte offset 3073", "label 10"]);
}

#[test]
fn gap_in_batches_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    write_batches(tmp.path());
    write(&tmp.path().join("data_batch_4.bin"), &batch(&[(1, 1)]));
    let e = err(load(tmp.path().to_str().unwrap(), None));
    assert_data_error(&e, &["data_batch_4.bin", "data_batch_3.bin is missing"]);
}

/// A .tar.gz laid out like the official cifar-10-binary.tar.gz.
pub fn official_like_archive(path: &Path, batches: &[(&str, Vec<u8>)]) {
    let file = std::fs::File::create(path).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut add = |name: &str, bytes: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, format!("cifar-10-batches-bin/{name}"), bytes).unwrap();
    };
    add("readme.html", b"<html></html>");
    add("batches.meta.txt", b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n");
    for (name, bytes) in batches {
        add(name, bytes);
    }
    tar.into_inner().unwrap().finish().unwrap();
}

#[test]
fn archive_of_batches_loads_like_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let batches: Vec<(&str, Vec<u8>)> = vec![
        ("data_batch_1.bin", batch(&[(6, 0), (9, 50)])),
        ("data_batch_2.bin", batch(&[(3, 150)])),
        ("test_batch.bin", batch(&[(1, 250)])),
    ];
    let archive = tmp.path().join("cifar-10-binary.tar.gz");
    official_like_archive(&archive, &batches);
    let s = load(archive.to_str().unwrap(), None).unwrap();
    assert_eq!(s.kind, DatasetKind::Cifar10);
    assert_eq!(s.train.labels, vec![6, 9, 3]);
    assert_eq!(&s.train.image(2)[..6], &[150, 157, 164, 151, 158, 165]);
    assert_eq!(s.test.unwrap().labels, vec![1]);

    // Found by name in a place holding only the archive.
    let s2 = load("cifar10", Some(tmp.path())).unwrap();
    assert_eq!(s2.train.images.len(), 3 * 3072);
}

/// The official bytes: counts, the README's sanity values, and the class names file.
#[test]
fn exact_prefix_of_official_batches() {
    let Some(shared) = shared_data("exact_prefix_of_official_batches") else { return };
    let dir = shared.join("cifar10/exact-prefix");
    let s = load(dir.to_str().unwrap(), None).unwrap();
    assert_eq!(s.kind, DatasetKind::Cifar10);
    let t = &s.train;
    assert_eq!(t.len(), 1102 + 1017 + 1017 + 1329 + 1017);
    assert_eq!(t.images.len(), t.len() * 3072);
    assert_eq!(t.labels[0], 6);
    let red: Vec<u8> = t.image(0).chunks(3).take(10).map(|px| px[0]).collect();
    assert_eq!(red, [59, 43, 50, 68, 98, 119, 139, 145, 149, 149]);
    assert_eq!(t.classes, ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]);
    assert!(s.test.is_none(), "the prefixes hold no test_batch.bin");
    // Record 0 of data_batch_2 starts right after batch 1's 1102 records.
    let raw = std::fs::read(dir.join("data_batch_2.bin")).unwrap();
    assert_eq!(t.labels[1102], raw[0]);
    assert_eq!(t.image(1102)[3 * 5 + 1], raw[1 + 1024 + 5]); // green of pixel 5
    assert_eq!(raw.len() % RECORD, 0);
}
