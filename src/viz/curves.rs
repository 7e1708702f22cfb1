//! Curves with error bars: a value (the mean over repeats, +- one standard deviation) against a
//! categorical or whole-number axis, one colour per curve label, in one or more panels that share one
//! legend below them. The study report draws its accuracy and separability charts with it.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use plotters::prelude::*;

use super::plots::{font, padded_range, render, Area, DrawResult};
use super::raster::{palette, rgb_color, text_width};
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct CurvePoint {
    pub x: f64,
    pub mean: f64,
    /// Standard deviation over the repeats; None for a single one (no bar drawn).
    pub std: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// The same label gets the same colour in every panel.
    pub label: String,
    pub points: Vec<CurvePoint>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CurvePanel {
    pub title: String,
    pub curves: Vec<Curve>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum XAxis {
    /// Point x = i sits at category i, labelled with its name.
    Categories(Vec<String>),
    /// Whole numbers (stages), labelled as such.
    Whole,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CurvesChart {
    pub x: XAxis,
    pub x_desc: String,
    pub y_desc: String,
    /// Values are percentages: the y axis stays within 0..100.
    pub percent: bool,
    pub panels: Vec<CurvePanel>,
}

const PANEL_W: u32 = 600;
const PANEL_H: u32 = 420;
const LEGEND_ROW: u32 = 22;

/// Every curve label in order of first appearance, each with its palette index.
fn colours(chart: &CurvesChart) -> BTreeMap<&str, usize> {
    let mut out = BTreeMap::new();
    for c in chart.panels.iter().flat_map(|p| &p.curves) {
        let next = out.len();
        out.entry(c.label.as_str()).or_insert(next);
    }
    out
}

/// The x range (with half a step of margin) and the y range (10% margin, within 0..100 for
/// percentages) of every point and bar.
fn ranges(chart: &CurvesChart) -> (Range<f64>, Range<f64>) {
    let points = || chart.panels.iter().flat_map(|p| &p.curves).flat_map(|c| &c.points);
    let (x_lo, x_hi) = match &chart.x {
        XAxis::Categories(names) => (-0.5, names.len() as f64 - 0.5),
        XAxis::Whole => {
            let (lo, hi) = padded_range(points().map(|p| p.x), 0.0);
            (lo.round() - 0.5, hi.round() + 0.5)
        }
    };
    let ys = points().flat_map(|p| {
        let s = p.std.unwrap_or(0.0);
        [p.mean - s, p.mean + s]
    });
    let (mut lo, mut hi) = padded_range(ys, 0.1);
    if chart.percent {
        (lo, hi) = (lo.max(0.0), hi.min(100.0));
        if hi <= lo {
            (lo, hi) = (0.0, 100.0);
        }
    }
    (x_lo..x_hi, lo..hi)
}

/// How far curve `i` of `n` is shifted sideways, so that bars at the same x stay apart.
fn dodge(i: usize, n: usize) -> f64 {
    let step = (0.5 / n as f64).min(0.08);
    (i as f64 - (n as f64 - 1.0) / 2.0) * step
}

fn draw_panel(area: &Area<'_>, chart: &CurvesChart, panel: &CurvePanel, colours: &BTreeMap<&str, usize>) -> DrawResult {
    let (xr, yr) = ranges(chart);
    let mut c = ChartBuilder::on(area)
        .caption(&panel.title, font(16.0))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(xr.clone(), yr.clone())?;
    let names = match &chart.x {
        XAxis::Categories(n) => n.clone(),
        XAxis::Whole => Vec::new(),
    };
    let label = |v: &f64| {
        let i = v.round();
        if (v - i).abs() > 1e-9 {
            return String::new();
        }
        match &chart.x {
            XAxis::Categories(_) => names.get(i as usize).cloned().unwrap_or_default(),
            XAxis::Whole => format!("{}", i as i64),
        }
    };
    c.configure_mesh()
        .max_light_lines(1)
        .light_line_style(RGBColor(242, 242, 242))
        .bold_line_style(RGBColor(215, 215, 215))
        .x_desc(chart.x_desc.as_str())
        .y_desc(chart.y_desc.as_str())
        .x_labels(((xr.end - xr.start).round() as usize + 2).min(24))
        .x_label_formatter(&label)
        .label_style(font(12.0))
        .axis_desc_style(font(13.0))
        .draw()?;
    let n = panel.curves.len();
    for (i, curve) in panel.curves.iter().enumerate() {
        let col = rgb_color(palette(colours[curve.label.as_str()]));
        let mut pts: Vec<&CurvePoint> = curve.points.iter().filter(|p| p.mean.is_finite()).collect();
        pts.sort_by(|a, b| a.x.total_cmp(&b.x));
        let dx = dodge(i, n);
        let line: Vec<(f64, f64)> = pts.iter().map(|p| (p.x + dx, p.mean)).collect();
        c.draw_series(LineSeries::new(line.clone(), col.stroke_width(2)))?;
        c.draw_series(line.iter().map(|&q| Circle::new(q, 4, col.filled())))?;
        let cap = 0.03;
        for p in pts.iter().filter(|p| p.std.is_some_and(|s| s.is_finite() && s > 0.0)) {
            let s = p.std.expect("filtered");
            let (x, lo, hi) = (p.x + dx, (p.mean - s).max(yr.start), (p.mean + s).min(yr.end));
            let bar = [vec![(x, lo), (x, hi)], vec![(x - cap, lo), (x + cap, lo)], vec![(x - cap, hi), (x + cap, hi)]];
            c.draw_series(bar.into_iter().map(|seg| PathElement::new(seg, col.stroke_width(1))))?;
        }
    }
    Ok(())
}

/// The legend's column width and entries per row for `labels` across `width` pixels.
fn legend_layout(labels: &[&str], width: u32) -> Result<(u32, u32)> {
    let mut widest = 0;
    for l in labels {
        widest = widest.max(text_width(l, 12.0)?);
    }
    let col = widest + 44;
    Ok((col, (width / col).max(1)))
}

fn draw_legend(area: &Area<'_>, labels: &[&str], col_w: u32, per_row: u32) -> DrawResult {
    for (k, l) in labels.iter().enumerate() {
        let (col, row) = (k as u32 % per_row, k as u32 / per_row);
        let (x, y) = ((10 + col * col_w) as i32, (8 + row * LEGEND_ROW) as i32);
        let c = rgb_color(palette(k));
        area.draw(&PathElement::new([(x, y + 8), (x + 24, y + 8)], c.stroke_width(2)))?;
        area.draw(&Circle::new((x + 12, y + 8), 4, c.filled()))?;
        area.draw_text(l, &font(12.0).color(&BLACK), (x + 32, y + 1))?;
    }
    Ok(())
}

/// The panels side by side (two to a row) and the legend of every curve label below them.
pub fn curves_png(chart: &CurvesChart, path: &Path) -> Result<()> {
    let any = chart.panels.iter().flat_map(|p| &p.curves).flat_map(|c| &c.points).any(|p| p.mean.is_finite());
    if !any {
        return Err(Error::data(path, "no points to plot"));
    }
    let colours = colours(chart);
    let mut labels: Vec<&str> = colours.keys().copied().collect();
    labels.sort_by_key(|l| colours[l]);
    let cols = chart.panels.len().min(2) as u32;
    let rows = (chart.panels.len() as u32).div_ceil(cols);
    let width = cols * PANEL_W;
    let (col_w, per_row) = legend_layout(&labels, width)?;
    let legend_h = 16 + (labels.len() as u32).div_ceil(per_row) * LEGEND_ROW;
    render(path, width, rows * PANEL_H + legend_h, |root| {
        root.fill(&WHITE)?;
        let (top, legend) = root.split_vertically(rows * PANEL_H);
        for (area, panel) in top.split_evenly((rows as usize, cols as usize)).iter().zip(&chart.panels) {
            draw_panel(area, chart, panel, &colours)?;
        }
        draw_legend(&legend, &labels, col_w, per_row)
    })
}
