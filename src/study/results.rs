//! A study's numbers: every cell's measurements, and per config (a cell without its seed) their mean and
//! standard deviation over the seeds that finished. What the report's table and charts show, and what
//! `results.json` holds.

use serde::Serialize;

use super::grid::Grid;
use super::measure::Measures;
use super::status::{CellStatus, State};

/// Mean and sample standard deviation (None for a single value) of `n` values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stat {
    pub mean: f64,
    pub std: Option<f64>,
    pub n: usize,
}

impl Stat {
    pub fn of(values: &[f64]) -> Option<Stat> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let std = (n > 1).then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
        Some(Stat { mean, std, n })
    }

    /// "84.21 ± 0.35", or the mean alone for one value.
    pub fn show(&self, digits: usize) -> String {
        match self.std {
            Some(s) => format!("{:.*} ± {:.*}", digits, self.mean, digits, s),
            None => format!("{:.*}", digits, self.mean),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AxisValue {
    pub axis: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CellResult {
    pub name: String,
    pub seed: u64,
    /// "new", "started", "done" or "changed".
    pub state: &'static str,
    /// The error that ended its last attempt, while it has not succeeded since.
    pub failure: Option<String>,
    /// One line: the state with its details.
    pub status: String,
    pub measures: Option<Measures>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConfigResult {
    /// The choice index of every axis (what identifies the config in the grid).
    #[serde(skip)]
    pub choices: Vec<usize>,
    pub values: Vec<AxisValue>,
    /// Its cells' names, one per seed.
    pub cells: Vec<String>,
    pub done: usize,
    pub head_acc: Option<Stat>,
    pub ensemble_acc: Option<Stat>,
    pub seconds: Option<Stat>,
    pub params: Option<u64>,
    /// Per stage, over the finished seeds.
    pub separability: Vec<Stat>,
    pub stage_acc: Vec<Option<Stat>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub study: String,
    pub configs: Vec<ConfigResult>,
    pub cells: Vec<CellResult>,
}

impl Results {
    /// `statuses[i]` is the state of `grid.cells[i]`.
    pub fn collect(grid: &Grid, statuses: &[CellStatus]) -> Results {
        let cells: Vec<CellResult> = grid
            .cells
            .iter()
            .zip(statuses)
            .map(|(c, s)| CellResult {
                name: c.name.clone(),
                seed: c.seed,
                state: match s.state {
                    State::New => "new",
                    State::Started(_) => "started",
                    State::Done(_) => "done",
                    State::Changed(_) => "changed",
                },
                failure: s.failure.clone(),
                status: s.describe(),
                measures: match &s.state {
                    State::Done(m) => Some((**m).clone()),
                    _ => None,
                },
            })
            .collect();
        // Configs in the order their first cell appears (the grid's order within one seed).
        let mut order: Vec<&Vec<usize>> = Vec::new();
        for c in &grid.cells {
            if !order.contains(&&c.choices) {
                order.push(&c.choices);
            }
        }
        let configs = order
            .into_iter()
            .map(|choices| {
                let mine: Vec<usize> = (0..grid.cells.len()).filter(|&i| &grid.cells[i].choices == choices).collect();
                let done: Vec<&Measures> = mine.iter().filter_map(|&i| cells[i].measures.as_ref()).collect();
                config_result(grid, choices, mine.iter().map(|&i| cells[i].name.clone()).collect(), &done)
            })
            .collect();
        Results { study: grid.study.name.clone(), configs, cells }
    }
}

fn config_result(grid: &Grid, choices: &[usize], cells: Vec<String>, done: &[&Measures]) -> ConfigResult {
    let values = grid
        .study
        .axes
        .iter()
        .zip(grid.labels(choices))
        .map(|(a, l)| AxisValue { axis: a.name.clone(), value: l })
        .collect();
    let over = |f: &dyn Fn(&Measures) -> f64| Stat::of(&done.iter().map(|m| f(m)).collect::<Vec<_>>());
    let stages = done.iter().map(|m| m.per_stage.len()).min().unwrap_or(0);
    let separability = (0..stages)
        .filter_map(|j| Stat::of(&done.iter().map(|m| m.per_stage[j].separability).collect::<Vec<_>>()))
        .collect();
    let stage_acc = (0..stages)
        .map(|j| {
            let accs: Vec<f64> = done.iter().filter_map(|m| m.per_stage[j].head_acc).collect();
            (accs.len() == done.len()).then(|| Stat::of(&accs)).flatten()
        })
        .collect();
    ConfigResult {
        choices: choices.to_vec(),
        values,
        cells,
        done: done.len(),
        head_acc: over(&|m| m.head_acc),
        ensemble_acc: over(&|m| m.ensemble_acc),
        seconds: over(&|m| m.seconds),
        params: done.first().map(|m| m.params),
        separability,
        stage_acc,
    }
}
