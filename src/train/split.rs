//! The training and validation splits a config asks for: the dataset's test split or a fixed random
//! hold-out of its training images, each optionally cut to a fixed random subset for quick runs, checked
//! against the config before anything is built.

use std::path::Path;

use crate::config::Config;
use crate::data::{self, Dataset};
use crate::error::{Error, Result};
use crate::model::permutation;

/// Seed of the validation hold-out permutation (fixed: the split is part of the dataset, not the run).
pub const VAL_SPLIT_SEED: u64 = 0x5EED_0F5A;

/// The training and validation splits the config asks for.
pub struct Data {
    pub train: Dataset,
    pub val: Dataset,
    pub val_name: String,
}

pub fn load_data(cfg: &Config, data_dir: Option<&Path>) -> Result<Data> {
    let splits = data::load(&cfg.dataset, data_dir)?;
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
    check(cfg, &train)?;
    Ok(Data { train, val, val_name })
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

/// Refuse training images the config cannot train on, before anything is built.
fn check(cfg: &Config, train: &Dataset) -> Result<()> {
    if cfg.augment.mean.len() != train.channels {
        return Err(Error::usage(format!(
            "config `{}` normalises {} channel(s) but {} has {}-channel images",
            cfg.name,
            cfg.augment.mean.len(),
            train.source,
            train.channels
        )));
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
