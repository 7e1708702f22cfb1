//! The cells of a study: the cartesian product of its axes (minus the exclusions) times its seeds, each
//! with its resolved config and the run folder it trains into.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::spec::{Base, Study};
use crate::config::Config;
use crate::error::{Error, Result};

/// One config of the grid with one seed.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The choice index of every axis, in axis order.
    pub choices: Vec<usize>,
    pub seed: u64,
    /// The run folder's name: `axis=label,...,seed=N`.
    pub name: String,
    pub config: Config,
}

/// A study's cells, in the order they train: seed by seed (so that a first pass over the grid comes
/// before the repetitions), the first axis outermost.
#[derive(Debug, Clone)]
pub struct Grid {
    pub study: Study,
    pub cells: Vec<Cell>,
    /// Cells left out by `[[exclude]]` (per seed).
    pub excluded: usize,
}

/// Characters kept in folder names; every other one becomes `_`.
fn folder_safe(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || "._+-".contains(c) { c } else { '_' }).collect()
}

impl Grid {
    pub fn new(study: Study) -> Result<Grid> {
        let combos = product(&study.axes.iter().map(|a| a.choices.len()).collect::<Vec<_>>());
        let kept: Vec<&Vec<usize>> = combos.iter().filter(|c| !excluded(&study, c)).collect();
        let excluded = combos.len() - kept.len();
        if kept.is_empty() {
            return Err(Error::usage(format!("study {}: the exclusions leave no cell", study.name)));
        }
        let seeds: Vec<Option<u64>> =
            if study.seeds.is_empty() { vec![None] } else { study.seeds.iter().copied().map(Some).collect() };
        let mut cells = Vec::new();
        let mut bases = BTreeMap::new();
        for seed in &seeds {
            for combo in &kept {
                cells.push(cell(&study, combo, *seed, &mut bases)?);
            }
        }
        let mut names = BTreeMap::new();
        for c in &cells {
            if let Some(other) = names.insert(c.name.to_lowercase(), &c.name) {
                return Err(Error::usage(format!(
                    "study {}: cells `{other}` and `{}` would share a run folder (labels differ only in characters \
                     folder names cannot hold, or in case); rename a value or variant",
                    study.name, c.name
                )));
            }
        }
        Ok(Grid { study, cells, excluded })
    }

    /// The cells' run folders live in `dir/runs/`.
    pub fn run_dir(dir: &Path, cell: &Cell) -> PathBuf {
        dir.join("runs").join(&cell.name)
    }

    /// The choice labels of a cell, in axis order.
    pub fn labels(&self, choices: &[usize]) -> Vec<String> {
        self.study.axes.iter().zip(choices).map(|(a, &c)| a.choices[c].label.clone()).collect()
    }

    /// Axes with more than one value among the cells (the others say nothing about a cell).
    pub fn varying_axes(&self) -> Vec<usize> {
        (0..self.study.axes.len())
            .filter(|&a| {
                let first = self.cells[0].choices[a];
                self.cells.iter().any(|c| c.choices[a] != first)
            })
            .collect()
    }
}

/// Every combination of one index per axis, the first axis outermost.
fn product(sizes: &[usize]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new()];
    for &n in sizes {
        out = out.into_iter().flat_map(|prefix| (0..n).map(move |i| [prefix.clone(), vec![i]].concat())).collect();
    }
    out
}

fn excluded(study: &Study, combo: &[usize]) -> bool {
    study.exclusions.iter().any(|ex| ex.iter().all(|(axis, idx)| idx.contains(&combo[*axis])))
}

/// The config a cell trains: its base (the study's, or the one variant of the cell that names
/// another), the study's overrides, each axis's in order, then the seed; named after its folder.
fn cell(study: &Study, combo: &[usize], seed: Option<u64>, bases: &mut BTreeMap<String, Config>) -> Result<Cell> {
    let choices: Vec<_> = study.axes.iter().zip(combo).map(|(a, &c)| &a.choices[c]).collect();
    let mut parts: Vec<String> = study
        .axes
        .iter()
        .zip(&choices)
        .map(|(a, c)| format!("{}={}", folder_safe(&a.name), folder_safe(&c.label)))
        .collect();
    let shown: Vec<String> = study.axes.iter().zip(&choices).map(|(a, c)| format!("{}={}", a.name, c.label)).collect();
    let at = |m: String| Error::usage(format!("study {}, cell {}: {m}", study.name, shown.join(", ")));
    let own: Vec<&Base> = choices.iter().filter_map(|c| c.base.as_ref()).collect();
    if own.len() > 1 {
        return Err(at("two of its variants name a base preset or config; at most one may".into()));
    }
    let base = own.first().copied().unwrap_or(&study.base);
    let key = format!("{base:?}");
    if !bases.contains_key(&key) {
        bases.insert(key.clone(), base.load().map_err(|e| at(e.to_string()))?);
    }
    let mut sets = study.sets.clone();
    sets.extend(choices.iter().flat_map(|c| c.sets.iter().cloned()));
    if let Some(s) = seed {
        sets.push(format!("seed={s}"));
    }
    let mut config = bases[&key].with_overrides(&sets).map_err(|e| at(e.to_string()))?;
    parts.push(format!("seed={}", config.seed));
    let name = parts.join(",");
    config.name = name.clone();
    Ok(Cell { choices: combo.to_vec(), seed: config.seed, name, config })
}
