//! MNIST / Fashion-MNIST IDX files: big-endian header (magic 0x00000803 for u8 images with 3 dimensions,
//! 0x00000801 for u8 labels with 1), then the raw bytes. Files may be gzipped (detected by content).

use std::io::Read;
use std::path::{Path, PathBuf};

use super::Dataset;
use crate::error::IoContext;
use crate::{Error, Result};

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

/// The file for `prefix` ("train"/"t10k") and `what` ("images"/"labels") in `dir`, in any accepted
/// spelling: `-idx3-ubyte` or `.idx3-ubyte`, plain or `.gz`.
fn find(dir: &Path, prefix: &str, what: &str) -> Option<PathBuf> {
    let dims = if what == "images" { 3 } else { 1 };
    for sep in ['-', '.'] {
        for gz in ["", ".gz"] {
            let p = dir.join(format!("{prefix}-{what}{sep}idx{dims}-ubyte{gz}"));
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

pub(crate) fn has_train_images(dir: &Path) -> bool {
    find(dir, "train", "images").is_some()
}

/// Load the train split and, when both t10k files are there, the test split.
pub(crate) fn load_dir(dir: &Path, classes: Vec<String>) -> Result<(Dataset, Option<Dataset>)> {
    let pair = |prefix: &str| (find(dir, prefix, "images"), find(dir, prefix, "labels"));
    let missing = |prefix: &str, what: &str| {
        Error::data(dir, format!("{prefix}-{what}-idx{}-ubyte[.gz] is missing", if what == "images" { 3 } else { 1 }))
    };
    let train = match pair("train") {
        (Some(i), Some(l)) => load_pair(&i, &l, &classes)?,
        (_, None) => return Err(missing("train", "labels")),
        (None, _) => return Err(missing("train", "images")),
    };
    let test = match pair("t10k") {
        (Some(i), Some(l)) => Some(load_pair(&i, &l, &classes)?),
        (None, None) => None,
        (Some(_), None) => return Err(missing("t10k", "labels")),
        (None, Some(_)) => return Err(missing("t10k", "images")),
    };
    if let Some(t) = &test {
        if (t.height, t.width) != (train.height, train.width) {
            return Err(Error::data(
                &t.source,
                format!(
                    "images are {}x{} but the training images are {}x{}",
                    t.height, t.width, train.height, train.width
                ),
            ));
        }
    }
    Ok((train, test))
}

fn load_pair(images_path: &Path, labels_path: &Path, classes: &[String]) -> Result<Dataset> {
    let (img_bytes, img_gz) = read_maybe_gz(images_path)?;
    let (n, rows, cols) = parse_images(images_path, &img_bytes, img_gz)?;
    let (lab_bytes, lab_gz) = read_maybe_gz(labels_path)?;
    let labels = parse_labels(labels_path, &lab_bytes, lab_gz, classes.len())?;
    if labels.len() != n {
        return Err(Error::data(
            labels_path,
            format!("holds {} labels but {} holds {n} images", labels.len(), images_path.display()),
        ));
    }
    let mut images = img_bytes;
    images.drain(..16);
    Ok(Dataset {
        images,
        labels: labels.to_vec(),
        height: rows,
        width: cols,
        channels: 1,
        classes: classes.to_vec(),
        source: images_path.display().to_string(),
    })
}

/// The file's bytes, gunzipped when they start with the gzip magic; and whether they were.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<(Vec<u8>, bool)> {
    let raw = std::fs::read(path).at(path)?;
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok((raw, false));
    }
    let mut out = Vec::with_capacity(raw.len() * 4);
    // Multi-member, as gzip itself reads concatenated streams.
    let mut dec = flate2::read::MultiGzDecoder::new(&raw[..]);
    if let Err(e) = dec.read_to_end(&mut out) {
        let msg = if e.kind() == std::io::ErrorKind::UnexpectedEof {
            format!("the gzip stream ends early, after {} decompressed bytes (truncated download?)", out.len())
        } else {
            format!("not a valid gzip file ({e}), after {} decompressed bytes", out.len())
        };
        return Err(Error::data(path, msg));
    }
    Ok((out, true))
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn offsets_note(gz: bool) -> &'static str {
    if gz {
        " (offsets count decompressed bytes)"
    } else {
        ""
    }
}

/// Check the magic and that the file is exactly `header` bytes plus `n * record` bytes.
fn check_layout(path: &Path, bytes: &[u8], gz: bool, magic: u32, header: usize, what: &str) -> Result<()> {
    let note = offsets_note(gz);
    if bytes.len() < 4 {
        return Err(Error::data(
            path,
            format!("file ends at byte offset {} inside the magic number{note}", bytes.len()),
        ));
    }
    let got = be32(bytes, 0);
    if got != magic {
        let hint = match got {
            IMAGES_MAGIC => " (this is an IDX image file)",
            LABELS_MAGIC => " (this is an IDX label file)",
            _ => "",
        };
        return Err(Error::data(
            path,
            format!("bad magic number 0x{got:08x}: an IDX {what} file starts with 0x{magic:08x}{hint}"),
        ));
    }
    if bytes.len() < header {
        return Err(Error::data(
            path,
            format!("file ends at byte offset {} inside the {header}-byte header{note}", bytes.len()),
        ));
    }
    Ok(())
}

fn check_length(
    path: &Path,
    len: usize,
    gz: bool,
    expected: u64,
    promise: String,
    record: u64,
    header: u64,
) -> Result<()> {
    let note = offsets_note(gz);
    let len64 = len as u64;
    if len64 < expected {
        let whole = (len64 - header) / record;
        return Err(Error::data(
            path,
            format!(
                "truncated: file ends at byte offset {len} but its header promises {promise} ({expected} bytes); \
                 record {whole} is the first incomplete one{note}"
            ),
        ));
    }
    if len64 > expected {
        return Err(Error::data(
            path,
            format!(
                "{} unexpected bytes after the last record: its header promises {promise} ({expected} bytes){note}",
                len64 - expected
            ),
        ));
    }
    Ok(())
}

/// Validate an IDX image file; returns (count, rows, cols). The pixels are `bytes[16..]`.
pub(crate) fn parse_images(path: &Path, bytes: &[u8], gz: bool) -> Result<(usize, usize, usize)> {
    check_layout(path, bytes, gz, IMAGES_MAGIC, 16, "image")?;
    let (n, rows, cols) = (be32(bytes, 4) as u64, be32(bytes, 8) as u64, be32(bytes, 12) as u64);
    if rows == 0 || cols == 0 {
        return Err(Error::data(path, format!("header says images are {rows}x{cols}")));
    }
    // Three u32s can overflow u64: such a header is corrupt, not a reason to wrap around.
    let expected =
        n.checked_mul(rows).and_then(|x| x.checked_mul(cols)).and_then(|x| x.checked_add(16)).ok_or_else(|| {
            Error::data(path, format!("header promises an impossible size: {n} images of {rows}x{cols}"))
        })?;
    check_length(path, bytes.len(), gz, expected, format!("{n} images of {rows}x{cols}"), rows * cols, 16)?;
    Ok((n as usize, rows as usize, cols as usize))
}

/// Validate an IDX label file with every label < `classes`; returns the labels.
pub(crate) fn parse_labels<'a>(path: &Path, bytes: &'a [u8], gz: bool, classes: usize) -> Result<&'a [u8]> {
    check_layout(path, bytes, gz, LABELS_MAGIC, 8, "label")?;
    let n = be32(bytes, 4) as u64;
    check_length(path, bytes.len(), gz, 8 + n, format!("{n} labels"), 1, 8)?;
    let labels = &bytes[8..];
    if let Some(i) = labels.iter().position(|&l| l as usize >= classes) {
        return Err(Error::data(
            path,
            format!(
                "record {i} (byte offset {}{}) has label {}; labels must be below {classes}",
                8 + i,
                if gz { ", decompressed" } else { "" },
                labels[i]
            ),
        ));
    }
    Ok(labels)
}
