//! Image folders: `ROOT/train/<class>/**/*.{png,jpg,jpeg}` and optionally `ROOT/test/<class>/...` (or
//! `ROOT/val/...`), from a directory or from an archive already read into memory. Classes are sorted by
//! name (label = index), files by path within a class. Decoding runs on worker threads.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{Dataset, DatasetKind, Splits};
use crate::error::IoContext;
use crate::{Error, Result};

/// Labels are bytes.
const MAX_CLASSES: usize = 256;
/// Images per unit of work handed to a decoding thread: small enough to balance, large enough that the
/// lock around the work queue is not contended.
const CHUNK: usize = 128;

/// A listed (not yet decoded) image folder.
pub(crate) struct Tree {
    pub root: PathBuf,
    pub classes: Vec<String>,
    pub train: Vec<Item>,
    /// ("test" or "val", its images)
    pub test: Option<(String, Vec<Item>)>,
    /// Changes when any listed file changes size or modification time (for the in-memory cache).
    pub fingerprint: u64,
}

pub(crate) struct Item {
    /// For messages; for an archive member, the archive path joined with the member's path.
    pub path: PathBuf,
    pub label: u8,
    /// The encoded file, when it came from an archive; otherwise it is read from `path` when decoded.
    pub bytes: Option<Vec<u8>>,
}

/// Ends in .png, .jpg or .jpeg (any case), and is not hidden (no leading '.', e.g. macOS "._x.jpg").
pub(crate) fn is_image_name(name: &str) -> bool {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let lower = base.to_ascii_lowercase();
    !base.starts_with('.') && [".png", ".jpg", ".jpeg"].iter().any(|e| lower.ends_with(e))
}

/// A class folder under train/ without images would be a class the model is never shown.
fn empty_class(dir: &Path) -> Error {
    Error::data(
        dir,
        "holds no .png/.jpg/.jpeg images: every folder under train/ is a class, and a class without training \
         images cannot be learned; remove the folder or add its images",
    )
}

fn too_many_classes(path: &Path, n: usize) -> Error {
    Error::data(path, format!("{n} classes; at most {MAX_CLASSES} are supported (labels are bytes)"))
}

/// List a directory tree.
pub(crate) fn list_dir(root: &Path) -> Result<Tree> {
    let train_dir = root.join("train");
    let classes = subdirs(&train_dir)?;
    if classes.is_empty() {
        return Err(Error::data(&train_dir, "holds no class folders (expected train/<class>/*.png|jpg)"));
    }
    if classes.len() > MAX_CLASSES {
        return Err(too_many_classes(&train_dir, classes.len()));
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let train = list_split(&train_dir, &classes, &mut hasher)?;
    if let Some(empty) = (0..classes.len()).find(|&c| !train.iter().any(|it| it.label as usize == c)) {
        return Err(empty_class(&train_dir.join(&classes[empty])));
    }
    let mut test = None;
    for name in ["test", "val"] {
        let dir = root.join(name);
        if dir.is_dir() {
            for c in subdirs(&dir)? {
                if !classes.contains(&c) {
                    return Err(Error::data(dir.join(&c), "is not one of the classes under train/"));
                }
            }
            test = Some((name.to_string(), list_split(&dir, &classes, &mut hasher)?));
            break;
        }
    }
    Ok(Tree { root: root.to_path_buf(), classes, train, test, fingerprint: hasher.finish() })
}

/// Sorted names of the non-hidden subfolders of `dir`.
fn subdirs(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir).at(dir)? {
        let e = e.at(dir)?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && e.path().is_dir() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// The images of every class folder of `split_dir` that exists, class by class, sorted by path.
fn list_split(split_dir: &Path, classes: &[String], hasher: &mut impl Hasher) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let dir = split_dir.join(class);
        if !dir.is_dir() {
            continue;
        }
        let mut files = Vec::new();
        walk(&dir, &mut files)?;
        files.sort();
        for (path, len, modified) in files {
            (&path, len, modified).hash(hasher);
            items.push(Item { path, label: label as u8, bytes: None });
        }
    }
    Ok(items)
}

/// Image files under `dir`, recursively, with their size and modification time.
fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64, Option<std::time::SystemTime>)>) -> Result<()> {
    for e in std::fs::read_dir(dir).at(dir)? {
        let e = e.at(dir)?;
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        // Recurse into real folders only: a symlinked folder could loop forever.
        if e.file_type().at(&path)?.is_dir() {
            if !name.starts_with('.') {
                walk(&path, out)?;
            }
        } else if is_image_name(&name) {
            let meta = std::fs::metadata(&path).at(&path)?;
            if meta.is_file() {
                out.push((path, meta.len(), meta.modified().ok()));
            }
        }
    }
    Ok(())
}

/// Build the tree from an archive's image members ('/'-separated inner paths). The tree may sit under
/// a top folder (`cifar10/train/...`): the root is whatever precedes the first `train/<class>/<file>`.
/// `listed`: every member's path (folders end in '/'), to refuse class folders without images.
pub(crate) fn tree_from_archive(archive: &Path, images: Vec<(String, Vec<u8>)>, listed: &[String]) -> Result<Tree> {
    let root = images.iter().find_map(|(inner, _)| {
        let comps: Vec<&str> = inner.split('/').collect();
        let i = comps.iter().position(|&c| c == "train")?;
        (comps.len() >= i + 3).then(|| comps[..i].iter().map(|c| format!("{c}/")).collect::<String>())
    });
    let Some(root) = root else {
        return Err(Error::data(
            archive,
            "holds no train/<class>/<image> members (an image-folder archive holds ROOT/train/<class>/*.png|jpg, \
             optionally ROOT/test/ or ROOT/val/)",
        ));
    };
    // (split, class, path inside the split, bytes) of every member under the root.
    let mut members = Vec::new();
    for (inner, bytes) in images {
        let Some(rest) = inner.strip_prefix(root.as_str()) else { continue };
        let mut parts = rest.splitn(3, '/');
        let (Some(split), Some(class), Some(file)) = (parts.next(), parts.next(), parts.next()) else { continue };
        if ["train", "test", "val"].contains(&split) {
            members.push((split.to_string(), class.to_string(), file.to_string(), inner.clone(), bytes));
        }
    }
    let classes: Vec<String> =
        members.iter().filter(|m| m.0 == "train").map(|m| m.1.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let train_prefix = format!("{root}train/");
    for inner in listed {
        let Some(class) = inner.strip_prefix(&train_prefix).and_then(|rest| rest.split('/').next()) else { continue };
        let in_class_folder = inner.len() > train_prefix.len() + class.len();
        if in_class_folder && !class.is_empty() && !class.starts_with('.') && !classes.iter().any(|c| c == class) {
            return Err(empty_class(&archive.join(format!("{train_prefix}{class}"))));
        }
    }
    if classes.len() > MAX_CLASSES {
        return Err(too_many_classes(archive, classes.len()));
    }
    let test_split = ["test", "val"].into_iter().find(|s| members.iter().any(|m| m.0 == *s));
    if let Some(s) = test_split {
        if let Some(m) = members.iter().find(|m| m.0 == s && !classes.contains(&m.1)) {
            return Err(Error::data(
                archive.join(&m.3),
                format!("class '{}' is not one of the classes under train/", m.1),
            ));
        }
    }
    members.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    let mut train = Vec::new();
    let mut test = Vec::new();
    for (split, class, _, inner, bytes) in members {
        let label = classes.binary_search(&class).unwrap_or_default() as u8;
        let item = Item { path: archive.join(&inner), label, bytes: Some(bytes) };
        if split == "train" {
            train.push(item);
        } else if Some(split.as_str()) == test_split {
            test.push(item);
        }
    }
    let root_path = if root.is_empty() { archive.to_path_buf() } else { archive.join(root.trim_end_matches('/')) };
    Ok(Tree { root: root_path, classes, train, test: test_split.map(|s| (s.to_string(), test)), fingerprint: 0 })
}

/// One decoded image: grey (1 channel) or RGB (3), alpha dropped.
struct Decoded {
    width: u32,
    height: u32,
    grey: bool,
    pixels: Vec<u8>,
}

fn decode_item(item: &Item) -> Result<Decoded> {
    let read;
    let bytes = match &item.bytes {
        Some(b) => b.as_slice(),
        None => {
            read = std::fs::read(&item.path).at(&item.path)?;
            read.as_slice()
        }
    };
    // A decoder bug on a hostile file must become an error, not a crash of the trainer.
    let decoded = std::panic::catch_unwind(|| image::load_from_memory(bytes));
    let img = match decoded {
        Ok(Ok(img)) => img,
        Ok(Err(e)) => return Err(Error::data(&item.path, format!("cannot decode the image: {e}"))),
        Err(_) => return Err(Error::data(&item.path, "the image decoder crashed on this file")),
    };
    use image::ColorType::*;
    let grey = matches!(img.color(), L8 | La8 | L16 | La16);
    let (width, height) = (img.width(), img.height());
    let pixels = if grey { img.into_luma8().into_raw() } else { img.into_rgb8().into_raw() };
    Ok(Decoded { width, height, grey, pixels })
}

/// Decode every item on `std::thread::available_parallelism()` threads, results in item order. Plain
/// scoped threads over a shared queue of chunks are enough here; rayon would add a dependency for one loop.
fn decode_all(items: &[&Item]) -> Vec<Result<Decoded>> {
    let mut results: Vec<Option<Result<Decoded>>> = (0..items.len()).map(|_| None).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(items.len().div_ceil(CHUNK)).max(1);
    let queue = Mutex::new(items.chunks(CHUNK).zip(results.chunks_mut(CHUNK)));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                let Some((chunk, out)) = next else { break };
                for (item, slot) in chunk.iter().zip(out) {
                    *slot = Some(decode_item(item));
                }
            });
        }
    });
    results.into_iter().map(|r| r.expect("every chunk is decoded before the scope ends")).collect()
}

/// Decode a listed tree into train (and test) datasets.
pub(crate) fn decode_tree(tree: Tree) -> Result<Splits> {
    let test_items = tree.test.as_ref().map_or(&[][..], |(_, t)| t.as_slice());
    if tree.train.is_empty() {
        return Err(Error::data(tree.root.join("train"), "holds no .png/.jpg/.jpeg images"));
    }
    let all: Vec<&Item> = tree.train.iter().chain(test_items).collect();
    let decoded = decode_all(&all);
    let mut images = Vec::with_capacity(decoded.len());
    for r in decoded {
        images.push(r?);
    }
    let first = &images[0];
    let (w, h) = (first.width, first.height);
    if let Some(i) = images.iter().position(|d| (d.width, d.height) != (w, h)) {
        return Err(Error::data(
            &all[i].path,
            format!(
                "is {}x{} but {} is {w}x{h}: all images must share one size (width x height)",
                images[i].width,
                images[i].height,
                all[0].path.display()
            ),
        ));
    }
    let channels = if images.iter().all(|d| d.grey) { 1 } else { 3 };
    let (train_imgs, test_imgs) = images.split_at(tree.train.len());
    let build = |decoded: &[Decoded], items: &[Item], source: PathBuf| {
        let mut bytes = Vec::with_capacity(decoded.len() * (w * h) as usize * channels);
        for d in decoded {
            if d.grey && channels == 3 {
                bytes.extend(d.pixels.iter().flat_map(|&v| [v, v, v]));
            } else {
                bytes.extend_from_slice(&d.pixels);
            }
        }
        Dataset {
            images: bytes,
            labels: items.iter().map(|it| it.label).collect(),
            height: h as usize,
            width: w as usize,
            channels,
            classes: tree.classes.clone(),
            source: source.display().to_string(),
        }
    };
    let train = build(train_imgs, &tree.train, tree.root.join("train"));
    let test = tree.test.as_ref().map(|(name, items)| build(test_imgs, items, tree.root.join(name)));
    Ok(Splits { train, test, kind: DatasetKind::ImageFolder, origin: tree.root.clone() })
}
