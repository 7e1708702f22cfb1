//! CPU mirror of `ops::augment`, including the counter-based generator, which must agree with
//! shaders/lib/augment_rng.wgsl bit for bit.

use crate::ops::AugmentConfig;

/// MurmurHash3's 32-bit finaliser: a bijection on u32 with full avalanche.
fn aug_mix(v: u32) -> u32 {
    let mut h = v;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// One key per (seed, epoch, sample); for a fixed seed and epoch it is a bijection of the sample id.
fn aug_key(seed: u32, epoch: u32, sample: u32) -> u32 {
    let k = aug_mix(seed ^ 0x9e37_79b9);
    let k2 = aug_mix(k ^ epoch.wrapping_mul(0x85eb_ca77).wrapping_add(0x1656_67b1));
    aug_mix(k2 ^ sample)
}

/// The augmentation of one sample in one epoch: crop offsets (oy, ox) uniform in [0, 2 * pad] and
/// whether to flip (probability 1/2; the caller ignores it when flipping is off).
pub fn augment_draw(seed: u32, epoch: u32, sample_id: u32, pad: u32) -> (u32, u32, bool) {
    let key = aug_key(seed, epoch, sample_id);
    let span = 2 * pad + 1;
    let oy = aug_mix(key ^ 0x68e3_1da4) % span;
    let ox = aug_mix(key ^ 0xb529_7a4d) % span;
    let flip = aug_mix(key ^ 0x1b56_c4e9) >> 31 == 1;
    (oy, ox, flip)
}

/// images: N*H*W*C bytes (image n contiguous, HWC); sample_ids: [N]; rng: (seed, epoch);
/// out: [N, H, W, C]. The random crop of the image padded with black (byte 0), then the horizontal flip,
/// then v = (byte / 255 - mean[c]) / std[c], as `ops::augment_batch` and torchvision's RandomCrop(padding)
/// before ToTensor and Normalize: the padding becomes -mean[c] / std[c], not 0.
#[allow(clippy::too_many_arguments)]
pub fn augment_batch(
    images: &[u8],
    sample_ids: &[u32],
    rng: &[u32],
    out: &mut [f64],
    cfg: &AugmentConfig,
    h: usize,
    w: usize,
    c: usize,
) {
    let n = sample_ids.len();
    assert_eq!(out.len(), n * h * w * c);
    assert!(images.len() >= out.len());
    for (b, &id) in sample_ids.iter().enumerate() {
        let (mut oy, mut ox, mut flip) = (cfg.pad, cfg.pad, false);
        if cfg.augment {
            let (dy, dx, f) = augment_draw(rng[0], rng[1], id, cfg.pad);
            (oy, ox, flip) = (dy, dx, f && cfg.flip);
        }
        for y in 0..h {
            for x in 0..w {
                // Flip after the crop: output column x shows crop column W-1-x.
                let cx = if flip { w - 1 - x } else { x };
                let sy = (y + oy as usize) as i64 - cfg.pad as i64;
                let sx = (cx + ox as usize) as i64 - cfg.pad as i64;
                let inside = (0..h as i64).contains(&sy) && (0..w as i64).contains(&sx);
                for ch in 0..c {
                    let byte = if inside { images[((b * h + sy as usize) * w + sx as usize) * c + ch] } else { 0 };
                    out[((b * h + y) * w + x) * c + ch] =
                        (byte as f64 / 255.0 - cfg.mean[ch] as f64) / cfg.std[ch] as f64;
                }
            }
        }
    }
}
