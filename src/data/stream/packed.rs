//! The pre-processed copy (as FFCV and DALI users keep one): one pass decodes every image of a list,
//! resizes it so its short side is at most `short_side` (torchvision's Resize rule, Pillow's bilinear),
//! and writes it raw (no decoding at all later) or re-encoded as JPEG (smaller, decoding fewer pixels)
//! into one file with an index. [`ImageList::open`] reads such a file like a folder of class folders.
//!
//! Layout (little-endian): `LWPACK\0\x01`, u64 offset of the index, the images back to back, then the
//! index: u32 length + JSON header (classes, options, source), u64 count, and per image u64 offset,
//! u64 length, u32 width, u32 height (0 for JPEG), u32 label, u16 name length + name (`<class>/<file>`).

use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::decode::decode_rgb;
use super::ordered::Ordered;
use super::read::Reader;
use super::resize::{Rect, Resampler, ResizeSpec};
use super::{ImageList, Pixels};
use crate::error::IoContext;
use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"LWPACK\0\x01";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PackEncoding {
    /// Raw RGB bytes: nothing to decode, about short_side^2 x 4 bytes an image (ImageNet at 160: ~130 GB).
    Raw,
    /// JPEG at this quality (1-100): several times smaller than raw (8x at quality 90 on ImageNet-sized
    /// images), decoded at the reduced size.
    Jpeg { quality: u8 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackOptions {
    /// Images whose short side is longer are resized to this short side; smaller ones are kept as they are.
    pub short_side: usize,
    pub encoding: PackEncoding,
    pub workers: usize,
    /// Print progress on stderr.
    pub progress: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PackSummary {
    pub images: usize,
    pub bytes: u64,
    pub seconds: f64,
}

#[derive(Serialize, Deserialize)]
struct Header {
    classes: Vec<String>,
    short_side: usize,
    encoding: PackEncoding,
    source: String,
}

/// One member as the index lists it.
pub(crate) struct PackedMember {
    pub rel: Vec<String>,
    pub name: String,
    pub offset: u64,
    pub len: u64,
    pub pixels: Pixels,
}

/// One image after the pass, before it is written.
#[derive(Default)]
struct Prepared {
    bytes: Vec<u8>,
    width: u32,
    height: u32,
}

#[derive(Default)]
struct PackWorker {
    reader: Reader,
    rgb: Vec<u8>,
    small: Vec<u8>,
    resampler: Resampler,
}

/// Write the packed copy of `list` to `out` (atomically: a temporary file renamed when complete).
pub fn pack(list: &ImageList, out: &Path, opts: &PackOptions) -> Result<PackSummary> {
    if opts.short_side == 0 {
        return Err(Error::usage("the packed copy's short side must be at least 1"));
    }
    if let PackEncoding::Jpeg { quality } = opts.encoding {
        if !(1..=100).contains(&quality) {
            return Err(Error::usage(format!("JPEG quality {quality} is not in 1..=100")));
        }
    }
    let t0 = Instant::now();
    let dir = out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp =
        dir.join(format!(".{}.tmp-{}", out.file_name().unwrap_or_default().to_string_lossy(), std::process::id()));
    let result = write_pack(list, &tmp, opts).and_then(|bytes| {
        std::fs::rename(&tmp, out).at(out)?;
        Ok(bytes)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(PackSummary { images: list.len(), bytes: result?, seconds: t0.elapsed().as_secs_f64() })
}

fn write_pack(list: &ImageList, tmp: &Path, opts: &PackOptions) -> Result<u64> {
    let mut file = BufWriter::with_capacity(1 << 20, std::fs::File::create(tmp).at(tmp)?);
    file.write_all(MAGIC).and_then(|_| file.write_all(&0u64.to_le_bytes())).at(tmp)?;
    let shared = std::sync::Arc::new(list.clone());
    let (l, o) = (shared.clone(), opts.clone());
    let work = move |i: usize, w: &mut PackWorker, out: &mut Prepared| prepare(&l, &o, i, w, out);
    let mut pool =
        Ordered::start(0, list.len(), opts.workers.max(1), 4 * opts.workers.max(1), PackWorker::default, work);
    let mut index = Vec::with_capacity(list.len());
    let mut offset = MAGIC.len() as u64 + 8;
    let every = (list.len() / 100).max(1000);
    while let Some(prepared) = pool.next() {
        let p = prepared?;
        file.write_all(&p.bytes).at(tmp)?;
        index.push((offset, p.bytes.len() as u64, p.width, p.height));
        offset += p.bytes.len() as u64;
        if opts.progress && index.len() % every == 0 {
            eprintln!("  packed {} of {} images ({:.1} GB)", index.len(), list.len(), offset as f64 / 1e9);
        }
    }
    let header = Header {
        classes: list.classes.clone(),
        short_side: opts.short_side,
        encoding: opts.encoding,
        source: list.source.clone(),
    };
    let json = serde_json::to_vec(&header).expect("serialisable");
    let mut tail = Vec::with_capacity(json.len() + list.len() * 64);
    tail.extend_from_slice(&(json.len() as u32).to_le_bytes());
    tail.extend_from_slice(&json);
    tail.extend_from_slice(&(list.len() as u64).to_le_bytes());
    for (i, &(off, len, w, h)) in index.iter().enumerate() {
        let label = list.entries[i].label;
        let base = list.name(i).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let name = format!("{}/{base}", list.classes[label as usize]);
        for v in [off, len] {
            tail.extend_from_slice(&v.to_le_bytes());
        }
        for v in [w, h, label] {
            tail.extend_from_slice(&v.to_le_bytes());
        }
        tail.extend_from_slice(&(name.len() as u16).to_le_bytes());
        tail.extend_from_slice(name.as_bytes());
    }
    file.write_all(&tail).at(tmp)?;
    let mut file = file.into_inner().map_err(|e| Error::io(tmp, e.into_error()))?;
    file.seek(SeekFrom::Start(MAGIC.len() as u64)).and_then(|_| file.write_all(&offset.to_le_bytes())).at(tmp)?;
    file.sync_all().at(tmp)?;
    Ok(offset + tail.len() as u64)
}

/// Decode image `i`, shrink it to the short side, encode it.
fn prepare(list: &ImageList, opts: &PackOptions, i: usize, w: &mut PackWorker, out: &mut Prepared) -> Result<()> {
    let (width, height) = match w.reader.read(list, i)? {
        Pixels::Encoded => decode_rgb(&w.reader.bytes, &list.name(i), &mut w.rgb)?,
        Pixels::Rgb { width, height } => {
            std::mem::swap(&mut w.rgb, &mut w.reader.bytes);
            (width as usize, height as usize)
        }
    };
    let spec = shrink_to_short_side(width, height, opts.short_side);
    let (pixels, ow, oh) = match spec {
        Some(s) => {
            w.small.resize(s.out_width * s.out_height * 3, 0);
            w.resampler.resize(&w.rgb, width, 3, &s, &mut w.small);
            (&w.small, s.out_width, s.out_height)
        }
        None => (&w.rgb, width, height),
    };
    out.bytes.clear();
    match opts.encoding {
        PackEncoding::Raw => {
            out.bytes.extend_from_slice(pixels);
            (out.width, out.height) = (ow as u32, oh as u32);
        }
        PackEncoding::Jpeg { quality } => {
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out.bytes, quality);
            image::ImageEncoder::write_image(enc, pixels, ow as u32, oh as u32, image::ExtendedColorType::Rgb8)
                .map_err(|e| Error::data(list.name(i), format!("cannot re-encode as JPEG: {e}")))?;
            (out.width, out.height) = (0, 0);
        }
    }
    Ok(())
}

/// torchvision's Resize(short_side) when the short side is longer than that; None otherwise.
pub fn shrink_to_short_side(width: usize, height: usize, short_side: usize) -> Option<ResizeSpec> {
    let (short, long) = (width.min(height), width.max(height));
    if short <= short_side {
        return None;
    }
    let new_long = (short_side as f64 * long as f64 / short as f64) as usize;
    let (ow, oh) = if width <= height { (short_side, new_long) } else { (new_long, short_side) };
    Some(ResizeSpec {
        from: Rect::new(0, 0, width, height),
        out_width: ow,
        out_height: oh,
        window: Rect::new(0, 0, ow, oh),
    })
}

/// Whether `path` is a packed copy (by its first bytes).
pub(crate) fn is_packed(path: &Path) -> Result<bool> {
    let mut magic = [0u8; 8];
    let mut f = std::fs::File::open(path).at(path)?;
    let got = f.read(&mut magic).at(path)?;
    Ok(got == 8 && &magic == MAGIC)
}

/// A packed copy's classes and the members its index lists (reads the index only, not the images).
pub(crate) fn read_index(path: &Path) -> Result<(Vec<String>, Vec<PackedMember>)> {
    let bad = |what: &str| Error::data(path, format!("is not a complete packed copy ({what}); write it again"));
    let mut file = std::fs::File::open(path).at(path)?;
    let file_len = file.metadata().at(path)?.len();
    let mut head = [0u8; 16];
    file.read_exact(&mut head).map_err(|_| bad("no index offset"))?;
    let index_at = u64::from_le_bytes(head[8..].try_into().expect("8 bytes"));
    if index_at < 16 || index_at > file_len {
        return Err(bad("index offset out of range"));
    }
    let mut bytes = Vec::with_capacity((file_len - index_at) as usize);
    file.seek(SeekFrom::Start(index_at)).and_then(|_| file.read_to_end(&mut bytes)).at(path)?;
    let mut r = ByteReader { bytes: &bytes, pos: 0 };
    let json_len = r.u32().ok_or_else(|| bad("truncated index"))? as usize;
    let json = r.take(json_len).ok_or_else(|| bad("truncated header"))?;
    let header: Header = serde_json::from_slice(json).map_err(|e| bad(&format!("header: {e}")))?;
    let count = r.u64().ok_or_else(|| bad("truncated index"))? as usize;
    let mut members = Vec::with_capacity(count.min(bytes.len() / 30));
    for _ in 0..count {
        members.push(read_member(&mut r, &header, index_at).ok_or_else(|| bad("truncated or inconsistent index"))?);
    }
    Ok((header.classes, members))
}

fn read_member(r: &mut ByteReader, header: &Header, index_at: u64) -> Option<PackedMember> {
    let (offset, len) = (r.u64()?, r.u64()?);
    let (width, height, label) = (r.u32()?, r.u32()?, r.u32()?);
    let name_len = u16::from_le_bytes(r.take(2)?.try_into().ok()?) as usize;
    let name = String::from_utf8(r.take(name_len)?.to_vec()).ok()?;
    let class = header.classes.get(label as usize)?;
    let file = name.rsplit('/').next()?.to_string();
    if offset.checked_add(len)? > index_at {
        return None;
    }
    let pixels = match header.encoding {
        PackEncoding::Raw if len == width as u64 * height as u64 * 3 => Pixels::Rgb { width, height },
        PackEncoding::Raw => return None,
        PackEncoding::Jpeg { .. } => Pixels::Encoded,
    };
    Some(PackedMember { rel: vec![class.clone(), file], name, offset, len, pixels })
}

struct ByteReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}
