//! Where a named dataset lives: the places searched, in order, and what each may hold.

use std::path::{Path, PathBuf};

use super::{archive, cifar, idx, DatasetKind};
use crate::{Error, Result};

/// A place that holds a dataset, and in which layout.
#[derive(Debug)]
pub(crate) enum Place {
    /// A folder with train-images-idx3-ubyte (any accepted spelling, gzipped or not).
    Idx(PathBuf),
    /// A folder with CIFAR-10 data_batch_1.bin.
    CifarBinary(PathBuf),
    /// A folder with train/<class>/ image files.
    Folder(PathBuf),
    /// A tar, tar.gz or tar.xz file of CIFAR-10 batches or of an image folder.
    Archive(PathBuf),
}

/// The places searched for `kind` when `--data` does not say where it is, each with why it is searched
/// (for the not-found message).
pub(crate) fn search_places(kind: DatasetKind) -> Vec<(PathBuf, String)> {
    let name = kind.name();
    let mut places = Vec::new();
    let mut root_and_named = |root: &Path, why: &str| {
        places.push((root.to_path_buf(), why.to_string()));
        places.push((root.join(name), why.to_string()));
    };
    if let Some(env) = std::env::var_os("LAYERWISE_DATA").filter(|v| !v.is_empty()) {
        root_and_named(Path::new(&env), "env LAYERWISE_DATA");
    }
    // Written ./data/<name> so that messages show it is relative to the current folder.
    places.push((Path::new(".").join("data").join(name), "./data".to_string()));
    if let Some(cache) = dirs::cache_dir() {
        places.push((cache.join("layerwise").join(name), "user cache".to_string()));
    }
    if kind == DatasetKind::FashionMnist {
        places
            .push((PathBuf::from("/usr/share/datasets/fashion-mnist"), "Debian package dataset-fashion-mnist".into()));
    }
    places
}

/// Where `kind` is when the user said where it is (`--data PATH`): PATH itself or PATH/<name>, nowhere
/// else, so a wrong path is an error instead of a silent fall back to another copy of the dataset.
pub(crate) fn find_at(kind: DatasetKind, root: &Path) -> Result<Place> {
    let mut searched = Vec::new();
    for path in [root.to_path_buf(), root.join(kind.name())] {
        match probe(kind, &path) {
            Ok(place) => return Ok(place),
            Err(what) => searched.push(format!("  {}: {what}", path.display())),
        }
    }
    let holds = match detect(root) {
        Ok(Place::Idx(_)) => " It holds IDX files (MNIST or Fashion-MNIST).".to_string(),
        Ok(Place::CifarBinary(_)) => " It holds CIFAR-10 binary batches.".to_string(),
        Ok(Place::Folder(_)) => " It holds an image folder (train/<class>/).".to_string(),
        Ok(Place::Archive(_)) => " It is a dataset archive.".to_string(),
        Err(_) => String::new(),
    };
    Err(Error::data(
        root,
        format!(
            "--data does not hold {}.{holds} Looked at:\n{}\nPoint --data at the {} files, or choose the dataset that is there (--set dataset=NAME or a path).",
            kind.name(),
            searched.join("\n"),
            kind.name()
        ),
    ))
}

/// The first place that holds `kind`, or an error listing every place searched and how to get it.
pub(crate) fn find(kind: DatasetKind, data_dir: Option<&Path>) -> Result<Place> {
    if let Some(root) = data_dir {
        return find_at(kind, root);
    }
    let places = search_places(kind);
    let mut searched = Vec::new();
    for (path, why) in &places {
        match probe(kind, path) {
            Ok(place) => return Ok(place),
            Err(what) => searched.push(format!("  {} ({why}): {what}", path.display())),
        }
    }
    let how = match kind {
        DatasetKind::FashionMnist => format!(
            "`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or `layerwise data fetch fashion-mnist` \
             (downloads into {})",
            fetch_dir_hint(kind)
        ),
        _ => format!("`layerwise data fetch {}` (downloads into {})", kind.name(), fetch_dir_hint(kind)),
    };
    let holds = match kind {
        DatasetKind::Cifar10 => {
            "CIFAR-10 binary batches (data_batch_1.bin ...), an image folder train/<class>/, \
                                 or a .tar/.tar.gz/.tar.xz archive of either"
        }
        _ => "IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-* (optionally .gz)",
    };
    Err(Error::data(
        kind.name(),
        format!(
            "dataset not found. A place must hold {holds}. Searched, in order:\n{}\nGet it with {how}, \
             or pass --data PATH.",
            searched.join("\n")
        ),
    ))
}

fn fetch_dir_hint(kind: DatasetKind) -> String {
    match super::default_fetch_dir(kind.name()) {
        Ok(p) => p.display().to_string(),
        Err(_) => "the user cache".to_string(),
    }
}

impl Place {
    /// The folder or archive.
    pub(crate) fn path(&self) -> &Path {
        match self {
            Place::Idx(p) | Place::CifarBinary(p) | Place::Folder(p) | Place::Archive(p) => p,
        }
    }
}

/// What `path` holds for `kind`, or (as the error) a short note on why it does not qualify.
fn probe(kind: DatasetKind, path: &Path) -> std::result::Result<Place, String> {
    if path.is_file() {
        return if archive::is_archive_name(path) && kind == DatasetKind::Cifar10 {
            Ok(Place::Archive(path.to_path_buf()))
        } else {
            Err("a file, not a dataset folder".into())
        };
    }
    if !path.is_dir() {
        return Err("absent".into());
    }
    match kind {
        DatasetKind::FashionMnist | DatasetKind::Mnist => {
            if idx::has_train_images(path) {
                Ok(Place::Idx(path.to_path_buf()))
            } else {
                Err("no train-images-idx3-ubyte[.gz]".into())
            }
        }
        DatasetKind::Cifar10 | DatasetKind::ImageFolder => probe_cifar(path),
    }
}

fn probe_cifar(dir: &Path) -> std::result::Result<Place, String> {
    for d in [dir.to_path_buf(), dir.join("cifar-10-batches-bin")] {
        if cifar::has_batches(&d) {
            return Ok(Place::CifarBinary(d));
        }
    }
    if dir.join("train").is_dir() {
        return Ok(Place::Folder(dir.to_path_buf()));
    }
    match archives_in(dir).into_iter().next() {
        Some(a) => Ok(Place::Archive(a)),
        None => Err("no data_batch_1.bin, train/ folder or .tar/.tar.gz/.tar.xz archive".into()),
    }
}

/// Archives in `dir`, the official binary one first (exact bytes beat re-encoded JPEGs), then by name.
fn archives_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<PathBuf> =
        rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file() && archive::is_archive_name(p)).collect();
    found.sort_by_key(|p| (p.file_name().is_none_or(|n| n != cifar::OFFICIAL_ARCHIVE), p.clone()));
    found
}

/// What an explicit path holds, whatever the dataset.
pub(crate) fn detect(path: &Path) -> Result<Place> {
    if path.is_file() {
        if archive::is_archive_name(path) {
            return Ok(Place::Archive(path.to_path_buf()));
        }
        return Err(Error::data(
            path,
            "not a dataset: expected a folder, or a .tar, .tar.gz (.tgz) or .tar.xz (.txz) archive",
        ));
    }
    if idx::has_train_images(path) {
        return Ok(Place::Idx(path.to_path_buf()));
    }
    probe_cifar(path).map_err(|_| {
        Error::data(
            path,
            "holds no dataset: expected IDX files (train-images-idx3-ubyte[.gz], ...), CIFAR-10 binary batches \
             (data_batch_1.bin, ...), an image folder (train/<class>/*.png|jpg, optional test/ or val/), or a \
             .tar/.tar.gz/.tar.xz archive of one",
        )
    })
}
