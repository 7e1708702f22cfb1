//! The training and validation splits a config asks for: the dataset's test split or a fixed random
//! hold-out of its training images, each optionally cut to a fixed random subset for quick runs, checked
//! against the config before anything is built; and for a run that recorded its data, the same data
//! again (or a clear refusal).

use std::path::Path;

use crate::config::Config;
use crate::data::{self, DataRecord, Dataset, DatasetKind, Splits};
use crate::error::{Error, Result};
use crate::rng::permutation;

/// Seed of the validation hold-out permutation (fixed: the split is part of the dataset, not the run).
pub const VAL_SPLIT_SEED: u64 = 0x5EED_0F5A;

/// The training and validation splits the config asks for, and what they were loaded from.
pub struct Data {
    pub train: Dataset,
    pub val: Dataset,
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
    let (train, val, val_name) = validation_split(cfg, splits.train, splits.test)?;
    let train = if cfg.max_train_images > 0 && cfg.max_train_images < train.len() {
        // A fixed random subset, not the first N (which for a class-sorted folder is one class).
        let mut idx: Vec<usize> =
            permutation(train.len(), VAL_SPLIT_SEED ^ 1)[..cfg.max_train_images].iter().map(|&i| i as usize).collect();
        idx.sort_unstable();
        train.subset(&idx)
    } else {
        train
    };
    let val = if cfg.max_val_images > 0 && cfg.max_val_images < val.len() {
        let k = cfg.max_val_images;
        val.subset(&(0..k).map(|i| i * val.len() / k).collect::<Vec<_>>())
    } else {
        val
    };
    check(cfg, &train, purpose)?;
    Ok(Data { train, val, val_name, record })
}

/// (training images, validation images, what the validation split is): the test split, or with
/// `val_split` a held-out part of the training images; with `val_fallback`, a held-out part when the
/// dataset has no test split.
fn validation_split(cfg: &Config, train: Dataset, test: Option<Dataset>) -> Result<(Dataset, Dataset, String)> {
    match (cfg.val_split, test) {
        (0, Some(test)) => Ok((train, test, "test split".to_string())),
        (0, None) if cfg.val_fallback > 0 => {
            let (rest, val) = hold_out(train, cfg.val_fallback)?;
            let what = format!("{} training images held out at random, as the dataset has no test split", val.len());
            Ok((rest, val, what))
        }
        (0, None) => Err(Error::usage(format!(
            "{} has no test split: set val_split (e.g. --set val_split=10000) to hold out validation images",
            train.source
        ))),
        (n, _) => {
            let (rest, val) = hold_out(train, n)?;
            Ok((rest, val, format!("{n} training images held out at random")))
        }
    }
}

/// (the rest, `count` training images held out): a fixed random subset.
fn hold_out(train: Dataset, count: usize) -> Result<(Dataset, Dataset)> {
    if count >= train.len() {
        return Err(Error::usage(format!(
            "holding out {count} validation images leaves no training images ({} in total)",
            train.len()
        )));
    }
    // A seeded random hold-out, not the last N: folder datasets come sorted by class, so the last
    // N images would be the last classes only. The seed is fixed, so the split does not move with
    // the training seed.
    let n = train.len();
    let perm = permutation(n, VAL_SPLIT_SEED);
    let mut val_idx: Vec<usize> = perm[n - count..].iter().map(|&i| i as usize).collect();
    let mut train_idx: Vec<usize> = perm[..n - count].iter().map(|&i| i as usize).collect();
    val_idx.sort_unstable();
    train_idx.sort_unstable();
    let source = train.source.clone();
    let (mut rest, mut val) = (train.subset(&train_idx), train.subset(&val_idx));
    rest.source = format!("{source} [training part]");
    val.source = format!("{source} [{count} held out]");
    Ok((rest, val))
}

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
