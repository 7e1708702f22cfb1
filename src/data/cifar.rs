//! CIFAR-10 binary batches: records of 1 label byte then 32x32 R, G and B planes (row-major), converted
//! to HWC. data_batch_1..5.bin are the training split, test_batch.bin the test split.

use std::path::{Path, PathBuf};

use super::Dataset;
use crate::error::IoContext;
use crate::{Error, Result};

pub(crate) const CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
/// The official archive's name: preferred over other archives when a place holds several.
pub(crate) const OFFICIAL_ARCHIVE: &str = "cifar-10-binary.tar.gz";
/// Members of the official archive that `load` and `fetch` use.
pub(crate) const TRAIN_BATCHES: [&str; 5] =
    ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
pub(crate) const TEST_BATCH: &str = "test_batch.bin";
pub(crate) const META: &str = "batches.meta.txt";

const SIDE: usize = 32;
const PLANE: usize = SIDE * SIDE;
const RECORD: usize = 1 + 3 * PLANE;

/// One batch file (or batches.meta.txt): its bare name, the path to show in messages, its bytes.
pub(crate) struct Member {
    pub name: String,
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

pub(crate) fn has_batches(dir: &Path) -> bool {
    dir.join(TRAIN_BATCHES[0]).is_file()
}

/// The batches of one folder. Reads every file first so that an archive's members (already in memory)
/// and a folder's files go through the same checks.
pub(crate) fn load_dir(dir: &Path) -> Result<(Dataset, Option<Dataset>)> {
    let mut members = Vec::new();
    for name in TRAIN_BATCHES.iter().chain([&TEST_BATCH, &META]) {
        let p = dir.join(name);
        if p.is_file() {
            let bytes = std::fs::read(&p).at(&p)?;
            members.push(Member { name: name.to_string(), path: p, bytes });
        }
    }
    load_members(dir, &members)
}

/// `members`: the batches and batches.meta.txt; `base` (folder or archive) is the dataset's `source`.
/// data_batch_1.bin is required, later batches are taken in order and may stop early (a prefix of the
/// set), but a gap (batch 3 without batch 2) is an error: it would silently drop a fifth of the data.
pub(crate) fn load_members(base: &Path, members: &[Member]) -> Result<(Dataset, Option<Dataset>)> {
    let get = |name: &str| members.iter().find(|m| m.name == name);
    // Where a missing member would have been, for messages.
    let would_be = |name: &str| match members.first() {
        Some(m) => m.path.with_file_name(name),
        None => base.join(name),
    };
    let classes = match get(META) {
        Some(m) => parse_meta(&m.path, &m.bytes)?,
        None => CLASSES.iter().map(|s| s.to_string()).collect(),
    };
    let mut train = empty(&classes, base);
    let mut gap: Option<&str> = None;
    for name in TRAIN_BATCHES {
        match (get(name), gap) {
            (Some(m), Some(missing)) => return Err(Error::data(&m.path, format!("present but {missing} is missing"))),
            (Some(m), None) => parse_batch(&m.path, &m.bytes, &mut train)?,
            (None, _) => gap = gap.or(Some(name)),
        }
    }
    if gap == Some(TRAIN_BATCHES[0]) {
        return Err(Error::data(would_be(TRAIN_BATCHES[0]), "missing"));
    }
    if train.is_empty() {
        return Err(Error::data(would_be(TRAIN_BATCHES[0]), "holds no records"));
    }
    let test = match get(TEST_BATCH) {
        Some(m) => {
            let mut t = empty(&classes, base);
            t.source = m.path.display().to_string();
            parse_batch(&m.path, &m.bytes, &mut t)?;
            Some(t)
        }
        None => None,
    };
    Ok((train, test))
}

fn empty(classes: &[String], base: &Path) -> Dataset {
    Dataset {
        images: Vec::new(),
        labels: Vec::new(),
        height: SIDE,
        width: SIDE,
        channels: 3,
        classes: classes.to_vec(),
        source: base.display().to_string(),
    }
}

/// batches.meta.txt: one class name a line (blank lines ignored); must name exactly ten.
fn parse_meta(path: &Path, bytes: &[u8]) -> Result<Vec<String>> {
    let text = String::from_utf8_lossy(bytes);
    let names: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    if names.len() != CLASSES.len() {
        return Err(Error::data(path, format!("names {} classes; CIFAR-10 has {}", names.len(), CLASSES.len())));
    }
    Ok(names)
}

/// Append one batch file's records to `out`, converting the R, G, B planes to HWC.
pub(crate) fn parse_batch(path: &Path, bytes: &[u8], out: &mut Dataset) -> Result<()> {
    if bytes.len() % RECORD != 0 {
        let whole = bytes.len() / RECORD;
        return Err(Error::data(
            path,
            format!(
                "{} bytes is not a whole number of {RECORD}-byte records: record {whole} starts at byte offset {} \
                 and holds only {} bytes (truncated file?)",
                bytes.len(),
                whole * RECORD,
                bytes.len() % RECORD
            ),
        ));
    }
    let n = bytes.len() / RECORD;
    out.images.reserve(n * 3 * PLANE);
    out.labels.reserve(n);
    for (r, rec) in bytes.chunks_exact(RECORD).enumerate() {
        let label = rec[0];
        if label as usize >= CLASSES.len() {
            return Err(Error::data(
                path,
                format!("record {r} (byte offset {}) has label {label}; CIFAR-10 labels are 0..9", r * RECORD),
            ));
        }
        out.labels.push(label);
        let (red, rest) = rec[1..].split_at(PLANE);
        let (green, blue) = rest.split_at(PLANE);
        for p in 0..PLANE {
            out.images.extend_from_slice(&[red[p], green[p], blue[p]]);
        }
    }
    Ok(())
}

/// The file names `fetch` unpacks: every batch plus the class names.
pub(crate) fn member_names() -> Vec<&'static str> {
    TRAIN_BATCHES.iter().copied().chain([TEST_BATCH, META]).collect()
}

/// A folder already holding every member of the official archive, each batch of the official size.
pub(crate) fn complete_in(dir: &Path) -> bool {
    let batch_ok = |name: &str| {
        let p: PathBuf = dir.join(name);
        std::fs::metadata(&p).is_ok_and(|m| m.len() == (10_000 * RECORD) as u64)
    };
    TRAIN_BATCHES.iter().all(|n| batch_ok(n)) && batch_ok(TEST_BATCH)
}
