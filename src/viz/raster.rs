//! A plain RGB pixel buffer for the report's images: nearest-neighbour blocks for weights and feature
//! maps, text from the embedded font, PNG output.

use std::path::Path;

use plotters::prelude::RGBColor;

use super::text::{ensure_font, measure, rasterize};
use crate::error::{Error, Result};

pub(crate) type Rgb = [u8; 3];

pub(crate) const WHITE_PX: Rgb = [255, 255, 255];
pub(crate) const BLACK_PX: Rgb = [0, 0, 0];
/// The frame drawn around every weight or feature tile: a blue no grey value can be mistaken for.
pub(crate) const FRAME_PX: Rgb = [70, 100, 170];

/// Horizontal placement of a text's anchor point.
#[derive(Clone, Copy)]
pub(crate) enum Align {
    Left,
    Center,
}

pub(crate) struct Canvas {
    pub w: u32,
    pub h: u32,
    /// Row-major RGB, 3 bytes per pixel.
    pub buf: Vec<u8>,
}

impl Canvas {
    pub fn new(w: u32, h: u32, bg: Rgb) -> Self {
        let mut buf = Vec::with_capacity(w as usize * h as usize * 3);
        for _ in 0..w as usize * h as usize {
            buf.extend_from_slice(&bg);
        }
        Canvas { w, h, buf }
    }

    pub fn put(&mut self, x: u32, y: u32, c: Rgb) {
        if x < self.w && y < self.h {
            let i = (y as usize * self.w as usize + x as usize) * 3;
            self.buf[i..i + 3].copy_from_slice(&c);
        }
    }

    pub fn rect(&mut self, x: u32, y: u32, w: u32, h: u32, c: Rgb) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.put(xx, yy, c);
            }
        }
    }

    /// A one-pixel frame just outside the box (x, y, w, h).
    pub fn frame(&mut self, x: u32, y: u32, w: u32, h: u32, c: Rgb) {
        let (x0, y0) = (x.saturating_sub(1), y.saturating_sub(1));
        let (x1, y1) = (x + w, y + h);
        for xx in x0..=x1 {
            self.put(xx, y0, c);
            self.put(xx, y1, c);
        }
        for yy in y0..=y1 {
            self.put(x0, yy, c);
            self.put(x1, yy, c);
        }
    }

    /// Draw a `ph` x `pw` patch of colours (row-major) with each source pixel as a `scale` x `scale` block.
    pub fn blit_scaled(&mut self, x: u32, y: u32, ph: usize, pw: usize, scale: u32, px: impl Fn(usize, usize) -> Rgb) {
        for r in 0..ph {
            for c in 0..pw {
                let col = px(r, c);
                self.rect(x + c as u32 * scale, y + r as u32 * scale, scale, scale, col);
            }
        }
    }

    /// Draw `text` with its anchor at (x, y): `align` says which side of the text x is, y is its top.
    pub fn text(&mut self, text: &str, x: i32, y: i32, size: f64, align: Align, color: Rgb) -> Result<()> {
        ensure_font()?;
        let (w, _) = measure(text, size);
        let x0 = match align {
            Align::Left => x,
            Align::Center => x - w as i32 / 2,
        };
        rasterize(text, size, |dx, dy, cov| {
            let (px, py) = (x0 + dx, y + dy);
            if px < 0 || py < 0 || px as u32 >= self.w || py as u32 >= self.h {
                return;
            }
            let a = cov.clamp(0.0, 1.0);
            let i = (py as usize * self.w as usize + px as usize) * 3;
            for (k, &c) in color.iter().enumerate() {
                let bg = self.buf[i + k] as f32;
                self.buf[i + k] = (bg + (c as f32 - bg) * a).round() as u8;
            }
        });
        Ok(())
    }

    pub fn save_png(&self, path: &Path) -> Result<()> {
        save_rgb_png(path, self.w, self.h, &self.buf)
    }
}

/// Encode an RGB buffer as PNG, written atomically (never a half-written image). The encoder writes no
/// time or other ancillary chunks, so equal pixels give equal files.
pub(crate) fn save_rgb_png(path: &Path, w: u32, h: u32, rgb: &[u8]) -> Result<()> {
    let mut png = Vec::new();
    let enc = image::codecs::png::PngEncoder::new(&mut png);
    image::ImageEncoder::write_image(enc, rgb, w, h, image::ExtendedColorType::Rgb8)
        .map_err(|e| Error::data(path, format!("writing PNG: {e}")))?;
    crate::fsutil::atomic_write(path, &png)
}

/// Width in pixels of `text` at `size` in the embedded font (for laying out labels).
pub(crate) fn text_width(text: &str, size: f64) -> Result<u32> {
    ensure_font()?;
    Ok(measure(text, size).0)
}

/// Map a weight to a grey level with 0 at mid-grey (128) and +-`max_abs` at 255 / 1, so the sign of every
/// weight reads directly from the image. Non-finite weights (a diverged run) are drawn red.
pub(crate) fn signed_grey(v: f64, max_abs: f64) -> Rgb {
    if !v.is_finite() {
        return [255, 0, 0];
    }
    let g = if max_abs > 0.0 { 128.0 + 127.0 * (v / max_abs).clamp(-1.0, 1.0) } else { 128.0 };
    let g = g.round() as u8;
    [g, g, g]
}

/// One colour channel of an RGB filter, normalised as in `signed_grey`.
pub(crate) fn signed_level(v: f64, max_abs: f64) -> u8 {
    signed_grey(if v.is_finite() { v } else { 0.0 }, max_abs)[0]
}

/// Largest |v| over the finite values (0 when there are none).
pub(crate) fn max_abs(v: impl IntoIterator<Item = f64>) -> f64 {
    v.into_iter().filter(|x| x.is_finite()).fold(0.0, |m, x| m.max(x.abs()))
}

/// Colours for classes and stages: ten well-separated hues, then evenly spaced hues beyond.
pub(crate) fn palette(i: usize) -> Rgb {
    const BASE: [Rgb; 10] = [
        [31, 119, 180],
        [255, 127, 14],
        [44, 160, 44],
        [214, 39, 40],
        [148, 103, 189],
        [140, 86, 75],
        [227, 119, 194],
        [127, 127, 127],
        [188, 189, 34],
        [23, 190, 207],
    ];
    if i < BASE.len() {
        return BASE[i];
    }
    // Golden-angle hue steps never repeat and stay apart for any count.
    let hue = ((i - BASE.len()) as f64 * 137.507_764) % 360.0;
    hsv(hue, 0.65, 0.8)
}

fn hsv(h: f64, s: f64, v: f64) -> Rgb {
    let c = v * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let m = v - c;
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let to = |f: f64| ((f + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    [to(r), to(g), to(b)]
}

pub(crate) fn rgb_color(c: Rgb) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

/// Integer nearest-neighbour scale that makes `size` pixels about `target` pixels (at least `min`).
pub(crate) fn scale_for(size: usize, target: u32, min: u32) -> u32 {
    (target.div_ceil(size.max(1) as u32)).max(min)
}
