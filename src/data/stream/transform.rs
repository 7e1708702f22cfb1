//! The ImageNet transforms, as torchvision defines them on PIL images, with every random choice drawn
//! from a generator keyed by (epoch key, image index): the same image in the same epoch gets the same
//! crop and flip whichever worker decodes it, and whenever (a resumed run included).
//!
//! Training: `RandomResizedCrop(size, scale, ratio)` then `RandomHorizontalFlip()`. Evaluation:
//! `Resize(resize)` (the short side) then `CenterCrop(size)`.

use super::resize::{Rect, Resampler, ResizeSpec};
use crate::rng::SplitMix;

/// What a pipeline does to each decoded image; the output is always `size` x `size` RGB.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Transform {
    /// torchvision's RandomResizedCrop(size, scale, ratio) + RandomHorizontalFlip(0.5) when `flip`.
    RandomResizedCrop { size: usize, scale: (f64, f64), ratio: (f64, f64), flip: bool },
    /// torchvision's Resize(resize) (short side, bilinear) + CenterCrop(size).
    ResizeCenterCrop { resize: usize, size: usize },
}

impl Transform {
    /// The ImageNet training transform: RandomResizedCrop(224, scale=(0.08, 1), ratio=(3/4, 4/3)) + flip.
    pub fn imagenet_train() -> Transform {
        Transform::RandomResizedCrop { size: 224, scale: (0.08, 1.0), ratio: (3.0 / 4.0, 4.0 / 3.0), flip: true }
    }

    /// The ImageNet evaluation transform: Resize(256) + CenterCrop(224).
    pub fn imagenet_eval() -> Transform {
        Transform::ResizeCenterCrop { resize: 256, size: 224 }
    }

    /// Side of the square output.
    pub fn size(&self) -> usize {
        match *self {
            Transform::RandomResizedCrop { size, .. } | Transform::ResizeCenterCrop { size, .. } => size,
        }
    }

    /// Where image `index` of a `width` x `height` source goes in the epoch keyed `key`: the resampling
    /// and whether the result is mirrored.
    pub fn placement(&self, width: usize, height: usize, key: u64, index: u64) -> (ResizeSpec, bool) {
        match *self {
            Transform::RandomResizedCrop { size, scale, ratio, flip } => {
                let mut rng = image_rng(key, index);
                let mut uniform = || rng.next_f64();
                let from = random_resized_crop_box(width, height, scale, ratio, &mut uniform);
                let mirrored = flip && uniform() < 0.5;
                let all = Rect::new(0, 0, size, size);
                (ResizeSpec { from, out_width: size, out_height: size, window: all }, mirrored)
            }
            Transform::ResizeCenterCrop { resize, size } => (resize_center_crop(width, height, resize, size), false),
        }
    }

    /// Transform image `index` (decoded RGB) of the epoch keyed `key` into `out` ([size, size, 3]).
    pub fn apply(&self, image: RgbView, key: u64, index: u64, r: &mut Resampler, out: &mut [u8]) {
        let (spec, mirrored) = self.placement(image.width, image.height, key, index);
        r.resize(image.pixels, image.width, 3, &spec, out);
        if mirrored {
            mirror_rows(out, spec.window.width, 3);
        }
    }
}

/// A decoded image: [height, width, 3] RGB bytes.
#[derive(Clone, Copy, Debug)]
pub struct RgbView<'a> {
    pub pixels: &'a [u8],
    pub width: usize,
    pub height: usize,
}

/// The generator of image `index`'s random choices in the epoch keyed `key`.
pub fn image_rng(key: u64, index: u64) -> SplitMix {
    let mut mix = SplitMix(key ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
    SplitMix(mix.next_u64())
}

/// Python's `round()`: halves go to the even neighbour.
fn py_round(x: f64) -> i64 {
    x.round_ties_even() as i64
}

/// torchvision's `RandomResizedCrop.get_params` with `uniform()` in [0, 1) for each draw: ten attempts
/// at an area fraction uniform in `scale` and a log-uniform aspect ratio in `ratio` (a uniform integer
/// in [0, n) is `floor(uniform() * n)`), then the centre crop clamped to `ratio`.
pub fn random_resized_crop_box(
    width: usize,
    height: usize,
    scale: (f64, f64),
    ratio: (f64, f64),
    uniform: &mut dyn FnMut() -> f64,
) -> Rect {
    let area = (width * height) as f64;
    let (log_lo, log_hi) = (ratio.0.ln(), ratio.1.ln());
    for _ in 0..10 {
        let target_area = area * (scale.0 + uniform() * (scale.1 - scale.0));
        let aspect = (log_lo + uniform() * (log_hi - log_lo)).exp();
        let w = py_round((target_area * aspect).sqrt());
        let h = py_round((target_area / aspect).sqrt());
        if 0 < w && w as usize <= width && 0 < h && h as usize <= height {
            let (w, h) = (w as usize, h as usize);
            let top = (uniform() * (height - h + 1) as f64) as usize;
            let left = (uniform() * (width - w + 1) as f64) as usize;
            return Rect::new(left, top, w, h);
        }
    }
    let in_ratio = width as f64 / height as f64;
    let (w, h) = if in_ratio < ratio.0.min(ratio.1) {
        (width, py_round(width as f64 / ratio.0.min(ratio.1)) as usize)
    } else if in_ratio > ratio.0.max(ratio.1) {
        (py_round(height as f64 * ratio.0.max(ratio.1)) as usize, height)
    } else {
        (width, height)
    };
    Rect::new((width - w) / 2, (height - h) / 2, w, h)
}

/// torchvision's `Resize(resize)` (short side to `resize`, the long side `int(resize * long / short)`)
/// then `CenterCrop(size)` (offsets `round((side - size) / 2)`), as one resampling of the whole image.
pub fn resize_center_crop(width: usize, height: usize, resize: usize, size: usize) -> ResizeSpec {
    let (short, long) = if width <= height { (width, height) } else { (height, width) };
    let new_long = (resize as f64 * long as f64 / short as f64) as usize;
    let (out_width, out_height) = if width <= height { (resize, new_long) } else { (new_long, resize) };
    // An image smaller than the crop would be zero-padded by torchvision; ours are resized first, so
    // that happens only when `size > resize`, which no caller asks for.
    let crop_w = size.min(out_width);
    let crop_h = size.min(out_height);
    let left = py_round((out_width - crop_w) as f64 / 2.0) as usize;
    let top = py_round((out_height - crop_h) as f64 / 2.0) as usize;
    ResizeSpec {
        from: Rect::new(0, 0, width, height),
        out_width,
        out_height,
        window: Rect::new(left, top, crop_w, crop_h),
    }
}

/// Mirror each row of an image of `width` pixels of `channels` bytes (a horizontal flip).
pub fn mirror_rows(pixels: &mut [u8], width: usize, channels: usize) {
    for row in pixels.chunks_exact_mut(width * channels) {
        for x in 0..width / 2 {
            let (a, b) = (x * channels, (width - 1 - x) * channels);
            for c in 0..channels {
                row.swap(a + c, b + c);
            }
        }
    }
}
