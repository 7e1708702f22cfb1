//! Streaming input for datasets too large to hold in memory (ImageNet: 1.28 M JPEGs, about 190 GB
//! decoded): images are listed once (file paths or member offsets, never pixels), then every epoch
//! N worker threads read, decode and transform them into a bounded queue of ready batches, delivered in
//! order.
//!
//! - [`ImageList`]: one split's images and labels, from image folders (`<split>/<class>/**/*`), `.tar`
//!   shards (read in place through an index of member offsets built once when listed; ImageNet's own
//!   `ILSVRC2012_img_train.tar` of per-class tars included), a flat folder or tar with a label file
//!   (ImageNet's validation set with `LOC_val_solution.csv` or a `name label` text file), or a packed
//!   copy written by [`pack`].
//! - [`Transform`]: torchvision's RandomResizedCrop + RandomHorizontalFlip (training) or Resize +
//!   CenterCrop (evaluation), bit-exact to torchvision on PIL images given the same decoded pixels and
//!   crop box; each image's random choices keyed by (epoch key, image index).
//! - [`Pipeline`]: the worker threads and the bounded queue. Batches hold uint8 HWC pixels (normalised on
//!   the device), u32 labels and u32 dataset indices; their content depends only on the epoch's order,
//!   key and the transform, never on the number of workers or thread timing, and an epoch can start at
//!   any batch (exact resume).
//! - [`pack`]: the optional pre-processed copy: every image resized once so its short side is at most
//!   a chosen size, stored raw or re-encoded as JPEG in one file with an index.

mod decode;
mod listing;
mod ordered;
mod packed;
mod pipeline;
mod read;
mod resize;
mod tar_index;
mod transform;

use std::path::PathBuf;

pub use decode::decode_rgb;
pub use listing::{default_index_cache, imagenet_splits, ListOptions};
pub use packed::{pack, PackEncoding, PackOptions, PackSummary};
pub use pipeline::{Batch, Batches, EpochPlan, Pipeline, PipelineOptions, PoolStats};
pub use read::Reader;
pub use resize::{Rect, Resampler, ResizeSpec};
pub use transform::{image_rng, mirror_rows, random_resized_crop_box, resize_center_crop, RgbView, Transform};

/// One split's images: where each one's bytes are and its label. Holds no pixels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageList {
    /// Label i is `classes[i]` (sorted folder names, e.g. ImageNet wnids, unless given).
    pub classes: Vec<String>,
    pub entries: Vec<Entry>,
    /// Files that hold images at offsets (tar shards, packed copies); `Location::Member::container`
    /// indexes this list.
    pub containers: Vec<PathBuf>,
    /// Human-readable origin, for messages.
    pub source: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub label: u32,
    pub location: Location,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A file of its own (an encoded image).
    File(PathBuf),
    /// `len` bytes at `offset` in `containers[container]`, named `name` inside it.
    Member { container: u32, offset: u64, len: u64, name: Box<str>, pixels: Pixels },
}

/// How a member's bytes hold the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pixels {
    /// An encoded image (JPEG, PNG, ...), decoded by its content.
    Encoded,
    /// Raw RGB, [height, width, 3] bytes (packed copies).
    Rgb { width: u32, height: u32 },
}

impl ImageList {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first `n` images (or all), e.g. for a quick run or a benchmark.
    pub fn truncated(mut self, n: usize) -> ImageList {
        self.entries.truncate(n);
        self
    }

    /// The images at `idx`, in that order (e.g. a held-out validation subset). Panics on an index out
    /// of range (a programmer error).
    pub fn subset(&self, idx: &[usize]) -> ImageList {
        ImageList {
            classes: self.classes.clone(),
            entries: idx.iter().map(|&i| self.entries[i].clone()).collect(),
            containers: self.containers.clone(),
            source: format!("{} [subset of {}]", self.source, idx.len()),
        }
    }

    /// Entry `i`'s name for messages: its path, or the container's path joined with the member name.
    pub fn name(&self, i: usize) -> PathBuf {
        match &self.entries[i].location {
            Location::File(p) => p.clone(),
            Location::Member { container, name, .. } => self.containers[*container as usize].join(&**name),
        }
    }
}
