//! The report's charts: linear separability per stage (PCA), accuracy against depth, training curves.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::pca::pca_2d;
use super::raster::{palette, rgb_color, save_rgb_png};
use super::text::{ensure_font, FixedText, FAMILY};
use crate::error::{Error, Result};
use crate::metrics::{EpochRecord, StageSummary};

type Area<'a> = DrawingArea<FixedText<'a>, Shift>;
type DrawResult = std::result::Result<(), Box<dyn StdError>>;

/// Draw into a white w x h RGB buffer with plotters, then write it as a PNG.
fn render(path: &Path, w: u32, h: u32, draw: impl FnOnce(&Area<'_>) -> DrawResult) -> Result<()> {
    ensure_font()?;
    let mut buf = vec![255u8; w as usize * h as usize * 3];
    {
        let root = FixedText(BitMapBackend::with_buffer(&mut buf, (w, h))).into_drawing_area();
        draw(&root).map_err(|e| Error::data(path, format!("drawing: {e}")))?;
        root.present().map_err(|e| Error::data(path, format!("drawing: {e}")))?;
    }
    save_rgb_png(path, w, h, &buf)
}

fn font(size: f64) -> FontDesc<'static> {
    (FAMILY, size).into_font()
}

/// (lo, hi) of the finite values with a relative margin; a usable range even for one value or none.
fn padded_range(vals: impl IntoIterator<Item = f64>, margin: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (-1.0, 1.0);
    }
    let span = hi - lo;
    let pad = if span > 0.0 { span * margin } else { lo.abs().max(1.0) * 0.1 };
    (lo - pad, hi + pad)
}

/// Percentage of points whose nearest class mean (Euclidean, in the full d-dimensional feature space) is
/// their own class's: a cheap, model-free measure of how linearly separable the classes are. Leave-one-out:
/// a point's own class mean is taken without it, so large d with few points does not flatter the score.
/// `x`: [n, d]; `labels`: [n].
pub fn nearest_class_mean_accuracy(x: &[f32], d: usize, labels: &[u8]) -> f64 {
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

/// One panel per stage: the stage's pooled features on ~1000 validation images projected onto their top
/// two principal components, coloured by class, with a shared legend below.
/// `pooled`: (stage, [n, d] features, d); `labels`: [n] class of each image; `class_names`: one per class.
pub fn separability_png(
    pooled: &[(usize, Vec<f32>, usize)],
    labels: &[u8],
    class_names: &[String],
    path: &Path,
) -> Result<()> {
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
    let n_classes = (labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0)).max(class_names.len());
    let name = |c: usize| class_names.get(c).cloned().unwrap_or_else(|| format!("class {c}"));

    // Projections first: all the arithmetic happens before any drawing.
    struct Panel {
        stage: usize,
        d: usize,
        pts: Vec<[f64; 2]>,
        explained: f64,
        ncm: f64,
    }
    let panels: Vec<Panel> = pooled
        .iter()
        .map(|(stage, x, d)| {
            let p = pca_2d(x, labels.len(), *d);
            let explained = p.explained();
            Panel { stage: *stage, d: *d, pts: p.projected, explained, ncm: nearest_class_mean_accuracy(x, *d, labels) }
        })
        .collect();

    let cols = panels.len().min(3) as u32;
    let rows = (panels.len() as u32).div_ceil(cols);
    let per_row = ((cols * PANEL_W) / 150).max(1);
    let legend_h = 16 + (n_classes as u32).div_ceil(per_row) * 22;
    let (w, h) = (cols * PANEL_W, rows * PANEL_H + legend_h);
    render(path, w, h, |root| {
        root.fill(&WHITE)?;
        let (top, legend) = root.split_vertically(rows * PANEL_H);
        for (area, p) in top.split_evenly((rows as usize, cols as usize)).iter().zip(&panels) {
            let xr = padded_range(p.pts.iter().map(|q| q[0]), 0.05);
            let yr = padded_range(p.pts.iter().map(|q| q[1]), 0.05);
            // Title and the two numbers above the chart, so they never cover points.
            let (head, body) = area.split_vertically(46);
            let centre = Pos::new(HPos::Center, VPos::Top);
            let mid = (PANEL_W / 2) as i32;
            head.draw_text(
                &format!("stage {} (d = {})", p.stage, p.d),
                &font(16.0).color(&BLACK).pos(centre),
                (mid, 6),
            )?;
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
        }
        legend.draw_text("classes:", &font(12.0).color(&BLACK), (10, 4))?;
        for c in 0..n_classes {
            let (col, row) = (c as u32 % per_row, c as u32 / per_row);
            let (x, y) = ((10 + col * 150) as i32, (20 + row * 22) as i32);
            legend.draw(&Rectangle::new([(x, y + 2), (x + 12, y + 14)], rgb_color(palette(c)).filled()))?;
            legend.draw_text(&name(c), &font(12.0).color(&BLACK), (x + 18, y + 1))?;
        }
        Ok(())
    })
}

/// Each stage's own head accuracy and the ensemble's accuracy against depth, the curve that shows what
/// each added stage buys. `summaries`: one per finished stage.
pub fn accuracy_vs_depth_png(summaries: &[StageSummary], path: &Path) -> Result<()> {
    if summaries.is_empty() {
        return Err(Error::data(path, "no finished stages to plot"));
    }
    let mut s: Vec<&StageSummary> = summaries.iter().collect();
    s.sort_by_key(|x| x.stage);
    let (x_lo, x_hi) = (s[0].stage as f64 - 0.5, s[s.len() - 1].stage as f64 + 0.5);
    let accs = s.iter().flat_map(|x| [x.head_acc, x.ensemble_acc]);
    let (lo, hi) = padded_range(accs, 0.1);
    let (y_lo, y_hi) = (lo.max(0.0), hi.min(100.0));
    let (y_lo, y_hi) = if y_hi > y_lo { (y_lo, y_hi) } else { (0.0, 100.0) };
    render(path, 760, 440, |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption("validation accuracy against depth", font(18.0))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)?;
        let int_label =
            |v: &f64| if (v - v.round()).abs() < 1e-9 { format!("{}", v.round() as i64) } else { String::new() };
        chart
            .configure_mesh()
            .max_light_lines(1)
            .light_line_style(RGBColor(242, 242, 242))
            .bold_line_style(RGBColor(215, 215, 215))
            .x_desc("stage")
            .y_desc("accuracy (%)")
            .x_labels((s.len() + 2).min(20))
            .x_label_formatter(&int_label)
            .label_style(font(13.0))
            .axis_desc_style(font(14.0))
            .draw()?;
        let head = rgb_color(palette(0));
        let ens = rgb_color(palette(1));
        let pts = |f: fn(&StageSummary) -> f64| -> Vec<(f64, f64)> {
            s.iter().map(|x| (x.stage as f64, f(x))).filter(|p| p.1.is_finite()).collect()
        };
        let head_pts = pts(|x| x.head_acc);
        let ens_pts = pts(|x| x.ensemble_acc);
        chart
            .draw_series(LineSeries::new(head_pts.clone(), head.stroke_width(2)))?
            .label("own head")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], head.stroke_width(2)));
        chart.draw_series(head_pts.iter().map(|&p| Circle::new(p, 4, head.filled())))?;
        chart
            .draw_series(LineSeries::new(ens_pts.clone(), ens.stroke_width(2)))?
            .label("ensemble of heads 0..=stage")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], ens.stroke_width(2)));
        chart.draw_series(ens_pts.iter().map(|&p| TriangleMarker::new(p, 5, ens.filled())))?;
        // Values next to the points: the exact numbers matter more than the slope here.
        // The higher of the two values goes above its point, the lower below, each in its series' colour.
        let (up, down) = (Pos::new(HPos::Center, VPos::Bottom), Pos::new(HPos::Center, VPos::Top));
        for x in &s {
            for (v, other, col) in [(x.head_acc, x.ensemble_acc, head), (x.ensemble_acc, x.head_acc, ens)] {
                if !v.is_finite() {
                    continue;
                }
                let above = v > other || (v == other && col == head);
                let (pos, dy) = if above { (up, -7) } else { (down, 7) };
                let p = chart.backend_coord(&(x.stage as f64, v));
                root.draw_text(&format!("{v:.2}"), &font(11.0).color(&col).pos(pos), (p.0, p.1 + dy))?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font(font(13.0))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// Training loss and accuracy against epoch, one colour per stage; vertical dashed lines after the epochs
/// in `lr_steps` mark where the learning rate was decayed. Epochs count within a stage (each greedy stage
/// restarts its schedule; DGL stages share one), so stages overlay on one axis.
pub fn training_curves_png(records: &[EpochRecord], lr_steps: &[usize], path: &Path) -> Result<()> {
    if records.is_empty() {
        return Err(Error::data(path, "no epoch records to plot"));
    }
    let mut by_stage: BTreeMap<usize, Vec<&EpochRecord>> = BTreeMap::new();
    for r in records {
        by_stage.entry(r.stage).or_default().push(r);
    }
    for v in by_stage.values_mut() {
        v.sort_by_key(|r| r.epoch);
    }
    let max_epoch = records.iter().map(|r| r.epoch).max().unwrap_or(1).max(1);
    let x_range = 0.5..max_epoch as f64 + 0.5;
    let (l_lo, l_hi) = padded_range(records.iter().map(|r| r.train_loss), 0.05);
    let l_lo = l_lo.max(0.0);
    let (a_lo, a_hi) = padded_range(records.iter().flat_map(|r| [r.train_acc, r.head_acc()]), 0.05);
    let (a_lo, a_hi) = (a_lo.max(0.0), a_hi.min(100.0));
    let (a_lo, a_hi) = if a_hi > a_lo { (a_lo, a_hi) } else { (0.0, 100.0) };
    let steps: Vec<f64> = lr_steps.iter().filter(|&&s| s >= 1 && s < max_epoch).map(|&s| s as f64 + 0.5).collect();
    let method = records[0].method.clone();
    let int_label =
        |v: &f64| if (v - v.round()).abs() < 1e-9 { format!("{}", v.round() as i64) } else { String::new() };

    render(path, 1200, 460, |root| {
        root.fill(&WHITE)?;
        let (left, right) = root.split_horizontally(600);
        for (panel, area) in [(0, left), (1, right)] {
            let (title, y_desc, yr) = if panel == 0 {
                (format!("training loss ({method})"), "loss", l_lo..l_hi)
            } else {
                ("accuracy: validation (solid), training (dashed)".to_string(), "accuracy (%)", a_lo..a_hi)
            };
            let mut chart = ChartBuilder::on(&area)
                .caption(title, font(16.0))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(56)
                .build_cartesian_2d(x_range.clone(), yr.clone())?;
            chart
                .configure_mesh()
                .max_light_lines(1)
                .light_line_style(RGBColor(242, 242, 242))
                .bold_line_style(RGBColor(215, 215, 215))
                .x_desc("epoch within stage")
                .y_desc(y_desc)
                .x_labels(max_epoch.min(12) + 1)
                .x_label_formatter(&int_label)
                .label_style(font(12.0))
                .axis_desc_style(font(13.0))
                .draw()?;
            let grey = RGBColor(120, 120, 120);
            for &x in &steps {
                chart.draw_series(DashedLineSeries::new([(x, yr.start), (x, yr.end)], 6, 4, grey.stroke_width(1)))?;
                let top = chart.backend_coord(&(x, yr.end));
                area.draw_text("LR step", &font(10.0).color(&grey), (top.0 + 3 - area.get_base_pixel().0, top.1 + 2))?;
            }
            for (&stage, recs) in &by_stage {
                let col = rgb_color(palette(stage));
                let pts = |f: fn(&EpochRecord) -> f64| -> Vec<(f64, f64)> {
                    recs.iter().map(|r| (r.epoch as f64, f(r))).filter(|p| p.1.is_finite()).collect()
                };
                let main = if panel == 0 { pts(|r| r.train_loss) } else { pts(|r| r.head_acc()) };
                chart
                    .draw_series(LineSeries::new(main.clone(), col.stroke_width(2)))?
                    .label(format!("stage {stage}"))
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], col.stroke_width(2)));
                chart.draw_series(main.iter().map(|&p| Circle::new(p, 3, col.filled())))?;
                if panel == 1 {
                    chart.draw_series(DashedLineSeries::new(pts(|r| r.train_acc), 5, 3, col.stroke_width(1)))?;
                }
            }
            chart
                .configure_series_labels()
                .position(if panel == 0 { SeriesLabelPosition::UpperRight } else { SeriesLabelPosition::LowerRight })
                .label_font(font(12.0))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;
        }
        Ok(())
    })
}
