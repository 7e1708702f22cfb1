//! What a run records about the data it trains on (`data.json` in its folder): where the data was read
//! from and a fingerprint of what was read, so that a resumed run, `eval` and `viz` can tell whether
//! they are given the same data or another dataset that merely has the same name.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::stream::{ImageList, Location};
use super::Splits;

/// The data a run was started on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRecord {
    /// The config's dataset (a name or a path).
    pub dataset: String,
    /// The folder or archive it was read from, absolute where it could be resolved.
    pub path: PathBuf,
    /// "fashion-mnist", "mnist", "cifar10" or "image-folder".
    pub kind: String,
    /// Height, width, channels of every image.
    pub image: [usize; 3],
    pub classes: Vec<String>,
    pub train_images: usize,
    /// Images in the test split (None: the dataset has none).
    pub test_images: Option<usize>,
    /// Hashes (hex) of both splits' labels and of their pixels, as decoded: the fingerprint.
    pub labels_hash: String,
    pub pixels_hash: String,
}

/// A 64-bit hash that stays the same across builds and platforms (std's `DefaultHasher` promises
/// neither), fast enough for a gigabyte of pixels: a multiply-rotate mix over 8-byte words. It tells
/// one dataset from another; it is not meant to resist a forger.
fn hash(parts: &[&[u8]]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |w: u64| h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    for part in parts {
        let words = part.chunks_exact(8);
        let tail = words.remainder();
        for w in words {
            mix(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        let mut last = [0u8; 8];
        last[..tail.len()].copy_from_slice(tail);
        mix(u64::from_le_bytes(last));
        mix(part.len() as u64);
    }
    h
}

impl DataRecord {
    /// The record of `splits`, loaded for the config's `dataset`.
    pub fn of(dataset: &str, splits: &Splits) -> DataRecord {
        let (train, test) = (&splits.train, splits.test.as_ref());
        let (test_labels, test_pixels) = test.map_or((&[][..], &[][..]), |t| (&t.labels[..], &t.images[..]));
        let (train_labels, train_pixels) = (&train.labels[..], &train.images[..]);
        DataRecord {
            dataset: dataset.to_string(),
            path: std::fs::canonicalize(&splits.origin).unwrap_or_else(|_| splits.origin.clone()),
            kind: splits.kind.name().to_string(),
            image: [train.height, train.width, train.channels],
            classes: train.classes.clone(),
            train_images: train.len(),
            test_images: test.map(|t| t.len()),
            labels_hash: format!("{:016x}", hash(&[train_labels, test_labels])),
            pixels_hash: format!("{:016x}", hash(&[train_pixels, test_pixels])),
        }
    }

    /// The record of a streamed dataset's listed splits, seen as `size` x `size` RGB crops. Reading every
    /// pixel of an ImageNet-sized dataset to hash it would take as long as an epoch, so the fingerprint
    /// covers the listing instead: every image's name, byte length and label.
    pub fn of_lists(
        dataset: &str,
        origin: &std::path::Path,
        train: &ImageList,
        val: Option<&ImageList>,
        size: usize,
    ) -> DataRecord {
        let labels: Vec<u8> = train
            .entries
            .iter()
            .chain(val.iter().flat_map(|v| &v.entries))
            .flat_map(|e| e.label.to_le_bytes())
            .collect();
        let mut listing = Vec::new();
        for list in std::iter::once(train).chain(val) {
            for (i, e) in list.entries.iter().enumerate() {
                let name = list.name(i);
                let file = name.file_name().map_or_else(|| name.to_string_lossy(), |n| n.to_string_lossy());
                listing.extend_from_slice(file.as_bytes());
                let len = match &e.location {
                    Location::File(p) => std::fs::metadata(p).map_or(0, |m| m.len()),
                    Location::Member { len, .. } => *len,
                };
                listing.extend_from_slice(&len.to_le_bytes());
            }
        }
        DataRecord {
            dataset: dataset.to_string(),
            path: std::fs::canonicalize(origin).unwrap_or_else(|_| origin.to_path_buf()),
            kind: "image-stream".to_string(),
            image: [size, size, 3],
            classes: train.classes.clone(),
            train_images: train.len(),
            test_images: val.map(|v| v.len()),
            labels_hash: format!("{:016x}", hash(&[&labels])),
            pixels_hash: format!("{:016x}", hash(&[&listing])),
        }
    }

    /// How the data of `other` differs from this record's (empty: the same data, wherever it lives).
    pub fn differences(&self, other: &DataRecord) -> Vec<String> {
        let mut d = Vec::new();
        let mut differ = |what: &str, a: String, b: String| {
            if a != b {
                d.push(format!("{what}: {a} then, {b} now"));
            }
        };
        let [h, w, c] = self.image;
        let [oh, ow, oc] = other.image;
        differ("images", format!("{h}x{w}x{c}"), format!("{oh}x{ow}x{oc}"));
        differ("classes", self.classes.join(", "), other.classes.join(", "));
        differ("training images", self.train_images.to_string(), other.train_images.to_string());
        let test = |t: Option<usize>| t.map_or("none".to_string(), |n| n.to_string());
        differ("test images", test(self.test_images), test(other.test_images));
        differ("labels hash", self.labels_hash.clone(), other.labels_hash.clone());
        differ("pixels hash", self.pixels_hash.clone(), other.pixels_hash.clone());
        d
    }
}
