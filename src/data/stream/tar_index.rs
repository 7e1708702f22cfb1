//! An index of a `.tar` shard's image members (offset and length of each file's bytes), built by one
//! pass over the headers that seeks past the data, so that workers can later read any member directly.
//! Members that are themselves tars (ImageNet's `ILSVRC2012_img_train.tar` holds one tar per class) are
//! indexed in place: their images appear under a folder named after the inner tar. The index can be
//! kept in a cache folder between runs (keyed by the shard's path, size and modification time), so a
//! shard of a million members is scanned once, not at every start.

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::data::folder::is_image_name;
use crate::error::IoContext;
use crate::{Error, Result};

/// Format tag of a cached index file.
const CACHE_MAGIC: &[u8; 8] = b"LWTARIX1";

/// One image inside a shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Member {
    /// Path components inside the shard, an inner tar `x.tar` standing for a folder `x`.
    pub rel: Vec<String>,
    /// The member's name as stored (`outer/x.tar/inner.JPEG` for a member of an inner tar).
    pub name: String,
    pub offset: u64,
    pub len: u64,
}

/// A byte range of a file, seen as a file of its own (an inner tar).
struct Window {
    file: File,
    start: u64,
    len: u64,
    pos: u64,
}

impl Read for Window {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.file.seek(SeekFrom::Start(self.start + self.pos))?;
        let got = self.file.read(&mut buf[..n])?;
        self.pos += got as u64;
        Ok(got)
    }
}

impl Seek for Window {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => p as i128,
            SeekFrom::End(d) => self.len as i128 + d as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        if pos < 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start"));
        }
        self.pos = pos as u64;
        Ok(self.pos)
    }
}

/// Every image member of the tar at `path`, in archive order: from `cache_dir` when it holds the index
/// of this very file, else by scanning it (then saved there; a cache that cannot be written is skipped).
pub(crate) fn members(path: &Path, cache_dir: Option<&Path>) -> Result<Vec<Member>> {
    let cached = match cache_dir {
        Some(dir) => Some(dir.join(format!("{:016x}.idx", cache_key(path)?))),
        None => None,
    };
    if let Some(members) = cached.as_deref().and_then(load_cached) {
        return Ok(members);
    }
    let members = scan(path)?;
    if let Some(file) = &cached {
        let _ = std::fs::create_dir_all(file.parent().unwrap_or(Path::new(".")));
        let _ = crate::fsutil::atomic_write(file, &encode(&members));
    }
    Ok(members)
}

/// Changes when the shard is replaced or rewritten.
fn cache_key(path: &Path) -> Result<u64> {
    let meta = std::fs::metadata(path).at(path)?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()).hash(&mut h);
    meta.len().hash(&mut h);
    meta.modified().ok().hash(&mut h);
    Ok(h.finish())
}

fn encode(members: &[Member]) -> Vec<u8> {
    let mut out = CACHE_MAGIC.to_vec();
    out.extend_from_slice(&(members.len() as u64).to_le_bytes());
    let put_str = |out: &mut Vec<u8>, s: &str| {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    };
    for m in members {
        out.extend_from_slice(&m.offset.to_le_bytes());
        out.extend_from_slice(&m.len.to_le_bytes());
        put_str(&mut out, &m.name);
        out.extend_from_slice(&(m.rel.len() as u32).to_le_bytes());
        for c in &m.rel {
            put_str(&mut out, c);
        }
    }
    out
}

/// A cached index, or None when it is missing or unreadable (then the shard is scanned again).
fn load_cached(file: &Path) -> Option<Vec<Member>> {
    let bytes = std::fs::read(file).ok()?;
    let mut pos = 0usize;
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = bytes.get(pos..pos.checked_add(n)?)?;
        pos += n;
        Some(s)
    };
    if take(8)? != CACHE_MAGIC {
        return None;
    }
    let u64_of = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
    let u32_of = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize;
    let count = u64_of(take(8)?) as usize;
    let mut members = Vec::with_capacity(count.min(bytes.len() / 24));
    for _ in 0..count {
        let (offset, len) = (u64_of(take(8)?), u64_of(take(8)?));
        let n = u32_of(take(4)?);
        let name = String::from_utf8(take(n)?.to_vec()).ok()?;
        let parts = u32_of(take(4)?);
        let mut rel = Vec::with_capacity(parts.min(64));
        for _ in 0..parts {
            let n = u32_of(take(4)?);
            rel.push(String::from_utf8(take(n)?.to_vec()).ok()?);
        }
        members.push(Member { rel, name, offset, len });
    }
    Some(members)
}

/// Every image member of the tar at `path`, in archive order, by reading its headers.
pub(crate) fn scan(path: &Path) -> Result<Vec<Member>> {
    let mut file = File::open(path).at(path)?;
    let mut magic = [0u8; 6];
    let got = file.read(&mut magic).at(path)?;
    if magic[..got].starts_with(&[0x1f, 0x8b]) || magic[..got].starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Err(Error::data(
            path,
            "is a compressed archive, which cannot be read at random offsets: decompress it once (e.g. `gunzip` or \
             `unxz`) to a plain .tar",
        ));
    }
    let len = file.metadata().at(path)?.len();
    let mut members = Vec::new();
    scan_window(path, Window { file, start: 0, len, pos: 0 }, &[], "", &mut members)?;
    Ok(members)
}

fn scan_window(path: &Path, window: Window, prefix: &[String], name_prefix: &str, out: &mut Vec<Member>) -> Result<()> {
    let corrupt =
        |e: std::io::Error| Error::data(path, format!("cannot read the archive (corrupt or truncated?): {e}"));
    let start = window.start;
    let mut tar = tar::Archive::new(window);
    for entry in tar.entries_with_seek().map_err(corrupt)? {
        let entry = entry.map_err(corrupt)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let inner = entry.path().map_err(corrupt)?;
        let comps: Vec<String> = inner
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        let Some(base) = comps.last() else { continue };
        let name = format!("{name_prefix}{}", comps.join("/"));
        let (offset, len) = (start + entry.raw_file_position(), entry.size());
        let mut rel = prefix.to_vec();
        if base.to_ascii_lowercase().ends_with(".tar") {
            rel.extend_from_slice(&comps[..comps.len() - 1]);
            rel.push(base[..base.len() - 4].to_string());
            let file = File::open(path).at(path)?;
            scan_window(path, Window { file, start: offset, len, pos: 0 }, &rel, &format!("{name}/"), out)?;
        } else if is_image_name(base) {
            rel.extend(comps);
            out.push(Member { rel, name, offset, len });
        }
    }
    Ok(())
}
