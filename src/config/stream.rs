//! The `[stream]` table: read the dataset through the streaming input pipeline (image folders and
//! `.tar` shards in ImageNet's layout, or a packed copy) instead of loading it whole into memory, with
//! torchvision's ImageNet transforms done on the host by worker threads.

use serde::{Deserialize, Serialize};

use crate::data::stream::Transform;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// Side of the square images the network sees: training's RandomResizedCrop output and
    /// evaluation's centre crop (ImageNet: 224).
    pub size: usize,
    /// Evaluation: the short side is resized to this before the centre crop (ImageNet: 256).
    pub resize: usize,
    /// Training crops: RandomResizedCrop's scale range (share of the image's area).
    #[serde(default = "default_scale")]
    pub scale: [f64; 2],
    /// Training crops: RandomResizedCrop's aspect-ratio range.
    #[serde(default = "default_ratio")]
    pub ratio: [f64; 2],
    /// Training crops: RandomHorizontalFlip(0.5) on the host.
    #[serde(default = "yes")]
    pub flip: bool,
    /// Decoding threads (0: one per core).
    #[serde(default)]
    pub workers: usize,
    /// Batches decoded ahead of the device (0: two per worker). Host memory for images stays under
    /// (prefetch + 2) x batch x size x size x 3 bytes, whatever the dataset's size.
    #[serde(default)]
    pub prefetch: usize,
}

fn default_scale() -> [f64; 2] {
    [0.08, 1.0]
}
fn default_ratio() -> [f64; 2] {
    [3.0 / 4.0, 4.0 / 3.0]
}
fn yes() -> bool {
    true
}

impl StreamConfig {
    /// torchvision's RandomResizedCrop(size, scale, ratio) + RandomHorizontalFlip (when `flip`).
    pub fn train_transform(&self) -> Transform {
        let [s0, s1] = self.scale;
        let [r0, r1] = self.ratio;
        Transform::RandomResizedCrop { size: self.size, scale: (s0, s1), ratio: (r0, r1), flip: self.flip }
    }

    /// torchvision's Resize(resize) + CenterCrop(size).
    pub fn eval_transform(&self) -> Transform {
        Transform::ResizeCenterCrop { resize: self.resize, size: self.size }
    }

    pub(super) fn check(&self) -> std::result::Result<(), String> {
        if self.size == 0 {
            return Err("stream.size must be at least 1".into());
        }
        if self.resize < self.size {
            return Err(format!(
                "stream.resize ({}) must be at least stream.size ({}): evaluation crops the centre of the resized image",
                self.resize, self.size
            ));
        }
        let [s0, s1] = self.scale;
        if !(s0 > 0.0 && s0 <= s1 && s1 <= 1.0) {
            return Err(format!("stream.scale must satisfy 0 < min <= max <= 1, got [{s0}, {s1}]"));
        }
        let [r0, r1] = self.ratio;
        if !(r0 > 0.0 && r0 <= r1 && r1.is_finite()) {
            return Err(format!("stream.ratio must satisfy 0 < min <= max, got [{r0}, {r1}]"));
        }
        Ok(())
    }
}
