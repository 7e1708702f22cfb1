//! Summing tensors over devices through the host, every step, without allocating: the gradient
//! exchange of data-parallel training. Devices under wgpu share no memory, so each device's step ends
//! by copying its tensors into a staging buffer of its own; the host maps them one device after the
//! other and adds them up in device order (a fixed order: the sum does not depend on which device
//! finished first), then queues the sum's upload into every device's tensors, before their update.

use std::sync::Arc;

use super::readback::map_read;
use super::tensor::Buffer;
use super::{Gpu, PlanBuilder, Tensor};
use crate::error::Result;

/// The staging buffers and the host sum of one set of exchanged tensors.
pub struct Exchange {
    /// Per device: the buffer its step copies its tensors into, back to back.
    staging: Vec<Arc<Buffer>>,
    /// Per exchanged tensor: its byte offset in the staging buffers and its length.
    layout: Vec<(u64, usize)>,
    /// The host sum of the summed tensors, back to back.
    sum: Vec<f32>,
    /// Per device: its read-only tensor at the last `add`.
    read: Vec<Vec<f32>>,
}

impl Exchange {
    /// Staging on each of `gpus` for tensors of lengths `summed` (added up over devices), then one
    /// tensor of `read` elements that is only read back (a device's loss statistics).
    pub fn new(gpus: &[&Gpu], summed: &[usize], read: usize) -> Result<Exchange> {
        let mut layout = Vec::with_capacity(summed.len() + 1);
        let mut bytes = 0u64;
        for &len in summed.iter().chain([&read]) {
            layout.push((bytes, len));
            bytes += (len * 4) as u64;
        }
        let staging = gpus.iter().map(|g| g.create_staging(bytes, "gradient exchange")).collect::<Result<Vec<_>>>()?;
        let sum = vec![0.0; summed.iter().sum()];
        Ok(Exchange { staging, layout, sum, read: vec![vec![0.0; read]; gpus.len()] })
    }

    /// Record, at the end of device `d`'s step, the copy of its tensors (the summed ones, then the
    /// read-only one, of the lengths given to `new`) into its staging buffer.
    pub fn record_copy_out(&self, p: &mut PlanBuilder, d: usize, tensors: &[Tensor]) {
        assert_eq!(tensors.len(), self.layout.len(), "exchanged tensors");
        for (t, (offset, len)) in tensors.iter().zip(&self.layout) {
            assert_eq!(t.len(), *len, "exchanged tensor {t:?}");
            p.copy_out(t, &self.staging[d], *offset);
        }
    }

    /// Once device `d`'s step has been submitted (devices in order, 0 first): wait for it, add `weight`
    /// times its summed tensors into the sum (device 0's replaces it; f32, in device order), and keep
    /// its read-only tensor.
    pub fn add(&mut self, d: usize, gpu: &Gpu, weight: f32) -> Result<()> {
        let (sum, read) = (&mut self.sum, &mut self.read[d]);
        let staging = &self.staging[d];
        map_read(gpu, &staging.raw, staging.size(), |words: &[u32]| {
            let (summed, rest) = bytemuck::cast_slice::<u32, f32>(words).split_at(sum.len());
            match d {
                0 => sum.iter_mut().zip(summed).for_each(|(s, &g)| *s = weight * g),
                _ => sum.iter_mut().zip(summed).for_each(|(s, &g)| *s += weight * g),
            }
            let n = read.len();
            read.copy_from_slice(&rest[..n]);
        })
    }

    /// Device `d`'s read-only tensor at its last `add`.
    pub fn read(&self, d: usize) -> &[f32] {
        &self.read[d]
    }

    /// Queue the upload of the sum into `tensors` (a device's summed tensors, as recorded), ordered
    /// before the device's next submit.
    pub fn write_sum(&self, gpu: &Gpu, tensors: &[Tensor]) {
        let mut at = 0;
        for t in tensors {
            gpu.upload(t, &self.sum[at..at + t.len()]);
            at += t.len();
        }
        assert_eq!(at, self.sum.len(), "the sum goes back into the tensors it was summed from");
    }
}
