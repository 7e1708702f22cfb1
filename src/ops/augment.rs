//! The input pipeline on the device: a batch of raw bytes becomes normalised f32 NHWC, with the
//! training augmentation (random crop with zero padding, horizontal flip) of the PyTorch baseline.
//! Only bytes cross the bus (4x less than f32), and the random draws are a pure function of
//! (seed, epoch, sample id) computed in the shader, so nothing is uploaded per step but the batch.

use super::grid::RowGrid;
use crate::error::{Error, Result};
use crate::gpu::{Access, DType, KernelSpec, PlanBuilder, Tensor};

pub static AUGMENT_BATCH: KernelSpec =
    KernelSpec::new("augment_batch", &[Access::Read, Access::Read, Access::Read, Access::ReadWrite]);

/// Largest crop padding accepted (keeps every offset well inside i32 in the shader).
pub const MAX_PAD: u32 = 1 << 16;

/// Per-channel normalisation and the augmentation. `augment: false`, or `pad: 0` with `flip: false`,
/// gives plain normalisation (evaluation). Only the first C entries of `mean`/`std` are used (C <= 4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AugmentConfig {
    pub mean: [f32; 4],
    pub std: [f32; 4],
    /// Zero padding of the random crop: offsets are uniform in [0, 2 * pad].
    pub pad: u32,
    /// Flip horizontally with probability 1/2.
    pub flip: bool,
    pub augment: bool,
}

impl AugmentConfig {
    /// Plain normalisation, no augmentation.
    pub fn eval(mean: [f32; 4], std: [f32; 4]) -> Self {
        AugmentConfig { mean, std, pad: 0, flip: false, augment: false }
    }

    /// Refuse what would silently produce garbage: more than 4 channels, a zero or non-finite std, a
    /// padding far beyond any image.
    pub fn validate(&self, channels: usize) -> Result<()> {
        if channels == 0 || channels > 4 {
            return Err(Error::usage(format!("the input pipeline handles 1 to 4 channels, got {channels}")));
        }
        if self.pad > MAX_PAD {
            return Err(Error::usage(format!("crop padding {} is larger than the supported {MAX_PAD}", self.pad)));
        }
        for c in 0..channels {
            let (m, s) = (self.mean[c], self.std[c]);
            if !m.is_finite() || !s.is_finite() || s == 0.0 {
                return Err(Error::usage(format!(
                    "normalisation of channel {c}: mean {m}, std {s} (std must be finite and non-zero)"
                )));
            }
        }
        Ok(())
    }
}

/// Mirrors `Params` in shaders/augment_batch.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    grid: [u32; 5],
    h: u32,
    w: u32,
    c: u32,
    pad: u32,
    flip: u32,
    augment: u32,
    _pad: u32,
    mean: [f32; 4],
    stddev: [f32; 4],
}

/// images: u32 holding N*H*W*C bytes (little-endian, four per word, image n contiguous in HWC order);
/// sample_ids: u32 [N] (or longer), the dataset index of each row (keys the random draws); rng: u32 [2] =
/// (seed, epoch), rewritten by the host each epoch and read when the plan runs; out: f32 [N, H, W, C].
pub fn augment_batch(
    p: &mut PlanBuilder,
    images: &Tensor,
    sample_ids: &Tensor,
    rng: &Tensor,
    out: &Tensor,
    cfg: &AugmentConfig,
) -> Result<()> {
    let &[n, h, w, c] = out.shape() else {
        panic!("augment_batch: out {:?} is not [N, H, W, C]", out.shape());
    };
    cfg.validate(c)?;
    assert_eq!(out.dtype(), DType::F32, "augment_batch: out must be f32");
    for (name, t) in [("images", images), ("sample_ids", sample_ids), ("rng", rng)] {
        assert_eq!(t.dtype(), DType::U32, "augment_batch: {name} must be u32");
    }
    assert!(
        images.len() * 4 >= out.len(),
        "augment_batch: images hold {} bytes, out {:?} needs {}",
        images.len() * 4,
        out.shape(),
        out.len()
    );
    // Longer id/image buffers are fine: a short last batch reuses the full-size ones.
    assert!(sample_ids.len() >= n, "augment_batch: sample_ids {:?} for a batch of {n}", sample_ids.shape());
    assert!(rng.len() >= 2, "augment_batch: rng must hold (seed, epoch)");
    assert!(out.len() <= u32::MAX as usize, "augment_batch: out {:?} has more elements than u32 indexes", out.shape());
    // Rows of the grid are out's image rows.
    let g = RowGrid::new(p.gpu(), n * h, w * c)?;
    let params = Params {
        grid: g.params(),
        h: h as u32,
        w: w as u32,
        c: c as u32,
        pad: cfg.pad,
        flip: cfg.flip as u32,
        augment: cfg.augment as u32,
        _pad: 0,
        mean: cfg.mean,
        stddev: cfg.std,
    };
    p.dispatch(&AUGMENT_BATCH, &params, &[images, sample_ids, rng, out], g.groups())
}
