//! What a stage's convolution learned, drawn from its weights.
//!
//! Two views, chosen by how many input channels a filter has once space-to-depth is undone:
//! - patches (1 or 3 channels, i.e. filters on the image): each filter as a grey or RGB patch;
//! - slices (many channels): the strongest filters, each as a row of its strongest input-channel slices.
//!
//! In both, a filter is normalised symmetrically around 0 by its own largest |weight|: 0 is mid-grey, the
//! largest positive weight white, the largest negative black. A filter's shape is what matters, and a
//! shared scale would leave most filters flat grey.

use std::path::Path;

use super::raster::{
    max_abs, scale_for, signed_grey, signed_level, text_width, Align, Canvas, BLACK_PX, FRAME_PX, WHITE_PX,
};
use super::StageWeights;
use crate::error::{Error, Result};

/// Input slices drawn per filter in the slice view.
pub const SLICES_PER_FILTER: usize = 8;

/// How a filter grid draws its filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterView {
    /// Each filter as one patch: grey (`rgb == false`, 1 channel) or colour (3 channels).
    Patches { rgb: bool },
    /// Each filter as a row of its `per_filter` strongest input-channel slices.
    Slices { per_filter: usize },
}

/// Where one drawn patch (a whole filter, or one input-channel slice of it) lies in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterTile {
    /// Output filter index (into Cout).
    pub filter: usize,
    /// The input channel of the slice, in the channels as drawn (after undoing space-to-depth); `None` in
    /// the patch view.
    pub channel: Option<usize>,
    /// Top-left pixel and size; each kernel tap is a (width / kernel_w) x (height / kernel_h) block.
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// A rendered filter grid, before it is written out.
#[derive(Debug, Clone)]
pub struct FilterGrid {
    pub width: u32,
    pub height: u32,
    /// Row-major RGB pixels: [height, width, 3].
    pub rgb: Vec<u8>,
    pub view: FilterView,
    /// The kernel as drawn, [KH, KW, C]: with space-to-depth undone, [2 KH, 2 KW, Cin / 4].
    pub kernel: [usize; 3],
    /// Whether the space-to-depth rearrangement was undone.
    pub unfolded: bool,
    /// Filters drawn (in drawing order) out of Cout.
    pub filters_shown: Vec<usize>,
    pub tiles: Vec<FilterTile>,
}

/// Draw a stage's filters (at most `max_filters` of them) and write the grid as a PNG.
pub fn filter_grid_png(w: &StageWeights, path: &Path, max_filters: usize) -> Result<()> {
    let g = render_filter_grid(w, max_filters)?;
    super::raster::save_rgb_png(path, g.width, g.height, &g.rgb)
}

/// The weights in the layout they are drawn in: [Cout][KH'][KW'][C'].
struct Kernels {
    cout: usize,
    kh: usize,
    kw: usize,
    c: usize,
    unfolded: bool,
    data: Vec<f64>,
}

impl Kernels {
    fn at(&self, o: usize, y: usize, x: usize, c: usize) -> f64 {
        self.data[((o * self.kh + y) * self.kw + x) * self.c + c]
    }
    fn filter(&self, o: usize) -> &[f64] {
        let n = self.kh * self.kw * self.c;
        &self.data[o * n..(o + 1) * n]
    }
}

/// Undo space-to-depth where the stage began with it: input channel (dh * 2 + dw) * C_prev + c at tap
/// (kh, kw) of the downsampled map reads the previous map at offset (2 kh + dh, 2 kw + dw), so each filter
/// is a [2 KH, 2 KW, C_prev] filter over the previous stage's output, which is what it "sees".
fn kernels(w: &StageWeights) -> Result<Kernels> {
    let [cout, kh, kw, cin] = w.shape;
    let what = || format!("filters of stage {}", w.stage);
    if cout == 0 || kh == 0 || kw == 0 || cin == 0 {
        return Err(Error::data(what(), format!("empty weight shape {:?}", w.shape)));
    }
    if w.weights.len() != cout * kh * kw * cin {
        return Err(Error::data(
            what(),
            format!("shape {:?} needs {} weights, got {}", w.shape, cout * kh * kw * cin, w.weights.len()),
        ));
    }
    let src = |o: usize, y: usize, x: usize, c: usize| w.weights[((o * kh + y) * kw + x) * cin + c] as f64;
    if !(w.space_to_depth && cin % 4 == 0) {
        let data = (0..cout * kh * kw * cin).map(|i| w.weights[i] as f64).collect();
        return Ok(Kernels { cout, kh, kw, c: cin, unfolded: false, data });
    }
    let cp = cin / 4;
    let (kh2, kw2) = (2 * kh, 2 * kw);
    let mut data = vec![0.0; cout * kh2 * kw2 * cp];
    for o in 0..cout {
        for y in 0..kh {
            for x in 0..kw {
                for dh in 0..2 {
                    for dw in 0..2 {
                        for c in 0..cp {
                            let dst = ((o * kh2 + 2 * y + dh) * kw2 + 2 * x + dw) * cp + c;
                            data[dst] = src(o, y, x, (dh * 2 + dw) * cp + c);
                        }
                    }
                }
            }
        }
    }
    Ok(Kernels { cout, kh: kh2, kw: kw2, c: cp, unfolded: true, data })
}

fn sq_norm(v: &[f64]) -> f64 {
    v.iter().filter(|x| x.is_finite()).map(|x| x * x).sum()
}

/// Indices 0..n sorted by `key` largest first; ties keep index order, so the choice is reproducible.
fn strongest(n: usize, key: impl Fn(usize) -> f64) -> Vec<usize> {
    let keys: Vec<f64> = (0..n).map(key).collect();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| keys[b].total_cmp(&keys[a]));
    idx
}

/// The view `write_report` uses for these weights (patches for filters on 1 or 3 channels).
pub fn filter_view(w: &StageWeights) -> FilterView {
    let [_, _, _, cin] = w.shape;
    let c = if w.space_to_depth && cin % 4 == 0 { cin / 4 } else { cin };
    match c {
        1 => FilterView::Patches { rgb: false },
        3 => FilterView::Patches { rgb: true },
        _ => FilterView::Slices { per_filter: SLICES_PER_FILTER.min(c) },
    }
}

/// Render a stage's filter grid. Patch view: all filters in index order when they fit in `max_filters`,
/// else the `max_filters` with the largest L2 norm, strongest first. Slice view: always the strongest.
pub fn render_filter_grid(w: &StageWeights, max_filters: usize) -> Result<FilterGrid> {
    if max_filters == 0 {
        return Err(Error::data(format!("filters of stage {}", w.stage), "max_filters must be at least 1"));
    }
    let k = kernels(w)?;
    let view = filter_view(w);
    let norms: Vec<f64> = (0..k.cout).map(|o| sq_norm(k.filter(o))).collect();
    let shown: Vec<usize> = match view {
        FilterView::Patches { .. } if k.cout <= max_filters => (0..k.cout).collect(),
        _ => strongest(k.cout, |o| norms[o]).into_iter().take(max_filters).collect(),
    };
    let mut title = format!("stage {}: {} filters {}x{}x{}", w.stage, k.cout, w.shape[1], w.shape[2], w.shape[3]);
    if k.unfolded {
        title += &format!(", drawn as {}x{}x{} on the previous map", k.kh, k.kw, k.c);
    }
    if shown.len() < k.cout {
        title += &format!(" ({} strongest)", shown.len());
    }
    match view {
        FilterView::Patches { rgb } => patches(&k, &shown, rgb, &title, view),
        FilterView::Slices { per_filter } => slices(&k, &shown, &norms, per_filter, &title, view),
    }
}

const GUTTER: u32 = 8;
const HEADER: u32 = 30;
const TITLE_PX: f64 = 15.0;
const LABEL_PX: f64 = 11.0;
const LABEL_H: u32 = 14;

fn patches(k: &Kernels, shown: &[usize], rgb: bool, title: &str, view: FilterView) -> Result<FilterGrid> {
    let scale = scale_for(k.kh.max(k.kw), 48, 2);
    let (tw, th) = (k.kw as u32 * scale, k.kh as u32 * scale);
    let n = shown.len() as u32;
    let cols = ((n as f64).sqrt().ceil() as u32).clamp(1, n.max(1));
    let rows = n.div_ceil(cols);
    let (cell_w, cell_h) = (tw + GUTTER, LABEL_H + th + GUTTER);
    let grid_w = GUTTER + cols * cell_w;
    let width = grid_w.max(text_width(title, TITLE_PX)? + 2 * GUTTER);
    let height = HEADER + rows * cell_h + GUTTER;
    let x0 = (width - grid_w) / 2 + GUTTER;

    let mut cv = Canvas::new(width, height, WHITE_PX);
    cv.text(title, GUTTER as i32, 8, TITLE_PX, Align::Left, BLACK_PX)?;
    let mut tiles = Vec::with_capacity(shown.len());
    for (i, &o) in shown.iter().enumerate() {
        let (col, row) = (i as u32 % cols, i as u32 / cols);
        let x = x0 + col * cell_w;
        let y = HEADER + row * cell_h + LABEL_H;
        let m = max_abs(k.filter(o).iter().copied());
        if rgb {
            cv.blit_scaled(x, y, k.kh, k.kw, scale, |r, c| {
                [
                    signed_level(k.at(o, r, c, 0), m),
                    signed_level(k.at(o, r, c, 1), m),
                    signed_level(k.at(o, r, c, 2), m),
                ]
            });
        } else {
            cv.blit_scaled(x, y, k.kh, k.kw, scale, |r, c| signed_grey(k.at(o, r, c, 0), m));
        }
        cv.frame(x, y, tw, th, FRAME_PX);
        cv.text(&format!("#{o}"), (x + tw / 2) as i32, (y - LABEL_H) as i32, LABEL_PX, Align::Center, BLACK_PX)?;
        tiles.push(FilterTile { filter: o, channel: None, x, y, width: tw, height: th });
    }
    Ok(FilterGrid {
        width,
        height,
        rgb: cv.buf,
        view,
        kernel: [k.kh, k.kw, k.c],
        unfolded: k.unfolded,
        filters_shown: shown.to_vec(),
        tiles,
    })
}

/// Where the slice view puts things: tiles of tw x th pixels (kernel cells enlarged `scale` times), `per`
/// of them `cell_w` apart in each filter's row, filters in `rows` rows per group, `groups` groups side by
/// side, each `group_w` wide.
struct SliceLayout {
    scale: u32,
    tw: u32,
    th: u32,
    per: usize,
    cell_w: u32,
    rows: u32,
    row_h: u32,
    groups: u32,
    group_w: u32,
}

/// Room left of a filter's slices (its index and norm) and right of them (the share they hold).
const SLICE_LEFT_W: u32 = 70;
const SLICE_RIGHT_W: u32 = 96;

impl SliceLayout {
    fn new(k: &Kernels, filters: usize, per: usize) -> SliceLayout {
        let scale = scale_for(k.kh.max(k.kw), 36, 2);
        let (tw, th) = (k.kw as u32 * scale, k.kh as u32 * scale);
        let n = filters as u32;
        // Two columns of rows once there are many filters, to keep the image closer to a page's shape.
        let groups: u32 = if n > 8 { 2 } else { 1 };
        let cell_w = tw.max(28) + GUTTER;
        SliceLayout {
            scale,
            tw,
            th,
            per,
            cell_w,
            rows: n.div_ceil(groups),
            row_h: th + LABEL_H + GUTTER,
            groups,
            group_w: SLICE_LEFT_W + per as u32 * cell_w + SLICE_RIGHT_W,
        }
    }
}

/// Filter o's row with its top-left corner at (gx, y): index and norm, its `per` strongest input slices
/// (each tile recorded in `tiles`), and the share of |w|² they hold.
fn draw_slice_row(
    cv: &mut Canvas,
    k: &Kernels,
    l: &SliceLayout,
    o: usize,
    norm_sq: f64,
    (gx, y): (u32, u32),
    tiles: &mut Vec<FilterTile>,
) -> Result<()> {
    let plane = k.kh * k.kw;
    let f = k.filter(o);
    let slice_norm =
        |c: usize| (0..plane).map(|p| f[p * k.c + c]).filter(|x| x.is_finite()).map(|x| x * x).sum::<f64>();
    let order = strongest(k.c, slice_norm);
    let m = max_abs(f.iter().copied());
    cv.text(&format!("#{o}"), gx as i32, y as i32, 13.0, Align::Left, BLACK_PX)?;
    cv.text(&format!("|w| {:.3}", norm_sq.sqrt()), gx as i32, y as i32 + 17, LABEL_PX, Align::Left, BLACK_PX)?;
    let mut energy = 0.0;
    for (j, &c) in order.iter().take(l.per).enumerate() {
        energy += slice_norm(c);
        let x = gx + SLICE_LEFT_W + j as u32 * l.cell_w;
        cv.blit_scaled(x, y, k.kh, k.kw, l.scale, |r, cc| signed_grey(k.at(o, r, cc, c), m));
        cv.frame(x, y, l.tw, l.th, FRAME_PX);
        cv.text(
            &format!("c{c}"),
            (x + l.tw / 2) as i32,
            (y + l.th + 2) as i32,
            LABEL_PX - 1.0,
            Align::Center,
            BLACK_PX,
        )?;
        tiles.push(FilterTile { filter: o, channel: Some(c), x, y, width: l.tw, height: l.th });
    }
    let share = if norm_sq > 0.0 { 100.0 * energy / norm_sq } else { 0.0 };
    let rx = (gx + SLICE_LEFT_W + l.per as u32 * l.cell_w + 4) as i32;
    cv.text(&format!("{share:.0}% of |w|²"), rx, y as i32, LABEL_PX, Align::Left, BLACK_PX)?;
    cv.text(&format!("in {} of {}", l.per, k.c), rx, y as i32 + 15, LABEL_PX, Align::Left, BLACK_PX)?;
    Ok(())
}

fn slices(
    k: &Kernels,
    shown: &[usize],
    norms: &[f64],
    per: usize,
    title: &str,
    view: FilterView,
) -> Result<FilterGrid> {
    let l = SliceLayout::new(k, shown.len(), per);
    let grid_w = GUTTER + l.groups * l.group_w;
    let width = grid_w.max(text_width(title, TITLE_PX)? + 2 * GUTTER);
    let height = HEADER + l.rows * l.row_h + GUTTER;
    let mut cv = Canvas::new(width, height, WHITE_PX);
    cv.text(title, GUTTER as i32, 8, TITLE_PX, Align::Left, BLACK_PX)?;
    let mut tiles = Vec::new();
    for (i, &o) in shown.iter().enumerate() {
        let (g, row) = (i as u32 / l.rows, i as u32 % l.rows);
        draw_slice_row(&mut cv, k, &l, o, norms[o], (GUTTER + g * l.group_w, HEADER + row * l.row_h), &mut tiles)?;
    }
    Ok(FilterGrid {
        width,
        height,
        rgb: cv.buf,
        view,
        kernel: [k.kh, k.kw, k.c],
        unfolded: k.unfolded,
        filters_shown: shown.to_vec(),
        tiles,
    })
}
