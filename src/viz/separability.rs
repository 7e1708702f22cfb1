//! The report's separability chart: each stage's pooled features projected on their top two principal
//! components, coloured by class, with a model-free measure of how separable the classes are.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::pca::pca_2d;
use super::plots::{font, padded_range, render, Area, DrawResult};
use super::raster::{palette, rgb_color};
use crate::error::{Error, Result};

/// Percentage of points whose nearest class mean (Euclidean, in the full d-dimensional feature space) is
/// their own class's: a cheap, model-free measure of how linearly separable the classes are. Leave-one-out:
/// a point's own class mean is taken without it, so large d with few points does not flatter the score.
/// `x`: [n, d]; `labels`: [n].
pub fn nearest_class_mean_accuracy(x: &[f32], d: usize, labels: &[u32]) -> f64 {
    let n = labels.len();
    assert_eq!(x.len(), n * d, "nearest_class_mean_accuracy: x must be [n, d]");
    if n == 0 || d == 0 {
        return 0.0;
    }
    let k = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    let mut means = vec![0.0f64; k * d];
    let mut counts = vec![0usize; k];
    let val = |v: f32| if v.is_finite() { v as f64 } else { 0.0 };
    for (i, &l) in labels.iter().enumerate() {
        counts[l as usize] += 1;
        for j in 0..d {
            means[l as usize * d + j] += val(x[i * d + j]);
        }
    }
    for c in 0..k {
        if counts[c] > 0 {
            means[c * d..(c + 1) * d].iter_mut().for_each(|m| *m /= counts[c] as f64);
        }
    }
    let mut correct = 0usize;
    for (i, &l) in labels.iter().enumerate() {
        let row = &x[i * d..(i + 1) * d];
        let mut best = (f64::INFINITY, usize::MAX);
        for c in (0..k).filter(|&c| counts[c] > 0) {
            let mut dist: f64 = row.iter().zip(&means[c * d..(c + 1) * d]).map(|(&a, &m)| (val(a) - m).powi(2)).sum();
            if c == l as usize {
                // Without x, its class mean moves away from it: x - mean' = m / (m - 1) (x - mean).
                let m = counts[c] as f64;
                dist = if counts[c] > 1 { dist * (m / (m - 1.0)).powi(2) } else { f64::INFINITY };
            }
            if dist < best.0 {
                best = (dist, c);
            }
        }
        correct += (best.1 == l as usize) as usize;
    }
    100.0 * correct as f64 / n as f64
}

const PANEL_W: u32 = 400;
const PANEL_H: u32 = 380;

/// One stage's features projected on their top two principal components: what its panel shows.
struct Projection {
    stage: usize,
    d: usize,
    pts: Vec<[f64; 2]>,
    explained: f64,
    ncm: f64,
}

/// Each stage's pooled features must be `labels.len()` rows of d > 0 values.
fn check_pooled(pooled: &[(usize, Vec<f32>, usize)], labels: &[u32], path: &Path) -> Result<()> {
    if pooled.is_empty() {
        return Err(Error::data(path, "no pooled features to project"));
    }
    for (stage, x, d) in pooled {
        if *d == 0 || x.len() != labels.len() * d {
            return Err(Error::data(
                path,
                format!("stage {stage}: {} pooled values are not {} labelled images x d = {d}", x.len(), labels.len()),
            ));
        }
    }
    Ok(())
}

fn project(pooled: &[(usize, Vec<f32>, usize)], labels: &[u32]) -> Vec<Projection> {
    pooled
        .iter()
        .map(|(stage, x, d)| {
            let p = pca_2d(x, labels.len(), *d);
            let explained = p.explained();
            Projection {
                stage: *stage,
                d: *d,
                pts: p.projected,
                explained,
                ncm: nearest_class_mean_accuracy(x, *d, labels),
            }
        })
        .collect()
}

/// One stage's panel: title and the two numbers above the chart (so they never cover points), then the
/// points coloured by class.
fn draw_projection(area: &Area<'_>, p: &Projection, labels: &[u32]) -> DrawResult {
    let xr = padded_range(p.pts.iter().map(|q| q[0]), 0.05);
    let yr = padded_range(p.pts.iter().map(|q| q[1]), 0.05);
    let (head, body) = area.split_vertically(46);
    let centre = Pos::new(HPos::Center, VPos::Top);
    let mid = (PANEL_W / 2) as i32;
    head.draw_text(&format!("stage {} (d = {})", p.stage, p.d), &font(16.0).color(&BLACK).pos(centre), (mid, 6))?;
    let note = format!("nearest class mean {:.1}%, PC1+PC2 {:.1}% of variance", p.ncm, 100.0 * p.explained);
    head.draw_text(&note, &font(12.0).color(&RGBColor(60, 60, 60)).pos(centre), (mid, 27))?;
    let mut chart = ChartBuilder::on(&body)
        .margin(8)
        .x_label_area_size(34)
        .y_label_area_size(46)
        .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)?;
    chart
        .configure_mesh()
        .max_light_lines(1)
        .light_line_style(RGBColor(242, 242, 242))
        .bold_line_style(RGBColor(215, 215, 215))
        .x_desc("PC1")
        .y_desc("PC2")
        .label_style(font(11.0))
        .axis_desc_style(font(12.0))
        .x_labels(5)
        .y_labels(5)
        .draw()?;
    chart.draw_series(
        p.pts
            .iter()
            .zip(labels)
            .map(|(q, &l)| Circle::new((q[0], q[1]), 2, rgb_color(palette(l as usize)).mix(0.75).filled())),
    )?;
    Ok(())
}

/// The classes' colours and names, `per_row` to a row.
fn draw_class_legend(legend: &Area<'_>, class_names: &[String], n_classes: usize, per_row: u32) -> DrawResult {
    legend.draw_text("classes:", &font(12.0).color(&BLACK), (10, 4))?;
    for c in 0..n_classes {
        let (col, row) = (c as u32 % per_row, c as u32 / per_row);
        let (x, y) = ((10 + col * 150) as i32, (20 + row * 22) as i32);
        let name = class_names.get(c).cloned().unwrap_or_else(|| format!("class {c}"));
        legend.draw(&Rectangle::new([(x, y + 2), (x + 12, y + 14)], rgb_color(palette(c)).filled()))?;
        legend.draw_text(&name, &font(12.0).color(&BLACK), (x + 18, y + 1))?;
    }
    Ok(())
}

/// One panel per stage: the stage's pooled features on ~1000 validation images projected onto their top
/// two principal components, coloured by class, with a shared legend below.
/// `pooled`: (stage, [n, d] features, d); `labels`: [n] class of each image; `class_names`: one per class.
pub fn separability_png(
    pooled: &[(usize, Vec<f32>, usize)],
    labels: &[u32],
    class_names: &[String],
    path: &Path,
) -> Result<()> {
    check_pooled(pooled, labels, path)?;
    let n_classes = (labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0)).max(class_names.len());
    // Projections first: all the arithmetic happens before any drawing.
    let panels = project(pooled, labels);
    let cols = panels.len().min(3) as u32;
    let rows = (panels.len() as u32).div_ceil(cols);
    let per_row = ((cols * PANEL_W) / 150).max(1);
    let legend_h = 16 + (n_classes as u32).div_ceil(per_row) * 22;
    render(path, cols * PANEL_W, rows * PANEL_H + legend_h, |root| {
        root.fill(&WHITE)?;
        let (top, legend) = root.split_vertically(rows * PANEL_H);
        for (area, p) in top.split_evenly((rows as usize, cols as usize)).iter().zip(&panels) {
            draw_projection(area, p, labels)?;
        }
        draw_class_legend(&legend, class_names, n_classes, per_row)
    })
}
