//! Reading small results (loss sums, correct counts) back every N steps through one reusable staging buffer.

use super::{Gpu, Tensor};
use crate::error::{Error, Result};

/// Map the first `bytes` of `buffer` for reading after all submitted work and hand its 32-bit words
/// to `f`, without copying them.
pub(super) fn map_read<T>(gpu: &Gpu, buffer: &wgpu::Buffer, bytes: u64, f: impl FnOnce(&[u32]) -> T) -> Result<T> {
    let slice = buffer.slice(0..bytes);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    gpu.wait()?;
    match rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(Error::gpu(format!("mapping a result buffer: {e}"))),
        Err(_) => return Err(Error::gpu("mapping a result buffer: callback never ran")),
    }
    let out = {
        let view = slice.get_mapped_range().map_err(|e| Error::gpu(format!("reading a mapped buffer: {e}")))?;
        f(bytemuck::cast_slice::<u8, u32>(&view))
    };
    buffer.unmap();
    Ok(out)
}

/// Map `buffer` for reading after all submitted work, and copy out its first `bytes`.
pub(super) fn map_and_read(gpu: &Gpu, buffer: &wgpu::Buffer, bytes: u64) -> Result<Vec<u32>> {
    map_read(gpu, buffer, bytes, |words| words.to_vec())
}

/// A staging buffer created once and reused for every periodic read.
pub struct Readback {
    staging: wgpu::Buffer,
    bytes: u64,
}

impl Readback {
    pub fn new(gpu: &Gpu, max_bytes: u64) -> Readback {
        let bytes = max_bytes.max(4).next_multiple_of(4);
        let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Readback { staging, bytes }
    }

    /// Copy `t` out (waiting for all earlier work) and return its raw 32-bit words.
    pub fn read_words(&self, gpu: &Gpu, t: &Tensor) -> Result<Vec<u32>> {
        assert!(t.bytes() <= self.bytes, "readback of {} bytes into a {}-byte staging buffer", t.bytes(), self.bytes);
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(&t.buf.raw, t.offset, &self.staging, 0, t.bytes());
        gpu.queue.submit([enc.finish()]);
        let mut words = map_and_read(gpu, &self.staging, t.bytes())?;
        words.truncate(t.len());
        Ok(words)
    }

    pub fn read_f32(&self, gpu: &Gpu, t: &Tensor) -> Result<Vec<f32>> {
        Ok(self.read_words(gpu, t)?.into_iter().map(f32::from_bits).collect())
    }
}
