//! The training and validation splits a config asks for: the dataset's test split or a fixed random
//! hold-out of its training images, each optionally cut to a fixed random subset for quick runs, checked
//! against the config before anything is built; and for a run that recorded its data, the same data
//! again (or a clear refusal).

use std::path::{Path, PathBuf};

use super::source::{stream_split, Split};
use crate::config::{Config, StreamConfig};
use crate::data::stream::{default_index_cache, imagenet_splits, ImageList, PipelineOptions};
use crate::data::{self, DataRecord, Dataset, DatasetKind, Splits};
use crate::error::{Error, Result};
use crate::rng::permutation;

/// Seed of the validation hold-out permutation (fixed: the split is part of the dataset, not the run).
pub const VAL_SPLIT_SEED: u64 = 0x5EED_0F5A;

/// The training and validation splits the config asks for, and what they were loaded from.
pub struct Data {
    pub train: Split,
    pub val: Split,
    pub val_name: String,
    /// The whole dataset as loaded (before any split or subset): where from, and its fingerprint.
    pub record: DataRecord,
}

/// What data is loaded for: training checks the training split against the config (batch size, replay
/// buffers); evaluation only builds the model from it and reads the validation split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Train,
    Evaluate,
}

/// The config's dataset, from `data_dir` (`--data`) when given (see `data::load`), split for training.
pub fn load_data(cfg: &Config, data_dir: Option<&Path>) -> Result<Data> {
    if let Some(s) = &cfg.stream {
        return stream_data(cfg, s, &dataset_path(&cfg.dataset, data_dir)?, Purpose::Train);
    }
    split(cfg, data::load(&cfg.dataset, data_dir)?, Purpose::Train)
}

/// The data of a run that recorded where it trained (`recorded`): from `data_dir` when given, else
/// from where the record says (never from another copy found elsewhere), for `purpose`. Whether it is
/// the same data is for `same_data` to say.
pub fn load_run_data(
    cfg: &Config,
    data_dir: Option<&Path>,
    recorded: Option<&DataRecord>,
    purpose: Purpose,
) -> Result<Data> {
    if let Some(s) = &cfg.stream {
        let path = match (data_dir, recorded) {
            (None, Some(r)) => r.path.clone(),
            _ => dataset_path(&cfg.dataset, data_dir)?,
        };
        return stream_data(cfg, s, &path, purpose);
    }
    let splits = match (data_dir, recorded) {
        (None, Some(r)) => {
            let from_record = match DatasetKind::from_name(&cfg.dataset) {
                Some(_) => data::load(&cfg.dataset, Some(&r.path)),
                None => data::load(&r.path.to_string_lossy(), None),
            };
            from_record.map_err(|e| {
                Error::data(
                    &r.path,
                    format!("the run's data was read from here, and cannot be now ({e}); if it moved, pass --data with its new place"),
                )
            })?
        }
        _ => data::load(&cfg.dataset, data_dir)?,
    };
    split(cfg, splits, purpose)
}

/// Refuse data that differs from what a run recorded, unless `force`; with `force`, the warning to print.
pub fn same_data(recorded: &DataRecord, loaded: &DataRecord, force: bool) -> Result<Option<String>> {
    let differences = recorded.differences(loaded);
    if differences.is_empty() {
        return Ok(None);
    }
    let what = format!(
        "{} holds other data than this run trained on ({} from {}): {}",
        loaded.path.display(),
        recorded.kind,
        recorded.path.display(),
        differences.join("; ")
    );
    match force {
        true => Ok(Some(format!("{what}. Continuing on it, as --force-data asks."))),
        false => Err(Error::usage(format!(
            "{what}. Continuing would mix two datasets in one run: point --data at the run's data, or pass --force-data to continue on this data anyway"
        ))),
    }
}

fn split(cfg: &Config, splits: Splits, purpose: Purpose) -> Result<Data> {
    let record = DataRecord::of(&cfg.dataset, &splits);
    let (train, val, val_name) = validation_split(cfg, splits.train, splits.test, "test split")?;
    let (train, val) = cut(cfg, train, val);
    check(cfg, &train, purpose)?;
    Ok(Data { train: Split::memory(train), val: Split::memory(val), val_name, record })
}

/// (training images, validation images, what the validation split is): the dataset's own `test`
/// split (named `what`), or with `val_split` a held-out part of the training images; with
/// `val_fallback`, a held-out part when the dataset has no such split.
fn validation_split<T: Images>(cfg: &Config, train: T, test: Option<T>, what: &str) -> Result<(T, T, String)> {
    match (cfg.val_split, test) {
        (0, Some(test)) => Ok((train, test, what.to_string())),
        (0, None) if cfg.val_fallback > 0 => {
            let (rest, val) = hold_out(train, cfg.val_fallback)?;
            let why = format!("{} training images held out at random, as the dataset has no {what}", val.count());
            Ok((rest, val, why))
        }
        (0, None) => Err(Error::usage(format!(
            "{} has no {what}: set val_split (e.g. --set val_split=10000) to hold out validation images",
            train.source()
        ))),
        (n, _) => {
            let (rest, val) = hold_out(train, n)?;
            Ok((rest, val, format!("{n} training images held out at random")))
        }
    }
}

/// `max_train_images` and `max_val_images` applied to the splits.
fn cut<T: Images>(cfg: &Config, train: T, val: T) -> (T, T) {
    let train = match train_subset(cfg, train.count()) {
        Some(idx) => train.pick(&idx),
        None => train,
    };
    let val = match val_subset(cfg, val.count()) {
        Some(idx) => val.pick(&idx),
        None => val,
    };
    (train, val)
}

/// `max_train_images`: a fixed random subset of `n` training images (None: all of them), not the first
/// N (which for a class-sorted folder is one class).
fn train_subset(cfg: &Config, n: usize) -> Option<Vec<usize>> {
    let max = cfg.max_train_images;
    if max == 0 || max >= n {
        return None;
    }
    let mut idx: Vec<usize> = permutation(n, VAL_SPLIT_SEED ^ 1)[..max].iter().map(|&i| i as usize).collect();
    idx.sort_unstable();
    Some(idx)
}

/// `max_val_images`: that many of `n` validation images, evenly spread (None: all of them).
fn val_subset(cfg: &Config, n: usize) -> Option<Vec<usize>> {
    let k = cfg.max_val_images;
    (k > 0 && k < n).then(|| (0..k).map(|i| i * n / k).collect())
}

/// (indices kept for training, indices held out) of `n` images, `count` held out: a fixed random
/// subset, not the last N (folder datasets come sorted by class, so the last N images would be the
/// last classes only). The seed is fixed, so the split does not move with the training seed.
fn held_out(n: usize, count: usize) -> Result<(Vec<usize>, Vec<usize>)> {
    if count >= n {
        return Err(Error::usage(format!(
            "holding out {count} validation images leaves no training images ({n} in total)"
        )));
    }
    let perm = permutation(n, VAL_SPLIT_SEED);
    let mut val_idx: Vec<usize> = perm[n - count..].iter().map(|&i| i as usize).collect();
    let mut train_idx: Vec<usize> = perm[..n - count].iter().map(|&i| i as usize).collect();
    val_idx.sort_unstable();
    train_idx.sort_unstable();
    Ok((train_idx, val_idx))
}

/// (the rest, `count` training images held out).
fn hold_out<T: Images>(train: T, count: usize) -> Result<(T, T)> {
    let (train_idx, val_idx) = held_out(train.count(), count)?;
    let source = train.source().to_string();
    let (mut rest, mut val) = (train.pick(&train_idx), train.pick(&val_idx));
    rest.set_source(format!("{source} [training part]"));
    val.set_source(format!("{source} [{count} held out]"));
    Ok((rest, val))
}

/// A split's images as the hold-out and subsets need them: decoded in memory, or listed for streaming.
trait Images: Sized {
    fn count(&self) -> usize;
    /// The images at `idx`, in that order.
    fn pick(&self, idx: &[usize]) -> Self;
    fn source(&self) -> &str;
    fn set_source(&mut self, source: String);
}

/// Both kinds have the same four members under these names.
macro_rules! images {
    ($($t:ty),*) => {$(
        impl Images for $t {
            fn count(&self) -> usize {
                self.len()
            }
            fn pick(&self, idx: &[usize]) -> Self {
                self.subset(idx)
            }
            fn source(&self) -> &str {
                &self.source
            }
            fn set_source(&mut self, source: String) {
                self.source = source;
            }
        }
    )*};
}
images!(Dataset, ImageList);

/// Refuse training images the config cannot train on (for evaluation: cannot build its model from),
/// before anything is built.
fn check(cfg: &Config, train: &Dataset, purpose: Purpose) -> Result<()> {
    if cfg.augment.mean.len() != train.channels {
        return Err(Error::usage(format!(
            "config `{}` normalises {} channel(s) but {} has {}-channel images",
            cfg.name,
            cfg.augment.mean.len(),
            train.source,
            train.channels
        )));
    }
    if purpose == Purpose::Evaluate {
        return Ok(());
    }
    if cfg.batch_size > train.len() {
        return Err(Error::usage(format!(
            "batch_size {} is larger than the {} training images",
            cfg.batch_size,
            train.len()
        )));
    }
    Ok(())
}

/// Where the config's dataset is for streaming: a path (relative to `--data` when given), or `--data`
/// itself for a name that is not a path (`dataset = "imagenet"`).
fn dataset_path(spec: &str, data_dir: Option<&Path>) -> Result<PathBuf> {
    let path = match (data::spec_path(spec, data_dir)?, data_dir) {
        (p, Some(d)) if !p.exists() => d.to_path_buf(),
        (p, _) => p,
    };
    if !path.exists() {
        return Err(Error::usage(format!(
            "dataset {spec}: no such folder or file ({}); a [stream] dataset is an ImageNet-style folder (train/<class>/..., optional val/), a .tar of one, or a packed copy: point --data at it",
            path.display()
        )));
    }
    Ok(path)
}

/// A streamed dataset: its splits listed (never decoded whole), held out and cut as the config says,
/// each read by a pipeline with torchvision's training or evaluation transform.
fn stream_data(cfg: &Config, s: &StreamConfig, root: &Path, purpose: Purpose) -> Result<Data> {
    let (train, test) = imagenet_splits(root, default_index_cache().as_deref())?;
    let record = DataRecord::of_lists(&cfg.dataset, root, &train, test.as_ref(), s.size);
    let (train, val, val_name) = validation_split(cfg, train, test, "val split")?;
    let (train, val) = cut(cfg, train, val);
    if purpose == Purpose::Train && cfg.batch_size > train.len() {
        return Err(Error::usage(format!(
            "batch_size {} is larger than the {} training images",
            cfg.batch_size,
            train.len()
        )));
    }
    let options = |batch: usize, transform| {
        let mut o = PipelineOptions::new(batch, transform);
        if s.workers > 0 {
            o.workers = s.workers;
            o.prefetch = 2 * s.workers;
        }
        if s.prefetch > 0 {
            o.prefetch = s.prefetch;
        }
        o
    };
    let train = stream_split(train, options(cfg.batch_size, s.train_transform()))?;
    let val = stream_split(val, options(cfg.micro_batch(), s.eval_transform()))?;
    Ok(Data { train, val, val_name, record })
}
