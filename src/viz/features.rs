//! What a stage's output looks like on a few fixed images: one row per image, the image first, then the
//! stage's most active channels as grey maps.

use std::path::Path;

use super::raster::{text_width, Align, Canvas, Rgb, BLACK_PX, FRAME_PX, WHITE_PX};
use super::FeatureSample;
use crate::error::{Error, Result};

/// Rows drawn at most (the trainer may pass more images).
pub const MAX_FEATURE_IMAGES: usize = 16;

const GUTTER: u32 = 8;
const HEADER: u32 = 30;
const COL_HEAD: u32 = 16;
/// Cells are about this many pixels; small maps are enlarged by an integer factor to fill them.
const CELL: u32 = 64;

/// The channels `feature_maps_png` draws: the `max_channels` with the largest mean activation over all the
/// images and positions, largest first (ties by index). `maps`: [n, H, W, C].
pub fn strongest_channels(sample: &FeatureSample, max_channels: usize) -> Vec<usize> {
    let c = sample.channels;
    let mut sum = vec![0.0f64; c];
    if c > 0 {
        for px in sample.maps.chunks_exact(c) {
            for (s, &v) in sum.iter_mut().zip(px) {
                if v.is_finite() {
                    *s += v as f64;
                }
            }
        }
    }
    let mut idx: Vec<usize> = (0..c).collect();
    idx.sort_by(|&a, &b| sum[b].total_cmp(&sum[a]));
    idx.truncate(max_channels);
    idx
}

/// The number of images, once `images` and `sample.maps` are checked to hold whole images of the same n.
fn count_images(images: &[u8], input_shape: [usize; 3], sample: &FeatureSample, path: &Path) -> Result<usize> {
    let [ih, iw, ic] = input_shape;
    let (h, w, c) = (sample.height, sample.width, sample.channels);
    let bad = |msg: String| Error::data(path, msg);
    if ih * iw * ic == 0 || images.is_empty() || images.len() % (ih * iw * ic) != 0 {
        return Err(bad(format!(
            "{} image bytes do not make whole images of {:?} (H, W, C)",
            images.len(),
            input_shape
        )));
    }
    let n = images.len() / (ih * iw * ic);
    if h * w * c == 0 || sample.maps.len() != n * h * w * c {
        return Err(bad(format!(
            "stage {} feature maps hold {} values, expected {} images x {h}x{w}x{c}",
            sample.stage,
            sample.maps.len(),
            n
        )));
    }
    Ok(n)
}

/// Where things go: square cells of `cell` pixels `cell_w` apart, the input image in the first column
/// enlarged `in_scale` times, the maps from `maps_x` on enlarged `fm_scale` times.
struct Layout {
    cell: u32,
    cell_w: u32,
    in_scale: u32,
    fm_scale: u32,
    maps_x: u32,
}

impl Layout {
    fn new([ih, iw, _]: [usize; 3], sample: &FeatureSample) -> Layout {
        let (h, w) = (sample.height, sample.width);
        let cell = CELL.max(ih.max(iw) as u32).max(h.max(w) as u32);
        let cell_w = cell + GUTTER;
        Layout {
            cell,
            cell_w,
            in_scale: (cell / ih.max(iw) as u32).max(1),
            fm_scale: (cell / h.max(w) as u32).max(1),
            maps_x: GUTTER + cell_w + GUTTER,
        }
    }
    /// The top of image row i.
    fn row_y(&self, i: usize) -> u32 {
        HEADER + COL_HEAD + i as u32 * (self.cell + GUTTER)
    }
}

/// One grey scale per drawn channel over the first `rows` images: (black, white) = (min(0, lowest), highest).
fn channel_scales(sample: &FeatureSample, chans: &[usize], rows: usize) -> Vec<(f64, f64)> {
    let (plane, c) = (sample.height * sample.width, sample.channels);
    chans
        .iter()
        .map(|&ch| {
            let (mut lo, mut hi) = (0.0f64, f64::NEG_INFINITY);
            for i in 0..rows {
                for p in 0..plane {
                    let v = sample.maps[(i * plane + p) * c + ch] as f64;
                    if v.is_finite() {
                        lo = lo.min(v);
                        hi = hi.max(v);
                    }
                }
            }
            (lo, hi)
        })
        .collect()
}

/// Input image `img` ([H, W, C] bytes; grey unless C = 3) in the first cell of the row at y.
fn draw_input(cv: &mut Canvas, l: &Layout, y: u32, img: &[u8], [ih, iw, ic]: [usize; 3]) {
    let (dw, dh) = (iw as u32 * l.in_scale, ih as u32 * l.in_scale);
    let (x, yy) = (GUTTER + (l.cell - dw) / 2, y + (l.cell - dh) / 2);
    cv.blit_scaled(x, yy, ih, iw, l.in_scale, |r, cc| {
        let p = &img[(r * iw + cc) * ic..(r * iw + cc + 1) * ic];
        if ic == 3 {
            [p[0], p[1], p[2]]
        } else {
            [p[0], p[0], p[0]]
        }
    });
    cv.frame(x, yy, dw, dh, FRAME_PX);
}

/// Image i's maps of `chans`, each in its channel's grey scale, along the row at y.
fn draw_maps(
    cv: &mut Canvas,
    l: &Layout,
    y: u32,
    i: usize,
    sample: &FeatureSample,
    chans: &[usize],
    scales: &[(f64, f64)],
) {
    let (h, w, c) = (sample.height, sample.width, sample.channels);
    let (dw, dh) = (w as u32 * l.fm_scale, h as u32 * l.fm_scale);
    for (j, (&ch, &(lo, hi))) in chans.iter().zip(scales).enumerate() {
        let x = l.maps_x + j as u32 * l.cell_w + (l.cell - dw) / 2;
        let yy = y + (l.cell - dh) / 2;
        cv.blit_scaled(x, yy, h, w, l.fm_scale, |r, cc| {
            grey(sample.maps[((i * h + r) * w + cc) * c + ch] as f64, lo, hi)
        });
        cv.frame(x, yy, dw, dh, FRAME_PX);
    }
}

/// Draw the feature maps of one stage next to the input images and write them as a PNG.
/// `images`: [n, H, W, C] bytes with `input_shape` = [H, W, C]; `sample.maps`: [n, h, w, c] on the same
/// n images. Each channel's column uses one grey scale over all rows: black at min(0, its lowest value),
/// white at its highest, so rows can be compared.
pub fn feature_maps_png(
    images: &[u8],
    input_shape: [usize; 3],
    sample: &FeatureSample,
    path: &Path,
    max_channels: usize,
) -> Result<()> {
    let n = count_images(images, input_shape, sample, path)?;
    if max_channels == 0 {
        return Err(Error::data(path, "max_channels must be at least 1"));
    }
    let rows = n.min(MAX_FEATURE_IMAGES);
    let chans = strongest_channels(sample, max_channels);
    let l = Layout::new(input_shape, sample);
    let title = format!(
        "stage {}: output {}x{}x{}; the {} channels with the largest mean activation",
        sample.stage,
        sample.height,
        sample.width,
        sample.channels,
        chans.len()
    );
    let width = (l.maps_x + chans.len() as u32 * l.cell_w).max(text_width(&title, 15.0)? + 2 * GUTTER);
    let height = l.row_y(rows) + GUTTER;
    let mut cv = Canvas::new(width, height, WHITE_PX);
    cv.text(&title, GUTTER as i32, 8, 15.0, Align::Left, BLACK_PX)?;
    cv.text("input", (GUTTER + l.cell / 2) as i32, HEADER as i32, 11.0, Align::Center, BLACK_PX)?;
    for (j, &ch) in chans.iter().enumerate() {
        let x = l.maps_x + j as u32 * l.cell_w;
        cv.text(&format!("ch {ch}"), (x + l.cell / 2) as i32, HEADER as i32, 11.0, Align::Center, BLACK_PX)?;
    }
    let scales = channel_scales(sample, &chans, rows);
    let in_img = input_shape.iter().product::<usize>();
    for i in 0..rows {
        let y = l.row_y(i);
        draw_input(&mut cv, &l, y, &images[i * in_img..(i + 1) * in_img], input_shape);
        draw_maps(&mut cv, &l, y, i, sample, &chans, &scales);
    }
    cv.save_png(path)
}

fn grey(v: f64, lo: f64, hi: f64) -> Rgb {
    if !v.is_finite() {
        return [255, 0, 0];
    }
    let g = if hi > lo { (255.0 * (v - lo) / (hi - lo)).round().clamp(0.0, 255.0) as u8 } else { 0 };
    [g, g, g]
}
