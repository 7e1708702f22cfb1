//! Where a split's images come from: a dataset decoded whole into memory (MNIST, CIFAR, small image
//! folders), or a list of files streamed through the input pipeline every epoch (ImageNet). Both hand
//! the trainer the same thing, a batch of uint8 HWC pixels, labels and dataset indices in the order an
//! epoch plan says, so every method trains from either.

use std::sync::Arc;
use std::time::Instant;

use crate::data::stream::{Batch, Batches, EpochPlan, ImageList, Pipeline, PoolStats};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

use super::feed::Feed;

/// One split of a run's data.
#[derive(Clone)]
pub enum Split {
    Memory(Arc<Dataset>),
    /// Listed files, decoded and transformed on the host by the pipeline's workers, `size` x `size` RGB.
    Stream(Arc<Pipeline>),
}

impl Split {
    pub fn memory(data: Dataset) -> Split {
        Split::Memory(Arc::new(data))
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        match self {
            Split::Memory(d) => d.len(),
            Split::Stream(p) => p.list().len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Label i is `classes()[i]`.
    pub fn classes(&self) -> &[String] {
        match self {
            Split::Memory(d) => &d.classes,
            Split::Stream(p) => &p.list().classes,
        }
    }

    /// (height, width, channels) of every image the trainer sees.
    pub fn image_shape(&self) -> (usize, usize, usize) {
        match self {
            Split::Memory(d) => (d.height, d.width, d.channels),
            Split::Stream(p) => (p.options().transform.size(), p.options().transform.size(), 3),
        }
    }

    /// Bytes of one image: height x width x channels.
    pub fn image_len(&self) -> usize {
        let (h, w, c) = self.image_shape();
        h * w * c
    }

    /// Human-readable origin.
    pub fn source(&self) -> &str {
        match self {
            Split::Memory(d) => &d.source,
            Split::Stream(p) => &p.list().source,
        }
    }

    /// The decoded dataset, when the split is held in memory.
    pub fn in_memory(&self) -> Option<&Dataset> {
        match self {
            Split::Memory(d) => Some(d),
            Split::Stream(_) => None,
        }
    }

    /// The batches of `plan`, `batch` images each (a streamed split's batch is its pipeline's).
    pub fn epoch(&self, plan: EpochPlan, batch: usize) -> Result<EpochBatches> {
        match self {
            Split::Memory(d) => Ok(EpochBatches::Memory { data: d.clone(), plan, batch }),
            Split::Stream(p) => {
                let next = plan.first_batch;
                let batches = match p.options().batch == batch {
                    true => p.epoch(&plan)?,
                    false => p.with_batch(batch).epoch(&plan)?,
                };
                Ok(EpochBatches::Stream { batches, next, waited: 0.0, current: None })
            }
        }
    }

    /// The images at `idx` (in that order) decoded into memory, as evaluation transforms them: the
    /// report's few samples of a split too large to hold.
    pub fn sample(&self, idx: &[u32]) -> Result<Sample> {
        let mut out = Sample { images: Vec::with_capacity(idx.len() * self.image_len()), labels: Vec::new() };
        match self {
            Split::Memory(d) => {
                for &i in idx {
                    out.images.extend_from_slice(d.image(i as usize));
                    out.labels.push(d.labels[i as usize] as u32);
                }
            }
            Split::Stream(p) => {
                let plan = EpochPlan { order: idx.into(), key: 0, first_batch: 0, drop_last: false };
                for b in p.epoch(&plan)? {
                    let b = b?;
                    out.images.extend_from_slice(b.images());
                    out.labels.extend_from_slice(b.labels());
                }
            }
        }
        Ok(out)
    }
}

/// A few images of a split in memory: [n, H, W, C] bytes and their labels.
pub struct Sample {
    pub images: Vec<u8>,
    pub labels: Vec<u32>,
}

impl Sample {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Rows `rows` into `feed` (their dataset indices are their positions in the sample).
    pub fn load(&self, gpu: &Gpu, feed: &mut Feed, rows: std::ops::Range<usize>) {
        let n = self.images.len() / self.len().max(1);
        let ids: Vec<u32> = (rows.start as u32..rows.end as u32).collect();
        feed.load_rows(gpu, &self.images[rows.start * n..rows.end * n], &self.labels[rows.clone()], &ids);
    }
}

/// The listed images of a streamed split and how the pipeline reads them.
pub fn stream_split(list: ImageList, opts: crate::data::stream::PipelineOptions) -> Result<Split> {
    Ok(Split::Stream(Arc::new(Pipeline::new(list, opts)?)))
}

/// One epoch's batches, loaded into a feed one at a time in increasing batch order.
pub enum EpochBatches {
    Memory {
        data: Arc<Dataset>,
        plan: EpochPlan,
        batch: usize,
    },
    /// `next`: the batch the pipeline hands out next; `waited`: seconds spent waiting for batches;
    /// `current`: a batch whose parts are being loaded (`load_part`).
    Stream {
        batches: Batches,
        next: usize,
        waited: f64,
        current: Option<Batch>,
    },
}

impl EpochBatches {
    /// Queue the upload of batch `b` of the epoch into `feed`. Batches are read in increasing order
    /// (a streamed epoch skips the ones passed over; going back is a programmer error).
    pub fn load(&mut self, gpu: &Gpu, feed: &mut Feed, b: usize) -> Result<()> {
        self.load_part(gpu, feed, b, 0, 1)
    }

    /// Queue the upload of part `part` of batch `b` cut into `parts` equal slices, into `feed`: the rows
    /// of device `part` of a data-parallel step. Parts are loaded in order; a streamed batch is held
    /// from its first part to its last.
    pub fn load_part(&mut self, gpu: &Gpu, feed: &mut Feed, b: usize, part: usize, parts: usize) -> Result<()> {
        match self {
            EpochBatches::Memory { data, plan, batch } => {
                let slice = *batch / parts;
                let start = (b * *batch + part * slice).min(plan.order.len());
                feed.load(gpu, data, &plan.order[start..(start + slice).min(plan.order.len())]);
                Ok(())
            }
            EpochBatches::Stream { batches, next, waited, current } => {
                if part == 0 {
                    *current = Some(next_batch(batches, next, waited, b)?);
                }
                let got = current.as_ref().filter(|g| g.index() == b).ok_or_else(|| {
                    Error::usage(format!("internal: part {part} of batch {b} asked for before its first part"))
                })?;
                let (rows, sample) = (got.labels().len(), got.images().len() / got.labels().len().max(1));
                let r = part * rows / parts..(part + 1) * rows / parts;
                feed.load_rows(
                    gpu,
                    &got.images()[r.start * sample..r.end * sample],
                    &got.labels()[r.clone()],
                    &got.ids()[r],
                );
                if part + 1 == parts {
                    // Back to the pipeline's pool as soon as every part is on its way.
                    *current = None;
                }
                Ok(())
            }
        }
    }

    /// The pipeline's buffer counts (None in memory): how many batches its queue ever held.
    pub fn stats(&self) -> Option<PoolStats> {
        match self {
            EpochBatches::Memory { .. } => None,
            EpochBatches::Stream { batches, .. } => Some(batches.stats()),
        }
    }

    /// Seconds the trainer waited for the pipeline's batches so far (0 in memory): how long the device
    /// could have sat idle for want of data.
    pub fn waited(&self) -> f64 {
        match self {
            EpochBatches::Memory { .. } => 0.0,
            EpochBatches::Stream { waited, .. } => *waited,
        }
    }
}

/// Batch `b` from the pipeline (skipping any before it), counting the seconds waited for it.
fn next_batch(batches: &mut Batches, next: &mut usize, waited: &mut f64, b: usize) -> Result<Batch> {
    assert!(b >= *next, "batch {b} asked for after batch {next} of a streamed epoch");
    loop {
        let t0 = Instant::now();
        let got = batches.next();
        *waited += t0.elapsed().as_secs_f64();
        let got = got.ok_or_else(|| Error::usage(format!("internal: batch {b} is past the epoch's end")))??;
        *next = got.index() + 1;
        if got.index() == b {
            return Ok(got);
        }
    }
}
