//! Moving batches to the device: the host gathers a batch's bytes, labels and dataset indices into
//! buffers it reuses, and queues one upload of each before the step's submit. The device turns bytes
//! into normalised, augmented floats itself (ops::augment_batch).

use super::source::Split;
use crate::data::stream::EpochPlan;
use crate::data::Dataset;
use crate::error::Result;
use crate::gpu::{Gpu, InFlight, Plan, Tensor};
use crate::ops::IGNORE_LABEL;

pub struct Feed {
    pub batch: usize,
    sample_bytes: usize,
    /// Packed u8 pixels: [batch * H * W * C] bytes in u32 words.
    pub images: Tensor,
    pub labels: Tensor,
    /// Dataset index of every row (keys the augmentation RNG and the prefix caches).
    pub ids: Tensor,
    /// [1] u32: rows that hold samples; the rest of a short batch is padding.
    pub valid: Tensor,
    /// Whether `load` uploads pixels: not when a step reads cached features instead.
    pub with_images: bool,
    host_images: Vec<u8>,
    host_labels: Vec<u32>,
    host_ids: Vec<u32>,
    /// What `valid` holds, so full batches (every training step) upload nothing for it.
    host_valid: Option<u32>,
}

impl Feed {
    pub fn new(gpu: &Gpu, batch: usize, sample_bytes: usize) -> Result<Feed> {
        let bytes = batch * sample_bytes;
        Ok(Feed {
            batch,
            sample_bytes,
            images: gpu.tensor_u32(&[bytes.div_ceil(4)], "batch images")?,
            labels: gpu.tensor_u32(&[batch], "batch labels")?,
            ids: gpu.tensor_u32(&[batch], "batch ids")?,
            valid: gpu.tensor_u32(&[1], "batch valid rows")?,
            with_images: true,
            host_images: vec![0; bytes],
            host_labels: vec![IGNORE_LABEL; batch],
            host_ids: vec![0; batch],
            host_valid: None,
        })
    }

    /// Queue the upload of the samples `indices` (at most `batch`) of an in-memory dataset; missing rows
    /// are padding whose label the loss and accuracy kernels ignore.
    pub fn load(&mut self, gpu: &Gpu, data: &Dataset, indices: &[u32]) {
        assert!(indices.len() <= self.batch);
        let sb = self.sample_bytes;
        for (r, &i) in indices.iter().enumerate() {
            if self.with_images {
                self.host_images[r * sb..(r + 1) * sb].copy_from_slice(data.image(i as usize));
            }
            self.host_labels[r] = data.labels[i as usize] as u32;
            self.host_ids[r] = i;
        }
        self.upload(gpu, indices.len());
    }

    /// Queue the upload of a batch already gathered (a streamed one): `labels.len()` rows of `images`
    /// (HWC bytes), their labels and dataset indices.
    pub fn load_rows(&mut self, gpu: &Gpu, images: &[u8], labels: &[u32], ids: &[u32]) {
        let rows = labels.len();
        assert!(rows <= self.batch && ids.len() == rows && images.len() == rows * self.sample_bytes);
        if self.with_images {
            self.host_images[..images.len()].copy_from_slice(images);
        }
        self.host_labels[..rows].copy_from_slice(labels);
        self.host_ids[..rows].copy_from_slice(ids);
        self.upload(gpu, rows);
    }

    /// Pad rows `rows..batch` and queue the uploads of what the host buffers hold.
    fn upload(&mut self, gpu: &Gpu, rows: usize) {
        let sb = self.sample_bytes;
        for r in rows..self.batch {
            self.host_images[r * sb..(r + 1) * sb].fill(0);
            self.host_labels[r] = IGNORE_LABEL;
            self.host_ids[r] = 0;
        }
        if self.with_images {
            gpu.upload_bytes(&self.images, &self.host_images);
        }
        gpu.upload_u32(&self.labels, &self.host_labels);
        gpu.upload_u32(&self.ids, &self.host_ids);
        let valid = rows as u32;
        if self.host_valid != Some(valid) {
            gpu.upload_u32(&self.valid, &[valid]);
            self.host_valid = Some(valid);
        }
    }

    /// The labels and dataset indices of the rows last loaded (padding included).
    pub fn loaded(&self) -> (&[u32], &[u32]) {
        (&self.host_labels, &self.host_ids)
    }

    /// Run `plan` once per batch over the whole of `data`, in order (evaluation and caching passes),
    /// with the host loading each batch while the device runs the previous ones.
    pub fn run_over(&mut self, gpu: &Gpu, data: &Split, plan: &Plan) -> Result<()> {
        let pass = EpochPlan::in_order(data.len(), 0);
        let steps = pass.batches(self.batch);
        let mut batches = data.epoch(pass, self.batch)?;
        let mut in_flight = InFlight::default();
        for b in 0..steps {
            batches.load(gpu, self, b)?;
            in_flight.submit(gpu, &[plan])?;
        }
        in_flight.drain(gpu)?;
        Ok(())
    }
}
