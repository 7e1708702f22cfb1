//! The streaming input pipeline (src/data/stream): transforms against torchvision's (vectors in
//! tests/fixtures/torchvision_transforms.json) and hand-computed crops, sources (folders, tar shards,
//! nested tars, flat folders with label files, packed copies), determinism whatever the worker count,
//! exact resume, bounded memory, bad files, and the Imagenette archive in ../shared/data when present.
//! Every dataset here is a few tiny images written to a temp folder, except the fixtures and Imagenette.

mod common;
mod support;

#[path = "stream/commands.rs"]
mod commands;
#[path = "stream/packed.rs"]
mod packed;
#[path = "stream/pipeline.rs"]
mod pipeline;
#[path = "stream/sources.rs"]
mod sources;
#[path = "stream/training.rs"]
mod training;
#[path = "stream/transforms.rs"]
mod transforms;

use std::path::{Path, PathBuf};

use layerwise::data::stream::{Batch, EpochPlan, ImageList, Pipeline, PipelineOptions, Transform};

/// `<manifest>/../shared/data` (or env LAYERWISE_SHARED_DATA), or None after saying it is absent.
pub fn shared_data(test: &str) -> Option<PathBuf> {
    let dir = match std::env::var_os("LAYERWISE_SHARED_DATA") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED {test}: shared data folder {} is absent (set LAYERWISE_SHARED_DATA)", dir.display());
        None
    }
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// A w x h RGB image whose pixels depend on (seed, x, y).
pub fn pattern(seed: u8, w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        let v = seed as u32 * 37 + x * 13 + y * 7;
        image::Rgb([v as u8, (v * 5 + x) as u8, (255 - v + y) as u8])
    })
}

/// Save `img` at `path` (format from the extension), creating folders.
pub fn save(path: &Path, img: &image::RgbImage) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    img.save(path).unwrap();
}

/// `root/<class>/<i>.jpg|png` for classes b, a, c with 3, 4, 2 images of assorted sizes and aspect ratios.
pub fn tiny_tree(root: &Path) -> usize {
    let sizes = [(40, 30), (23, 57), (64, 64), (17, 9), (50, 21), (33, 33), (90, 40), (12, 80), (31, 29)];
    let mut k = 0;
    for (class, n) in [("b", 3), ("a", 4), ("c", 2)] {
        for i in 0..n {
            let (w, h) = sizes[k % sizes.len()];
            let ext = if k % 3 == 2 { "png" } else { "jpg" };
            save(&root.join(class).join(format!("{i}.{ext}")), &pattern(k as u8, w, h));
            k += 1;
        }
    }
    k
}

/// Every batch of an epoch as (images, labels, ids), failing the test on an error.
pub fn collect(p: &Pipeline, plan: &EpochPlan) -> Vec<(Vec<u8>, Vec<u32>, Vec<u32>)> {
    p.epoch(plan)
        .unwrap()
        .map(|b: layerwise::Result<Batch>| {
            let b = b.unwrap();
            (b.images().to_vec(), b.labels().to_vec(), b.ids().to_vec())
        })
        .collect()
}

pub fn pipeline(list: ImageList, batch: usize, workers: usize, transform: Transform) -> Pipeline {
    Pipeline::new(list, PipelineOptions { batch, workers, prefetch: 2 * workers, transform }).unwrap()
}

/// Small training transform (crops of 16x16) so tests stay fast.
pub fn small_train() -> Transform {
    Transform::RandomResizedCrop { size: 16, scale: (0.08, 1.0), ratio: (3.0 / 4.0, 4.0 / 3.0), flip: true }
}

pub fn small_eval() -> Transform {
    Transform::ResizeCenterCrop { resize: 20, size: 16 }
}

/// Decode an image file with the `image` crate into RGB bytes.
pub fn rgb_of(path: &Path) -> (usize, usize, Vec<u8>) {
    let img = image::open(path).unwrap().into_rgb8();
    (img.width() as usize, img.height() as usize, img.into_raw())
}
