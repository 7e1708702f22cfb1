//! The report's charts (accuracy against depth, training curves) and what every chart is drawn with.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::ops::Range;
use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::raster::{palette, rgb_color, save_rgb_png};
use super::text::{ensure_font, FixedText, FAMILY};
use crate::error::{Error, Result};
use crate::metrics::{EpochRecord, StageSummary};

pub(super) type Area<'a> = DrawingArea<FixedText<'a>, Shift>;
pub(super) type DrawResult = std::result::Result<(), Box<dyn StdError>>;

/// Draw into a white w x h RGB buffer with plotters, then write it as a PNG.
pub(super) fn render(path: &Path, w: u32, h: u32, draw: impl FnOnce(&Area<'_>) -> DrawResult) -> Result<()> {
    ensure_font()?;
    let mut buf = vec![255u8; w as usize * h as usize * 3];
    {
        let root = FixedText(BitMapBackend::with_buffer(&mut buf, (w, h))).into_drawing_area();
        draw(&root).map_err(|e| Error::data(path, format!("drawing: {e}")))?;
        root.present().map_err(|e| Error::data(path, format!("drawing: {e}")))?;
    }
    save_rgb_png(path, w, h, &buf)
}

pub(super) fn font(size: f64) -> FontDesc<'static> {
    (FAMILY, size).into_font()
}

/// (lo, hi) of the finite values with a relative margin; a usable range even for one value or none.
pub(super) fn padded_range(vals: impl IntoIterator<Item = f64>, margin: f64) -> (f64, f64) {
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

/// A chart with f64 axes drawn into the report's backend.
type Chart<'a, 'b> = ChartContext<'a, FixedText<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Axis labels at whole numbers only (stages, epochs).
fn int_label(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        String::new()
    }
}

/// The stage axis and the accuracy axis (within 0..100, with a margin) of summaries sorted by stage.
fn depth_ranges(s: &[&StageSummary]) -> (Range<f64>, Range<f64>) {
    let (x_lo, x_hi) = (s[0].stage as f64 - 0.5, s[s.len() - 1].stage as f64 + 0.5);
    let (lo, hi) = padded_range(s.iter().flat_map(|x| [x.head_acc, x.ensemble_acc]), 0.1);
    let (y_lo, y_hi) = (lo.max(0.0), hi.min(100.0));
    let (y_lo, y_hi) = if y_hi > y_lo { (y_lo, y_hi) } else { (0.0, 100.0) };
    (x_lo..x_hi, y_lo..y_hi)
}

/// The colours of the own-head and the ensemble curves.
fn depth_colours() -> (RGBColor, RGBColor) {
    (rgb_color(palette(0)), rgb_color(palette(1)))
}

/// Own-head accuracy (line and circles) and the ensemble's (line and triangles) against the stage.
fn draw_depth_curves(chart: &mut Chart<'_, '_>, s: &[&StageSummary]) -> DrawResult {
    let (head, ens) = depth_colours();
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
    Ok(())
}

/// Values next to the points: the exact numbers matter more than the slope here. The higher of the two
/// values goes above its point, the lower below, each in its series' colour.
fn label_depth_points(chart: &Chart<'_, '_>, root: &Area<'_>, s: &[&StageSummary]) -> DrawResult {
    let (head, ens) = depth_colours();
    let (up, down) = (Pos::new(HPos::Center, VPos::Bottom), Pos::new(HPos::Center, VPos::Top));
    for x in s {
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
    Ok(())
}

/// Each stage's own head accuracy and the ensemble's accuracy against depth, the curve that shows what
/// each added stage buys. `summaries`: one per finished stage.
pub fn accuracy_vs_depth_png(summaries: &[StageSummary], path: &Path) -> Result<()> {
    if summaries.is_empty() {
        return Err(Error::data(path, "no finished stages to plot"));
    }
    let mut s: Vec<&StageSummary> = summaries.iter().collect();
    s.sort_by_key(|x| x.stage);
    let (x_range, y_range) = depth_ranges(&s);
    render(path, 760, 440, |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption("validation accuracy against depth", font(18.0))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(x_range, y_range)?;
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
        draw_depth_curves(&mut chart, &s)?;
        label_depth_points(&chart, root, &s)?;
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

/// The epoch axis of the training curves: epochs 1..=max_epoch within a stage, and where the learning
/// rate was decayed (between epoch s and s + 1 for each step s).
struct EpochAxis {
    max_epoch: usize,
    lr_steps: Vec<f64>,
}

impl EpochAxis {
    fn new(records: &[EpochRecord], lr_steps: &[usize]) -> EpochAxis {
        let max_epoch = records.iter().map(|r| r.epoch).max().unwrap_or(1).max(1);
        let lr_steps = lr_steps.iter().filter(|&&s| s >= 1 && s < max_epoch).map(|&s| s as f64 + 0.5).collect();
        EpochAxis { max_epoch, lr_steps }
    }
    fn range(&self) -> Range<f64> {
        0.5..self.max_epoch as f64 + 0.5
    }
}

/// One of the two panels of the training curves: the value each stage's solid line shows (and its dashed
/// one, if any), with the panel's title, y axis and legend corner.
struct CurvesPanel {
    title: String,
    y_desc: &'static str,
    y_range: Range<f64>,
    solid: fn(&EpochRecord) -> f64,
    dashed: Option<fn(&EpochRecord) -> f64>,
    legend: SeriesLabelPosition,
}

/// The loss panel and the accuracy panel, their y ranges fitted to `records`.
fn curves_panels(records: &[EpochRecord]) -> [CurvesPanel; 2] {
    let (l_lo, l_hi) = padded_range(records.iter().map(|r| r.train_loss), 0.05);
    let (a_lo, a_hi) = padded_range(records.iter().flat_map(|r| [r.train_acc, r.head_acc()]), 0.05);
    let (a_lo, a_hi) = (a_lo.max(0.0), a_hi.min(100.0));
    let (a_lo, a_hi) = if a_hi > a_lo { (a_lo, a_hi) } else { (0.0, 100.0) };
    [
        CurvesPanel {
            title: format!("training loss ({})", records[0].method),
            y_desc: "loss",
            y_range: l_lo.max(0.0)..l_hi,
            solid: |r| r.train_loss,
            dashed: None,
            legend: SeriesLabelPosition::UpperRight,
        },
        CurvesPanel {
            title: "accuracy: validation (solid), training (dashed)".to_string(),
            y_desc: "accuracy (%)",
            y_range: a_lo..a_hi,
            solid: |r| r.head_acc(),
            dashed: Some(|r| r.train_acc),
            legend: SeriesLabelPosition::LowerRight,
        },
    ]
}

/// A dashed vertical line, labelled "LR step", at each learning-rate decay.
fn draw_lr_steps(chart: &mut Chart<'_, '_>, area: &Area<'_>, axis: &EpochAxis, y: &Range<f64>) -> DrawResult {
    let grey = RGBColor(120, 120, 120);
    for &x in &axis.lr_steps {
        chart.draw_series(DashedLineSeries::new([(x, y.start), (x, y.end)], 6, 4, grey.stroke_width(1)))?;
        let top = chart.backend_coord(&(x, y.end));
        area.draw_text("LR step", &font(10.0).color(&grey), (top.0 + 3 - area.get_base_pixel().0, top.1 + 2))?;
    }
    Ok(())
}

/// One panel: axes, LR steps, one colour per stage, legend.
fn draw_curves_panel(
    area: &Area<'_>,
    panel: &CurvesPanel,
    axis: &EpochAxis,
    by_stage: &BTreeMap<usize, Vec<&EpochRecord>>,
) -> DrawResult {
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, font(16.0))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(axis.range(), panel.y_range.clone())?;
    chart
        .configure_mesh()
        .max_light_lines(1)
        .light_line_style(RGBColor(242, 242, 242))
        .bold_line_style(RGBColor(215, 215, 215))
        .x_desc("epoch within stage")
        .y_desc(panel.y_desc)
        .x_labels(axis.max_epoch.min(12) + 1)
        .x_label_formatter(&int_label)
        .label_style(font(12.0))
        .axis_desc_style(font(13.0))
        .draw()?;
    draw_lr_steps(&mut chart, area, axis, &panel.y_range)?;
    for (&stage, recs) in by_stage {
        let col = rgb_color(palette(stage));
        let pts = |f: fn(&EpochRecord) -> f64| -> Vec<(f64, f64)> {
            recs.iter().map(|r| (r.epoch as f64, f(r))).filter(|p| p.1.is_finite()).collect()
        };
        let main = pts(panel.solid);
        chart
            .draw_series(LineSeries::new(main.clone(), col.stroke_width(2)))?
            .label(format!("stage {stage}"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], col.stroke_width(2)));
        chart.draw_series(main.iter().map(|&p| Circle::new(p, 3, col.filled())))?;
        if let Some(dashed) = panel.dashed {
            chart.draw_series(DashedLineSeries::new(pts(dashed), 5, 3, col.stroke_width(1)))?;
        }
    }
    chart
        .configure_series_labels()
        .position(panel.legend.clone())
        .label_font(font(12.0))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
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
    let axis = EpochAxis::new(records, lr_steps);
    let panels = curves_panels(records);
    render(path, 1200, 460, |root| {
        root.fill(&WHITE)?;
        let (left, right) = root.split_horizontally(600);
        for (panel, area) in panels.iter().zip([left, right]) {
            draw_curves_panel(&area, panel, &axis, &by_stage)?;
        }
        Ok(())
    })
}
