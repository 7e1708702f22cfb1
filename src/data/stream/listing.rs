//! Listing one split's images from folders, `.tar` shards or packed copies, with labels from class
//! folders or from a label file. Listing reads names and tar headers only, never pixels.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::tar_index;
use super::{Entry, ImageList, Location, Pixels};
use crate::data::folder::is_image_name;
use crate::error::IoContext;
use crate::{Error, Result};

/// The start of the error for inputs without images.
const NO_IMAGES: &str = "holds no .jpg/.jpeg/.png images";

/// How to find one split's images in the inputs given to [`ImageList::open`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Keep only images below a folder of this name (e.g. "train", "val") and read the class from the
    /// folder after it (a folder input that has this subfolder is read from there). None: paths are
    /// taken relative to each input, so the first folder is the class.
    pub split: Option<String>,
    /// Labels of a flat folder or tar (ImageNet's validation images): `LOC_val_solution.csv`
    /// (`ImageId,PredictionString`, the first word of the prediction string is the wnid), or a text file
    /// of `<file name> <class name or class index>` lines (e.g. Caffe's `val.txt`, whose indices are
    /// positions in the sorted wnids). Images are matched by file name without folders or extension.
    pub labels: Option<PathBuf>,
    /// The class list, label i = `classes[i]` (give the training split's to a validation split). None:
    /// the sorted class names found.
    pub classes: Option<Vec<String>>,
    /// Folder that keeps `.tar` shards' indexes between runs (e.g. the user cache), so a large shard's
    /// headers are read once; None: index at every listing.
    pub index_cache: Option<PathBuf>,
}

/// An image found in an input, before labelling.
struct Found {
    /// Path components relative to the input (an inner tar standing for a folder).
    rel: Vec<String>,
    location: Location,
}

impl ImageList {
    /// List the images of `inputs` (folders and/or `.tar` shards). Images are sorted by (label, path).
    pub fn open(inputs: &[PathBuf], opts: &ListOptions) -> Result<ImageList> {
        let mut found = Vec::new();
        let mut containers = Vec::new();
        let mut packed_classes = None;
        for input in inputs {
            if let Some(c) = find_images(input, opts, &mut containers, &mut found)? {
                packed_classes = Some(c);
            }
        }
        let source = inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
        if found.is_empty() {
            let under = opts.split.as_ref().map_or(String::new(), |s| format!(" under a '{s}' folder"));
            return Err(Error::data(&source, format!("{NO_IMAGES}{under}")));
        }
        let labels = match &opts.labels {
            Some(file) => Some(LabelFile::read(file)?),
            None => None,
        };
        let classes = match (&opts.classes, &labels) {
            (Some(c), _) => c.clone(),
            (None, _) if packed_classes.is_some() => packed_classes.unwrap_or_default(),
            (None, Some(l)) => l.class_names(&source)?,
            (None, None) => {
                found.iter().filter_map(|f| class_folder(&f.rel)).collect::<BTreeSet<_>>().into_iter().collect()
            }
        };
        let class_index: HashMap<&str, u32> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i as u32)).collect();
        let mut labelled = Vec::with_capacity(found.len());
        for f in found {
            let name = f.rel.join("/");
            let class = match &labels {
                Some(l) => l.class_of(&f.rel, &classes)?,
                None => class_folder(&f.rel).ok_or_else(|| {
                    Error::data(
                        input_name(&containers, &f.location),
                        "is not in a class folder: give the labels of a flat folder or tar (ListOptions::labels: \
                         LOC_val_solution.csv or a `name label` text file)",
                    )
                })?,
            };
            let Some(&label) = class_index.get(class.as_str()) else {
                return Err(Error::data(
                    input_name(&containers, &f.location),
                    format!("class '{class}' is not one of the {} classes", classes.len()),
                ));
            };
            labelled.push((label, name, f.location));
        }
        labelled.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let entries = labelled.into_iter().map(|(label, _, location)| Entry { label, location }).collect();
        Ok(ImageList { classes, entries, containers, source })
    }
}

/// The class folder of an image at `rel` (its first component), if it has one.
fn class_folder(rel: &[String]) -> Option<String> {
    (rel.len() >= 2).then(|| rel[0].clone())
}

fn input_name(containers: &[PathBuf], location: &Location) -> PathBuf {
    match location {
        Location::File(p) => p.clone(),
        Location::Member { container, name, .. } => containers[*container as usize].join(&**name),
    }
}

/// Append the images of one input (a folder, a `.tar` shard or a packed copy) to `found`; returns the
/// class list of a packed copy (one split, whatever `split` says).
fn find_images(
    input: &Path,
    opts: &ListOptions,
    containers: &mut Vec<PathBuf>,
    found: &mut Vec<Found>,
) -> Result<Option<Vec<String>>> {
    let split = opts.split.as_deref();
    let meta = std::fs::metadata(input).at(input)?;
    if meta.is_dir() {
        let (dir, split) = match split {
            Some(s) if input.join(s).is_dir() => (input.join(s), None),
            _ => (input.to_path_buf(), split),
        };
        let mut files = Vec::new();
        walk(&dir, &mut Vec::new(), &mut files)?;
        for (rel, path) in files {
            if let Some(rel) = below_split(rel, split) {
                found.push(Found { rel, location: Location::File(path) });
            }
        }
        return Ok(None);
    }
    let container = containers.len() as u32;
    containers.push(input.to_path_buf());
    if super::packed::is_packed(input)? {
        let (classes, members) = super::packed::read_index(input)?;
        for m in members {
            let (offset, len, name, pixels) = (m.offset, m.len, m.name.into(), m.pixels);
            found.push(Found { rel: m.rel, location: Location::Member { container, offset, len, name, pixels } });
        }
        return Ok(Some(classes));
    }
    for m in tar_index::members(input, opts.index_cache.as_deref())? {
        if let Some(rel) = below_split(m.rel, split) {
            let (offset, len, name) = (m.offset, m.len, m.name.into());
            let location = Location::Member { container, offset, len, name, pixels: Pixels::Encoded };
            found.push(Found { rel, location });
        }
    }
    Ok(None)
}

/// The part of `rel` after its first component equal to `split` (None when there is none), or all of it.
fn below_split(rel: Vec<String>, split: Option<&str>) -> Option<Vec<String>> {
    match split {
        None => Some(rel),
        Some(s) => rel.iter().position(|c| c == s).map(|i| rel[i + 1..].to_vec()),
    }
}

/// Image files under `dir` (sorted walk, hidden files and folders skipped), with their components
/// relative to the walk's start. Symlinked folders are not followed (a loop would never end).
fn walk(dir: &Path, prefix: &mut Vec<String>, out: &mut Vec<(Vec<String>, PathBuf)>) -> Result<()> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir).at(dir)? {
        let e = e.at(dir)?;
        names.push((e.file_name().to_string_lossy().into_owned(), e.file_type().at(e.path())?.is_dir()));
    }
    names.sort();
    for (name, is_dir) in names {
        if name.starts_with('.') {
            continue;
        }
        let path = dir.join(&name);
        if is_dir {
            prefix.push(name);
            walk(&path, prefix, out)?;
            prefix.pop();
        } else if is_image_name(&name) {
            let mut rel = prefix.clone();
            rel.push(name);
            out.push((rel, path));
        }
    }
    Ok(())
}

/// A label file: image name (file stem) -> class name or class index.
struct LabelFile {
    path: PathBuf,
    labels: HashMap<String, String>,
}

impl LabelFile {
    fn read(path: &Path) -> Result<LabelFile> {
        let text = std::fs::read_to_string(path).at(path)?;
        let mut labels = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || (n == 0 && line.starts_with("ImageId")) {
                continue;
            }
            let mut words = line.split(|c: char| c == ',' || c.is_whitespace()).filter(|w| !w.is_empty());
            let (Some(name), Some(label)) = (words.next(), words.next()) else {
                let hint = if line.parse::<u32>().is_ok() {
                    ": a bare number per line is the ILSVRC2012 devkit's ground truth, whose IDs need the devkit's \
                     meta.mat to map to wnids; use LOC_val_solution.csv, or a `name wnid` file"
                } else {
                    ""
                };
                return Err(Error::data(path, format!("line {}: expected `<image name> <label>`{hint}", n + 1)));
            };
            labels.insert(stem(name).to_string(), label.to_string());
        }
        Ok(LabelFile { path: path.to_path_buf(), labels })
    }

    /// The class names of a file that names them (sorted); a file of indices needs the class list.
    fn class_names(&self, source: &str) -> Result<Vec<String>> {
        if self.labels.values().any(|l| l.parse::<usize>().is_ok()) {
            return Err(Error::data(
                &self.path,
                format!("gives class indices, so listing {source} needs the class list (the training split's)"),
            ));
        }
        Ok(self.labels.values().cloned().collect::<BTreeSet<_>>().into_iter().collect())
    }

    fn class_of(&self, rel: &[String], classes: &[String]) -> Result<String> {
        let file = rel.last().map_or("", |s| s.as_str());
        let Some(label) = self.labels.get(stem(file)) else {
            return Err(Error::data(&self.path, format!("has no label for {}", rel.join("/"))));
        };
        match label.parse::<usize>() {
            Ok(i) if i < classes.len() => Ok(classes[i].clone()),
            Ok(i) => {
                Err(Error::data(&self.path, format!("label {i} of {file} is not below {} classes", classes.len())))
            }
            Err(_) => Ok(label.clone()),
        }
    }
}

/// A file name without folders and extension.
fn stem(name: &str) -> &str {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.rsplit_once('.').map_or(base, |(s, _)| s)
}

/// Where the CLI keeps tar indexes: `<user cache>/layerwise/tar-index` (None where the platform has none).
pub fn default_index_cache() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("layerwise").join("tar-index"))
}

/// ImageNet's usual layouts under `root`: training images in `train/` (a folder of `<wnid>/` folders, or
/// `train.tar` / `ILSVRC2012_img_train.tar`), validation images in `val/` (`<wnid>/` folders, or flat with
/// `LOC_val_solution.csv` in `root` or `val/`; also `val.tar` / `ILSVRC2012_img_val.tar`). `root` may also
/// be one `.tar` holding `train/<wnid>/...` and optionally `val/<wnid>/...`. Returns (train, val if any).
/// `index_cache`: see [`ListOptions::index_cache`].
pub fn imagenet_splits(root: &Path, index_cache: Option<&Path>) -> Result<(ImageList, Option<ImageList>)> {
    let index_cache = index_cache.map(Path::to_path_buf);
    if root.is_file() {
        let opts = ListOptions { split: Some("train".into()), index_cache: index_cache.clone(), ..Default::default() };
        let train = ImageList::open(&[root.to_path_buf()], &opts)?;
        let val_opts = ListOptions { split: Some("val".into()), classes: Some(train.classes.clone()), ..opts };
        return match ImageList::open(&[root.to_path_buf()], &val_opts) {
            Ok(val) => Ok((train, Some(val))),
            Err(Error::Data { msg, .. }) if msg.starts_with(NO_IMAGES) => Ok((train, None)),
            Err(e) => Err(e),
        };
    }
    let pick = |names: &[&str]| names.iter().map(|n| root.join(n)).find(|p| p.exists());
    let Some(train_input) = pick(&["train", "train.tar", "ILSVRC2012_img_train.tar"]) else {
        return Err(Error::data(root, "has no train/ folder, train.tar or ILSVRC2012_img_train.tar"));
    };
    let train =
        ImageList::open(&[train_input], &ListOptions { index_cache: index_cache.clone(), ..Default::default() })?;
    let Some(val_input) = pick(&["val", "val.tar", "ILSVRC2012_img_val.tar"]) else { return Ok((train, None)) };
    let labels =
        [root.join("LOC_val_solution.csv"), val_input.join("LOC_val_solution.csv")].into_iter().find(|p| p.is_file());
    let val_opts = ListOptions { labels, classes: Some(train.classes.clone()), index_cache, split: None };
    Ok((train, Some(ImageList::open(&[val_input], &val_opts)?)))
}
