//! The streaming pipeline: an epoch is a sequence of batches, batch b holding the images
//! `order[b * batch..(b + 1) * batch]`, each read, decoded and transformed by one of N worker threads
//! into a bounded queue and handed out in order.

use std::sync::Arc;

use super::decode::decode_rgb;
use super::ordered::{Lease, Ordered};
use super::read::Reader;
use super::resize::Resampler;
use super::transform::RgbView;
use super::{ImageList, Pixels, Transform};
use crate::rng::permutation;
use crate::{Error, Result};

pub use super::ordered::PoolStats;

#[derive(Clone, Debug, PartialEq)]
pub struct PipelineOptions {
    /// Images per batch.
    pub batch: usize,
    /// Decoding threads.
    pub workers: usize,
    /// Batches read and decoded ahead of the consumer (the queue's bound). Memory: (prefetch + the
    /// batches the consumer holds at once) x batch x size x size x 3 bytes.
    pub prefetch: usize,
    pub transform: Transform,
}

impl PipelineOptions {
    /// `transform` in batches of `batch` on every core, two batches ahead per worker.
    pub fn new(batch: usize, transform: Transform) -> PipelineOptions {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        PipelineOptions { batch, workers, prefetch: 2 * workers, transform }
    }
}

/// Which images an epoch visits, in which order, and the key of their random choices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochPlan {
    /// Dataset indices in visiting order.
    pub order: Arc<[u32]>,
    /// Keys every image's crop and flip (with its dataset index): e.g. a hash of (seed, epoch).
    pub key: u64,
    /// The batch to start at (resuming mid-epoch).
    pub first_batch: usize,
    /// Drop the last partial batch (training) or hand it out short (evaluation).
    pub drop_last: bool,
}

impl EpochPlan {
    /// A training epoch: the images shuffled by `key` (the trainer's seeded Fisher-Yates permutation),
    /// the last partial batch dropped.
    pub fn shuffled(n: usize, key: u64) -> EpochPlan {
        EpochPlan { order: permutation(n, key).into(), key, first_batch: 0, drop_last: true }
    }

    /// An evaluation pass: every image in dataset order.
    pub fn in_order(n: usize, key: u64) -> EpochPlan {
        EpochPlan { order: (0..n as u32).collect::<Vec<_>>().into(), key, first_batch: 0, drop_last: false }
    }

    /// The same plan from batch `b` on.
    pub fn from_batch(mut self, b: usize) -> EpochPlan {
        self.first_batch = b;
        self
    }

    /// Batches in the whole epoch.
    pub fn batches(&self, batch: usize) -> usize {
        if self.drop_last {
            self.order.len() / batch
        } else {
            self.order.len().div_ceil(batch)
        }
    }
}

/// A listed split and how to turn it into batches.
pub struct Pipeline {
    list: Arc<ImageList>,
    opts: PipelineOptions,
}

/// One batch: `len()` rows of uint8 HWC pixels, u32 labels and u32 dataset indices. Its buffers return
/// to the pipeline when it is dropped.
pub struct Batch {
    data: Lease<BatchData>,
}

#[derive(Default)]
pub(crate) struct BatchData {
    index: usize,
    rows: usize,
    image_len: usize,
    images: Vec<u8>,
    labels: Vec<u32>,
    ids: Vec<u32>,
}

/// The batches of one epoch, in order; stops at the first error (a file that cannot be read or decoded,
/// named in the message). Dropping it stops the workers.
pub struct Batches {
    pool: Ordered<BatchData>,
}

/// What each worker thread keeps between images.
#[derive(Default)]
struct WorkerState {
    reader: Reader,
    rgb: Vec<u8>,
    resampler: Resampler,
}

impl Pipeline {
    pub fn new(list: ImageList, opts: PipelineOptions) -> Result<Pipeline> {
        if opts.batch == 0 || opts.workers == 0 || opts.prefetch == 0 {
            return Err(Error::usage("the input pipeline needs batch, workers and prefetch of at least 1"));
        }
        if let Transform::ResizeCenterCrop { resize, size } = opts.transform {
            if size > resize || size == 0 {
                return Err(Error::usage(format!("centre crop {size} must be between 1 and the resize {resize}")));
            }
        }
        if opts.transform.size() == 0 {
            return Err(Error::usage("the crop size must be at least 1"));
        }
        Ok(Pipeline { list: Arc::new(list), opts })
    }

    /// The same images in batches of `batch`.
    pub fn with_batch(&self, batch: usize) -> Pipeline {
        Pipeline { list: self.list.clone(), opts: PipelineOptions { batch, ..self.opts.clone() } }
    }

    pub fn list(&self) -> &ImageList {
        &self.list
    }

    pub fn options(&self) -> &PipelineOptions {
        &self.opts
    }

    /// Bytes of one image in a batch: size x size x 3.
    pub fn image_len(&self) -> usize {
        self.opts.transform.size().pow(2) * 3
    }

    /// Start the workers on `plan`'s batches.
    pub fn epoch(&self, plan: &EpochPlan) -> Result<Batches> {
        if let Some(&bad) = plan.order.iter().find(|&&i| i as usize >= self.list.len()) {
            return Err(Error::usage(format!("epoch order names image {bad} of {} images", self.list.len())));
        }
        let end = plan.batches(self.opts.batch);
        let first = plan.first_batch.min(end);
        let job =
            EpochJob { list: self.list.clone(), opts: self.opts.clone(), order: plan.order.clone(), key: plan.key };
        let work = move |b: usize, w: &mut WorkerState, out: &mut BatchData| job.fill_batch(b, w, out);
        let pool = Ordered::start(first, end, self.opts.workers, self.opts.prefetch, WorkerState::default, work);
        Ok(Batches { pool })
    }
}

/// What every worker of one epoch shares.
struct EpochJob {
    list: Arc<ImageList>,
    opts: PipelineOptions,
    order: Arc<[u32]>,
    key: u64,
}

impl EpochJob {
    /// Read, decode and transform batch `b` into `out`.
    fn fill_batch(&self, b: usize, w: &mut WorkerState, out: &mut BatchData) -> Result<()> {
        let (list, batch) = (&*self.list, self.opts.batch);
        let rows = &self.order[b * batch..((b + 1) * batch).min(self.order.len())];
        let image_len = self.opts.transform.size().pow(2) * 3;
        out.index = b;
        out.rows = rows.len();
        out.image_len = image_len;
        out.images.resize(batch * image_len, 0);
        out.labels.clear();
        out.ids.clear();
        for (r, &i) in rows.iter().enumerate() {
            let i = i as usize;
            let (width, height) = match w.reader.read(list, i)? {
                Pixels::Encoded => decode_rgb(&w.reader.bytes, &list.name(i), &mut w.rgb)?,
                Pixels::Rgb { width, height } => {
                    std::mem::swap(&mut w.rgb, &mut w.reader.bytes);
                    (width as usize, height as usize)
                }
            };
            let slot = &mut out.images[r * image_len..(r + 1) * image_len];
            let image = RgbView { pixels: &w.rgb, width, height };
            self.opts.transform.apply(image, self.key, i as u64, &mut w.resampler, slot);
            out.labels.push(list.entries[i].label);
            out.ids.push(i as u32);
        }
        Ok(())
    }
}

impl Iterator for Batches {
    type Item = Result<Batch>;
    fn next(&mut self) -> Option<Result<Batch>> {
        self.pool.next().map(|r| r.map(|data| Batch { data }))
    }
}

impl Batches {
    /// Buffer counts so far (bounded memory: `allocated` <= prefetch + the batches held at once).
    pub fn stats(&self) -> PoolStats {
        self.pool.stats()
    }
}

impl Batch {
    /// The batch's number in its epoch.
    pub fn index(&self) -> usize {
        self.data.index
    }
    /// Rows that hold images (the batch size, or fewer for an evaluation pass's last batch).
    pub fn len(&self) -> usize {
        self.data.rows
    }
    pub fn is_empty(&self) -> bool {
        self.data.rows == 0
    }
    /// [len, size, size, 3] uint8 pixels, HWC.
    pub fn images(&self) -> &[u8] {
        &self.data.images[..self.data.rows * self.data.image_len]
    }
    /// [len] class indices.
    pub fn labels(&self) -> &[u32] {
        &self.data.labels
    }
    /// [len] dataset indices (they key the augmentation and any per-image cache).
    pub fn ids(&self) -> &[u32] {
        &self.data.ids
    }
}
