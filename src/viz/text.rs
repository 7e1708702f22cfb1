//! Text for the report's images, from the embedded font.
//!
//! plotters' own ab_glyph text path places each glyph's bitmap at the pen position without the glyph's
//! left side bearing, which visibly mis-spaces digits ("1 00.0", "98 .3"). So all text is laid out here
//! (pen advance, kerning, bearings) and plotters charts draw through `FixedText`, a bitmap backend whose
//! only change is to use this layout for drawing and measuring text.

use std::sync::OnceLock;

use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use plotters::backend::BitMapBackend;
use plotters::prelude::DrawingBackend;
use plotters::style::text_anchor::{HPos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind};

use crate::error::{Error, Result};

/// DejaVu Sans, compiled in: text renders the same on every machine, with or without fontconfig, which
/// also keeps the PNGs byte-identical across machines.
static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The family name plotters looks fonts up by; plotters needs one registered to build text styles.
pub(crate) const FAMILY: &str = "sans-serif";

fn font() -> Option<&'static FontRef<'static>> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_BYTES).ok()).as_ref()
}

/// Make the embedded font available (to plotters too). Every drawing path calls this first.
pub(crate) fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        font().is_some()
            && plotters::style::register_font(FAMILY, plotters::style::FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::data("assets/fonts/DejaVuSans.ttf", "the embedded font does not parse"))
    }
}

/// Lay out `text` on one line at `size` pixels (ascent - descent = size) and call `pixel(x, y, coverage)`
/// for every touched pixel, with (0, 0) the top-left of the line's box. Returns the box (width, height).
pub(crate) fn rasterize(text: &str, size: f64, mut pixel: impl FnMut(i32, i32, f32)) -> (u32, u32) {
    let Some(font) = font() else {
        return (0, 0);
    };
    let scaled = font.as_scaled(PxScale::from(size as f32));
    let ascent = scaled.ascent();
    let mut pen = 0.0f32;
    let mut prev = None;
    for ch in text.chars() {
        let id = scaled.glyph_id(ch);
        if let Some(p) = prev {
            pen += scaled.kern(p, id);
        }
        let mut glyph = scaled.scaled_glyph(ch);
        glyph.position = point(pen, ascent);
        if let Some(outline) = font.outline_glyph(glyph) {
            let b = outline.px_bounds();
            let (x0, y0) = (b.min.x as i32, b.min.y as i32);
            outline.draw(|x, y, c| pixel(x0 + x as i32, y0 + y as i32, c));
        }
        pen += scaled.h_advance(id);
        prev = Some(id);
    }
    (pen.ceil().max(0.0) as u32, (ascent - scaled.descent()).ceil().max(0.0) as u32)
}

/// The (width, height) `rasterize` would use, without drawing.
pub(crate) fn measure(text: &str, size: f64) -> (u32, u32) {
    let Some(font) = font() else {
        return (0, 0);
    };
    let scaled = font.as_scaled(PxScale::from(size as f32));
    let mut pen = 0.0f32;
    let mut prev = None;
    for ch in text.chars() {
        let id = scaled.glyph_id(ch);
        if let Some(p) = prev {
            pen += scaled.kern(p, id);
        }
        pen += scaled.h_advance(id);
        prev = Some(id);
    }
    (pen.ceil().max(0.0) as u32, (scaled.ascent() - scaled.descent()).ceil().max(0.0) as u32)
}

/// Offset of a text box's top-left corner from its anchor point.
pub(crate) fn anchor_offset(h: HPos, v: VPos, (w, ht): (u32, u32)) -> (i32, i32) {
    let dx = match h {
        HPos::Left => 0,
        HPos::Center => -(w as i32) / 2,
        HPos::Right => -(w as i32),
    };
    let dy = match v {
        VPos::Top => 0,
        VPos::Center => -(ht as i32) / 2,
        VPos::Bottom => -(ht as i32),
    };
    (dx, dy)
}

/// A `BitMapBackend` that draws and measures text with `rasterize`; everything else is passed through.
pub(crate) struct FixedText<'a>(pub BitMapBackend<'a>);

type BackendResult<'a> = std::result::Result<(), DrawingErrorKind<<BitMapBackend<'a> as DrawingBackend>::ErrorType>>;

impl<'a> DrawingBackend for FixedText<'a> {
    type ErrorType = <BitMapBackend<'a> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }
    fn ensure_prepared(&mut self) -> BackendResult<'a> {
        self.0.ensure_prepared()
    }
    fn present(&mut self) -> BackendResult<'a> {
        self.0.present()
    }
    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> BackendResult<'a> {
        self.0.draw_pixel(point, color)
    }
    fn draw_line<S: BackendStyle>(&mut self, from: BackendCoord, to: BackendCoord, style: &S) -> BackendResult<'a> {
        self.0.draw_line(from, to, style)
    }
    fn draw_rect<S: BackendStyle>(
        &mut self,
        ul: BackendCoord,
        br: BackendCoord,
        style: &S,
        fill: bool,
    ) -> BackendResult<'a> {
        self.0.draw_rect(ul, br, style, fill)
    }
    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> BackendResult<'a> {
        self.0.draw_path(path, style)
    }
    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> BackendResult<'a> {
        self.0.draw_circle(center, radius, style, fill)
    }
    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> BackendResult<'a> {
        self.0.fill_polygon(vert, style)
    }
    fn blit_bitmap(&mut self, pos: BackendCoord, size: (u32, u32), src: &[u8]) -> BackendResult<'a> {
        self.0.blit_bitmap(pos, size, src)
    }

    fn draw_text<T: BackendTextStyle>(&mut self, text: &str, style: &T, pos: BackendCoord) -> BackendResult<'a> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let size = style.size();
        let anchor = style.anchor();
        let (dx, dy) = anchor_offset(anchor.h_pos, anchor.v_pos, measure(text, size));
        let trans = style.transform();
        let mut result = Ok(());
        rasterize(text, size, |x, y, cov| {
            if result.is_err() || cov <= 0.0 {
                return;
            }
            let (x, y) = trans.transform(x + dx, y + dy);
            let c = BackendColor { alpha: color.alpha * cov.min(1.0) as f64, rgb: color.rgb };
            result = self.0.draw_pixel((pos.0 + x, pos.1 + y), c);
        });
        result
    }

    fn estimate_text_size<T: BackendTextStyle>(
        &self,
        text: &str,
        style: &T,
    ) -> std::result::Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        Ok(measure(text, style.size()))
    }
}
