//! Reading .tar, .tar.gz and .tar.xz archives in memory, without unpacking them to disk. The compression is
//! recognised by content (magic bytes), so a misnamed archive still opens.

use std::hash::{Hash, Hasher};
use std::io::{BufReader, Read};
use std::path::Path;

use super::{cifar, folder};
use crate::error::IoContext;
use crate::{Error, Result};

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0];
/// Caps the buffer reserved from an entry's header size, which a corrupt header could make huge.
const MAX_PREALLOC: u64 = 64 << 20;

/// What an archive holds.
pub(crate) enum Contents {
    CifarBinary(Vec<cifar::Member>),
    Images(folder::Tree),
}

/// Named like a tar archive: .tar, .tar.gz, .tgz, .tar.xz, .txz.
pub(crate) fn is_archive_name(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    [".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz"].iter().any(|ext| name.ends_with(ext))
}

/// Changes when the archive file is replaced or rewritten (size or modification time).
pub(crate) fn fingerprint(path: &Path) -> Result<u64> {
    let meta = std::fs::metadata(path).at(path)?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    meta.len().hash(&mut h);
    meta.modified().ok().hash(&mut h);
    Ok(h.finish())
}

/// The archive's decompressed tar stream.
fn open(path: &Path) -> Result<Box<dyn Read>> {
    let mut file = std::fs::File::open(path).at(path)?;
    let mut magic = [0u8; 6];
    let got = read_up_to(&mut file, &mut magic).at(path)?;
    let head = std::io::Cursor::new(magic[..got].to_vec());
    let raw = BufReader::with_capacity(1 << 20, head.chain(file));
    Ok(if magic[..got].starts_with(GZIP_MAGIC) {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else if magic[..got].starts_with(XZ_MAGIC) {
        Box::new(liblzma::read::XzDecoder::new_multi_decoder(raw))
    } else {
        Box::new(raw)
    })
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn corrupt(path: &Path, e: std::io::Error) -> Error {
    Error::data(path, format!("cannot read the archive (corrupt or truncated?): {e}"))
}

/// Call `f(inner_path, entry)` for every regular file whose inner path (with '/' separators and no
/// leading "./") passes `want`, in archive order. Folders are offered to `want` too, with a trailing
/// '/' (so a caller can see empty ones), but never passed to `f`.
pub(crate) fn for_each_file(
    path: &Path,
    want: impl Fn(&str) -> bool,
    mut f: impl FnMut(&str, &mut dyn Read, u64) -> Result<()>,
) -> Result<()> {
    let mut tar = tar::Archive::new(open(path)?);
    for entry in tar.entries().map_err(|e| corrupt(path, e))? {
        let mut entry = entry.map_err(|e| corrupt(path, e))?;
        let kind = entry.header().entry_type();
        if !kind.is_file() && !kind.is_dir() {
            continue;
        }
        let inner = entry.path().map_err(|e| corrupt(path, e))?;
        let inner: Vec<String> = inner
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        let inner = inner.join("/");
        if kind.is_dir() {
            want(&format!("{inner}/"));
        } else if want(&inner) {
            let size = entry.size();
            f(&inner, &mut entry, size)?;
        }
    }
    Ok(())
}

/// Read every regular file passing `want` into memory: (inner path, bytes), in archive order.
pub(crate) fn read_files(path: &Path, want: impl Fn(&str) -> bool) -> Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    for_each_file(path, want, |inner, entry, size| {
        let mut bytes = Vec::with_capacity(size.min(MAX_PREALLOC) as usize);
        entry.read_to_end(&mut bytes).map_err(|e| corrupt(path, e))?;
        files.push((inner.to_string(), bytes));
        Ok(())
    })?;
    Ok(files)
}

fn base_name(inner: &str) -> &str {
    inner.rsplit('/').next().unwrap_or(inner)
}

/// CIFAR-10 binary batches if the archive has data_batch_1.bin, else an image folder tree.
pub(crate) fn read_tree(path: &Path) -> Result<Contents> {
    let cifar_names = cifar::member_names();
    // Every member's path, folders included: an image folder's classes without images are refused.
    let listed = std::cell::RefCell::new(Vec::new());
    let files = read_files(path, |inner| {
        listed.borrow_mut().push(inner.to_string());
        folder::is_image_name(inner) || cifar_names.contains(&base_name(inner))
    })?;
    let batch_dir = files
        .iter()
        .find(|(inner, _)| base_name(inner) == cifar::TRAIN_BATCHES[0])
        .map(|(inner, _)| inner[..inner.len() - cifar::TRAIN_BATCHES[0].len()].to_string());
    if let Some(dir) = batch_dir {
        let members = files
            .into_iter()
            .filter(|(inner, _)| inner.starts_with(&dir) && cifar_names.contains(&&inner[dir.len()..]))
            .map(|(inner, bytes)| cifar::Member {
                name: inner[dir.len()..].to_string(),
                path: path.join(&inner),
                bytes,
            })
            .collect();
        return Ok(Contents::CifarBinary(members));
    }
    let images = files.into_iter().filter(|(inner, _)| folder::is_image_name(inner)).collect();
    Ok(Contents::Images(folder::tree_from_archive(path, images, &listed.into_inner())?))
}
