//! Datasets as whole arrays of bytes in memory: every image HWC (channels last) u8, one label byte each.
//!
//! Formats: MNIST / Fashion-MNIST IDX files (plain or gzipped), CIFAR-10 binary batches, and image
//! folders (`ROOT/train/<class>/*.png|jpg`, optional `ROOT/test` or `ROOT/val`) given as a directory or
//! as a `.tar`, `.tar.gz` or `.tar.xz` archive. `load` finds a named dataset in the usual places
//! (see [`load`]); `fetch` downloads the official files.

mod archive;
mod cifar;
mod fetch;
mod folder;
mod idx;
mod locate;
mod progress;
mod record;
pub mod stream;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::{Error, Result};

pub use fetch::{default_fetch_dir, fetch, fetch_files, unpack_cifar10_binary, RemoteFile};
pub use record::DataRecord;

/// One split: `images` holds `len()` images of `height * width * channels` bytes each, HWC, back to back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    /// [N, H, W, C] u8
    pub images: Vec<u8>,
    /// [N], each < classes.len()
    pub labels: Vec<u8>,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    /// Label i is `classes[i]`.
    pub classes: Vec<String>,
    /// Human-readable origin (a path, possibly with a note such as "[last 5000]").
    pub source: String,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image: height * width * channels.
    pub fn image_len(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// Image `i` as [H, W, C] bytes. Panics when `i >= len()` (a programmer error).
    pub fn image(&self, i: usize) -> &[u8] {
        assert!(i < self.len(), "image {i} of a dataset with {} images", self.len());
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
    }

    /// The images at `idx`, in that order (repeats allowed). Panics on an index out of range.
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        let n = self.image_len();
        let mut images = Vec::with_capacity(idx.len() * n);
        let mut labels = Vec::with_capacity(idx.len());
        for &i in idx {
            images.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Dataset { images, labels, source: format!("{} [subset of {}]", self.source, idx.len()), ..self.empty_like() }
    }

    /// Split into (the first `len() - n`, the last `n`) images, e.g. to hold out a validation set.
    /// `n` usually comes from the user, so too large an `n` is an `Error::Usage`, not a panic.
    pub fn split_off_last(mut self, n: usize) -> Result<(Dataset, Dataset)> {
        if n > self.len() {
            return Err(Error::usage(format!(
                "cannot hold out {n} images from {} ({} images)",
                self.source,
                self.len()
            )));
        }
        let keep = self.len() - n;
        let images = self.images.split_off(keep * self.image_len());
        let labels = self.labels.split_off(keep);
        let last = Dataset { images, labels, source: format!("{} [last {n}]", self.source), ..self.empty_like() };
        self.source = format!("{} [first {keep}]", self.source);
        Ok((self, last))
    }

    fn empty_like(&self) -> Dataset {
        Dataset {
            images: Vec::new(),
            labels: Vec::new(),
            height: self.height,
            width: self.width,
            channels: self.channels,
            classes: self.classes.clone(),
            source: self.source.clone(),
        }
    }
}

/// A dataset's splits. `test` is None where the source has no test split (then hold one out of `train`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Splits {
    pub train: Dataset,
    pub test: Option<Dataset>,
    pub kind: DatasetKind,
    /// The folder or archive the splits were read from (as found, not canonicalised).
    pub origin: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DatasetKind {
    FashionMnist,
    Mnist,
    Cifar10,
    ImageFolder,
}

impl DatasetKind {
    /// The name `load` and `fetch` accept (`image-folder` is not one: give a path).
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Mnist => "mnist",
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::ImageFolder => "image-folder",
        }
    }

    /// The named datasets: "fashion-mnist", "mnist", "cifar10" (and a few obvious spellings).
    pub fn from_name(name: &str) -> Option<DatasetKind> {
        match name.to_ascii_lowercase().as_str() {
            "fashion-mnist" | "fashion_mnist" | "fashionmnist" => Some(DatasetKind::FashionMnist),
            "mnist" => Some(DatasetKind::Mnist),
            "cifar10" | "cifar-10" => Some(DatasetKind::Cifar10),
            _ => None,
        }
    }

    /// Class names of the named datasets, in label order.
    pub fn class_names(self) -> Vec<String> {
        let names: &[&str] = match self {
            DatasetKind::FashionMnist => &[
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
            DatasetKind::Mnist => &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            DatasetKind::Cifar10 => &cifar::CLASSES,
            DatasetKind::ImageFolder => &[],
        };
        names.iter().map(|s| s.to_string()).collect()
    }
}

/// Load a dataset. `spec` is "fashion-mnist" (the default dataset), "mnist", "cifar10", or a path to
/// a folder of IDX files, a folder of CIFAR-10 binary batches, an image folder, or an archive
/// (.tar, .tar.gz, .tar.xz) of CIFAR-10 batches or of an image folder.
///
/// `data_dir` (`--data`) says where the dataset is, and is never passed over: a named dataset must be
/// in `data_dir` itself or in `data_dir/<name>`, a relative path spec is taken relative to it, and an
/// absolute path spec is refused with it (the two would disagree). Without it, a named dataset is
/// searched in this order, and a missing one is reported with every place searched and how to get it:
/// env LAYERWISE_DATA (and `$LAYERWISE_DATA/<name>`), `./data/<name>`, the user cache
/// (`$XDG_CACHE_HOME/layerwise/<name>` or `~/.cache/layerwise/<name>`; the platform's cache dir on macOS
/// and Windows), and for Fashion-MNIST `/usr/share/datasets/fashion-mnist` (Debian package
/// `dataset-fashion-mnist`). For cifar10 a place may hold the binary batches (also in a
/// `cifar-10-batches-bin` subfolder), an image tree `train/<class>/...`, or an archive of either.
///
/// Decoded image folders are cached in memory for the life of the process (keyed by path, sizes and
/// modification times), so loading the same one again costs a copy, not a decode.
pub fn load(spec: &str, data_dir: Option<&Path>) -> Result<Splits> {
    if let Some(kind) = DatasetKind::from_name(spec) {
        let place = locate::find(kind, data_dir)?;
        return load_place(&place, Some(kind));
    }
    let path = spec_path(spec, data_dir)?;
    if !path.exists() {
        return Err(Error::usage(format!(
            "unknown dataset '{spec}': expected fashion-mnist, mnist, cifar10, or the path of a folder of IDX \
             files, of CIFAR-10 binary batches, of an image folder (ROOT/train/<class>/*.png|jpg), or of a \
             .tar/.tar.gz/.tar.xz archive of one (no such file or folder: {})",
            path.display()
        )));
    }
    let place = locate::detect(&path)?;
    load_place(&place, None)
}

/// The config's dataset `spec` taken as a path: relative to `data_dir` (`--data`) when given; an absolute
/// path with `--data` is refused (the two would disagree).
pub fn spec_path(spec: &str, data_dir: Option<&Path>) -> Result<PathBuf> {
    match data_dir {
        Some(d) if Path::new(spec).is_absolute() => Err(Error::usage(format!(
            "the config's dataset is the path {spec}, and --data {} names another place: drop --data, or set \
             the dataset to a name or to a path relative to --data",
            d.display()
        ))),
        Some(d) => Ok(d.join(spec)),
        None => Ok(PathBuf::from(spec)),
    }
}

/// Canonical path -> (fingerprint of the files, what they decoded to). One entry per path, so a
/// folder that changed replaces its stale entry instead of adding to it.
type CacheMap = HashMap<PathBuf, (u64, Splits)>;

fn cache() -> &'static Mutex<CacheMap> {
    static CACHE: std::sync::OnceLock<Mutex<CacheMap>> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// `named`: the dataset the caller asked for by name; a folder or archive found under that name is
/// that dataset whatever its layout (the CIFAR-10 JPEG tree is Cifar10, not ImageFolder).
fn load_place(place: &locate::Place, named: Option<DatasetKind>) -> Result<Splits> {
    let mut splits = load_place_as_found(place, named)?;
    if let Some(kind) = named {
        splits.kind = kind;
    }
    splits.origin = place.path().to_path_buf();
    Ok(splits)
}

fn load_place_as_found(place: &locate::Place, named: Option<DatasetKind>) -> Result<Splits> {
    match place {
        locate::Place::Idx(dir) => {
            let kind = named.unwrap_or_else(|| idx_kind(dir));
            let (train, test) = idx::load_dir(dir, kind.class_names())?;
            Ok(Splits { train, test, kind, origin: PathBuf::new() })
        }
        locate::Place::CifarBinary(dir) => {
            let (train, test) = cifar::load_dir(dir)?;
            Ok(Splits { train, test, kind: DatasetKind::Cifar10, origin: PathBuf::new() })
        }
        locate::Place::Folder(root) => {
            let tree = folder::list_dir(root)?;
            cached(root, tree.fingerprint, || folder::decode_tree(tree))
        }
        locate::Place::Archive(file) => {
            let fingerprint = archive::fingerprint(file)?;
            cached(file, fingerprint, || match archive::read_tree(file)? {
                archive::Contents::CifarBinary(members) => {
                    let (train, test) = cifar::load_members(file, &members)?;
                    Ok(Splits { train, test, kind: DatasetKind::Cifar10, origin: PathBuf::new() })
                }
                archive::Contents::Images(tree) => folder::decode_tree(tree),
            })
        }
    }
}

fn cached(path: &Path, fingerprint: u64, decode: impl FnOnce() -> Result<Splits>) -> Result<Splits> {
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if let Some((f, s)) = cache().lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        if *f == fingerprint {
            return Ok(s.clone());
        }
    }
    // Decode outside the lock: two threads may both decode the same folder once, which is harmless.
    let splits = decode()?;
    cache().lock().unwrap_or_else(|e| e.into_inner()).insert(key, (fingerprint, splits.clone()));
    Ok(splits)
}

/// IDX files do not say which dataset they are; a path naming "fashion" is taken as Fashion-MNIST
/// (the class names are the only difference that matters here).
fn idx_kind(dir: &Path) -> DatasetKind {
    let p = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    if p.to_string_lossy().to_ascii_lowercase().contains("fashion") {
        DatasetKind::FashionMnist
    } else {
        DatasetKind::Mnist
    }
}
