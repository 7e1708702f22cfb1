//! The study's report in its folder: `results.json`, the charts as PNGs and `report.html` around them,
//! each file written whole to a temporary name and renamed into place (the page last), so a reader
//! never sees half a file.

use std::path::{Path, PathBuf};

use super::grid::Grid;
use super::page::{self, Figure};
use super::results::{ConfigResult, Results, Stat};
use super::status::CellStatus;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::atomic_write;
use crate::viz::{curves_png, Curve, CurvePanel, CurvePoint, CurvesChart, XAxis};

pub const REPORT_HTML: &str = "report.html";
pub const RESULTS_JSON: &str = "results.json";

/// Write the report of `grid` (whose cells stand as `statuses` say) into `dir`; returns report.html.
pub fn write(dir: &Path, grid: &Grid, statuses: &[CellStatus]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).at(dir)?;
    let results = Results::collect(grid, statuses);
    let json = serde_json::to_string_pretty(&results).expect("results serialise");
    atomic_write(&dir.join(RESULTS_JSON), json.as_bytes())?;
    let mut figures = Vec::new();
    for (file, title, chart, caption) in charts(grid, &results) {
        let path = dir.join(file);
        draw_atomically(&path, |tmp| curves_png(&chart, tmp))?;
        let (width, height) =
            image::image_dimensions(&path).map_err(|e| Error::data(&path, format!("reading back: {e}")))?;
        figures.push(Figure { file: file.to_string(), width, height, title, caption });
    }
    let links: Vec<Option<String>> = grid
        .cells
        .iter()
        .map(|c| {
            let rel = format!("runs/{}/report.html", c.name);
            dir.join(&rel).is_file().then_some(rel)
        })
        .collect();
    let html = page::render(grid, &results, &figures, &links);
    let page = dir.join(REPORT_HTML);
    atomic_write(&page, html.as_bytes())?;
    Ok(page)
}

/// Draw into a temporary file beside `path`, sync it, and rename it over `path`.
fn draw_atomically(path: &Path, draw: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let r = (|| {
        draw(&tmp)?;
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).at(&tmp)?;
        std::fs::rename(&tmp, path).at(path)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// The charts there are numbers for: (file, title, chart, caption).
fn charts(grid: &Grid, results: &Results) -> Vec<(&'static str, String, CurvesChart, String)> {
    let mut out = Vec::new();
    let has = |c: &CurvesChart| c.panels.iter().flat_map(|p| &p.curves).any(|c| !c.points.is_empty());
    if let Some(x) = grid.study.x {
        let chart = accuracy_chart(grid, results, x);
        if has(&chart) {
            let name = &grid.study.axes[x].name;
            out.push(("accuracy.png", format!("Accuracy against {name}"), chart, page::captions::accuracy(name)));
        }
    }
    let sep = depth_chart(grid, results, "nearest-class-mean accuracy (%)", |c| {
        c.separability.iter().enumerate().map(|(j, s)| point(j as f64, s)).collect()
    });
    if has(&sep) {
        let title = "Linear separability against depth".to_string();
        out.push(("separability.png", title, sep, page::captions::SEPARABILITY.to_string()));
    }
    let acc = depth_chart(grid, results, "accuracy of the stage's own head (%)", |c| {
        c.stage_acc.iter().enumerate().filter_map(|(j, s)| s.as_ref().map(|s| point(j as f64, s))).collect()
    });
    // Only when some config has a head on more than one stage (end-to-end runs train only the last).
    if acc.panels.iter().flat_map(|p| &p.curves).any(|c| c.points.len() > 1) {
        let title = "Each stage's head against depth".to_string();
        out.push(("stage_accuracy.png", title, acc, page::captions::STAGE_ACCURACY.to_string()));
    }
    out
}

fn point(x: f64, s: &Stat) -> CurvePoint {
    CurvePoint { x, mean: s.mean, std: s.std }
}

/// "axis=value, ..." of the axes that vary across the grid, without those in `skip`.
fn curve_label(grid: &Grid, choices: &[usize], skip: &[usize]) -> String {
    let parts: Vec<String> = grid
        .varying_axes()
        .into_iter()
        .filter(|a| !skip.contains(a))
        .map(|a| format!("{}={}", grid.study.axes[a].name, grid.study.axes[a].choices[choices[a]].label))
        .collect();
    if parts.is_empty() {
        "all cells".to_string()
    } else {
        parts.join(", ")
    }
}

/// The configs of each panel: one panel per value of the panel axis (when the study names one), each
/// titled with it; else one panel titled `title`.
fn panels<'a>(grid: &Grid, results: &'a Results, title: &str) -> Vec<(String, Vec<&'a ConfigResult>)> {
    match grid.study.panels {
        None => vec![(title.to_string(), results.configs.iter().collect())],
        Some(p) => {
            let axis = &grid.study.axes[p];
            (0..axis.choices.len())
                .map(|k| {
                    let mine: Vec<&ConfigResult> = results.configs.iter().filter(|c| c.choices[p] == k).collect();
                    (format!("{}={}", axis.name, axis.choices[k].label), mine)
                })
                .filter(|(_, mine)| !mine.is_empty())
                .collect()
        }
    }
}

/// Final accuracy against the values of axis `x` (those the grid has), one curve per combination of
/// the other varying axes.
fn accuracy_chart(grid: &Grid, results: &Results, x: usize) -> CurvesChart {
    let axis = &grid.study.axes[x];
    let present: Vec<usize> =
        (0..axis.choices.len()).filter(|&k| grid.cells.iter().any(|c| c.choices[x] == k)).collect();
    let skip: Vec<usize> = [Some(x), grid.study.panels].into_iter().flatten().collect();
    let panels = panels(grid, results, "final validation accuracy")
        .into_iter()
        .map(|(title, configs)| {
            let mut curves: Vec<Curve> = Vec::new();
            for c in configs {
                let label = curve_label(grid, &c.choices, &skip);
                let at = present.iter().position(|&k| k == c.choices[x]).expect("a config's value is present");
                let Some(s) = &c.head_acc else { continue };
                match curves.iter_mut().find(|cv| cv.label == label) {
                    Some(cv) => cv.points.push(point(at as f64, s)),
                    None => curves.push(Curve { label, points: vec![point(at as f64, s)] }),
                }
            }
            CurvePanel { title, curves }
        })
        .collect();
    CurvesChart {
        x: XAxis::Categories(present.iter().map(|&k| axis.choices[k].label.clone()).collect()),
        x_desc: axis.name.clone(),
        y_desc: "final accuracy, last head (%)".into(),
        percent: true,
        panels,
    }
}

/// A per-stage value against depth, one curve per config.
fn depth_chart(
    grid: &Grid,
    results: &Results,
    y_desc: &str,
    points: impl Fn(&ConfigResult) -> Vec<CurvePoint>,
) -> CurvesChart {
    let skip: Vec<usize> = grid.study.panels.into_iter().collect();
    let panels = panels(grid, results, y_desc)
        .into_iter()
        .map(|(title, configs)| CurvePanel {
            title,
            curves: configs
                .into_iter()
                .map(|c| Curve { label: curve_label(grid, &c.choices, &skip), points: points(c) })
                .filter(|c| !c.points.is_empty())
                .collect(),
        })
        .collect();
    CurvesChart { x: XAxis::Whole, x_desc: "stage".into(), y_desc: y_desc.into(), percent: true, panels }
}
