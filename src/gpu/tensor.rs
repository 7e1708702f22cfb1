//! GPU tensors: typed views (offset, length, shape) into storage buffers, and arenas that pack many small
//! tensors (a stage's parameters) into one buffer so one kernel can update them all.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::Gpu;
use crate::error::{Error, Result};

/// Element type of a tensor. Bytes (images, labels) travel packed four to a `U32` word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    U32,
}

/// A buffer plus the accounting that lets `Gpu::memory` report live and peak bytes.
pub(super) struct Buffer {
    pub(super) raw: wgpu::Buffer,
    size: u64,
    /// Bytes of it counted in `Gpu::memory` (device memory; 0 for host-mapped staging).
    counted: u64,
    allocated: Arc<AtomicU64>,
}

impl Buffer {
    /// Bytes allocated.
    pub(super) fn size(&self) -> u64 {
        self.size
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        self.allocated.fetch_sub(self.counted, Ordering::Relaxed);
        self.raw.destroy();
    }
}

/// A view of `len` elements starting `offset` bytes into a buffer. Cloning shares the buffer.
#[derive(Clone)]
pub struct Tensor {
    pub(super) buf: Arc<Buffer>,
    pub(super) offset: u64,
    len: usize,
    shape: Vec<usize>,
    dtype: DType,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor({:?} {:?} @{})", self.dtype, self.shape, self.offset)
    }
}

impl Tensor {
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// Bytes covered by this view (at least 4, since empty bindings are not allowed).
    pub fn bytes(&self) -> u64 {
        (self.len.max(1) * 4) as u64
    }
    /// The same elements under another shape with the same element count.
    pub fn reshape(&self, shape: &[usize]) -> Tensor {
        assert_eq!(shape.iter().product::<usize>(), self.len, "reshape {:?} -> {:?}", self.shape, shape);
        Tensor { shape: shape.to_vec(), ..self.clone() }
    }
    /// The first prod(shape) elements under `shape` (scratch buffers sized for the largest use).
    pub fn view(&self, shape: &[usize]) -> Tensor {
        let len: usize = shape.iter().product();
        assert!(len <= self.len, "view {shape:?} of {:?}", self.shape);
        Tensor { len, shape: shape.to_vec(), ..self.clone() }
    }
    /// Rows `start..start + count` of a tensor whose first dimension is rows (a micro-batch of a
    /// batch). Its byte offset need not meet the storage-binding alignment: for plan copies
    /// (`PlanBuilder::copy`), which only need 4-byte alignment.
    pub fn rows(&self, start: usize, count: usize) -> Tensor {
        let n = self.shape[0];
        assert!(start + count <= n, "rows {start}..{} of {:?}", start + count, self.shape);
        let row = self.len / n.max(1);
        let mut shape = self.shape.clone();
        shape[0] = count;
        Tensor { offset: self.offset + (start * row * 4) as u64, len: count * row, shape, ..self.clone() }
    }
    /// True when both views share one buffer (such views may not be bound read and read-write together).
    pub fn same_buffer(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.buf, &other.buf)
    }
    pub(super) fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buf.raw,
            offset: self.offset,
            size: std::num::NonZeroU64::new(self.bytes()),
        })
    }
}

/// The hint of an allocation refused here, where what it was for is not known (the trainer says which
/// batch size fits before it starts a run).
pub(super) const NEEDS_LESS: &str = "Smaller batches, narrower layers or smaller images need less.";

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

impl Gpu {
    /// Allocate a raw storage buffer, refusing sizes the adapter cannot bind with a clear message.
    pub(super) fn create_buffer(&self, bytes: u64, what: &str) -> Result<Arc<Buffer>> {
        let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
        self.create_buffer_for(bytes, what, usage, self.max_storage_binding())
    }

    /// Allocate a buffer the host maps to read what the device copied into it (never bound). Not
    /// counted in `memory`: mappable buffers live in host-visible memory, not the device's own.
    pub(super) fn create_staging(&self, bytes: u64, what: &str) -> Result<Arc<Buffer>> {
        let usage = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
        self.create_buffer_for(bytes, what, usage, u64::MAX)
    }

    /// A buffer of `usage` (counted in `memory` unless mappable); refused past the adapter's buffer
    /// size or `binding`.
    fn create_buffer_for(
        &self,
        bytes: u64,
        what: &str,
        usage: wgpu::BufferUsages,
        binding: u64,
    ) -> Result<Arc<Buffer>> {
        let bytes = bytes.max(4).next_multiple_of(4);
        if bytes > self.max_buffer_size() || bytes > binding {
            let limit = binding.min(self.max_buffer_size());
            return Err(Error::OutOfMemory {
                what: what.to_string(),
                needed_mib: mib(bytes),
                limit: format!("{} binds at most {:.0} MiB per buffer", self.summary.name, mib(limit)),
                hint: NEEDS_LESS.to_string(),
            });
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let raw = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(what),
            size: bytes,
            usage,
            mapped_at_creation: false,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            let (held, _) = self.memory();
            return Err(Error::OutOfMemory {
                what: what.to_string(),
                needed_mib: mib(bytes),
                limit: format!("the device refused it with {:.0} MiB already in use ({e})", mib(held)),
                hint: NEEDS_LESS.to_string(),
            });
        }
        let counted = if usage.contains(wgpu::BufferUsages::MAP_READ) { 0 } else { bytes };
        let now = self.allocated.fetch_add(counted, Ordering::Relaxed) + counted;
        self.peak.fetch_max(now, Ordering::Relaxed);
        Ok(Arc::new(Buffer { raw, size: bytes, counted, allocated: self.allocated.clone() }))
    }

    fn new_tensor(&self, shape: &[usize], dtype: DType, what: &str) -> Result<Tensor> {
        let len: usize = shape.iter().product();
        let buf = self.create_buffer((len * 4) as u64, what)?;
        Ok(Tensor { buf, offset: 0, len, shape: shape.to_vec(), dtype })
    }

    /// A new f32 tensor (contents zero).
    pub fn tensor(&self, shape: &[usize], what: &str) -> Result<Tensor> {
        self.new_tensor(shape, DType::F32, what)
    }

    /// A new u32 tensor (contents zero).
    pub fn tensor_u32(&self, shape: &[usize], what: &str) -> Result<Tensor> {
        self.new_tensor(shape, DType::U32, what)
    }

    /// A new f32 tensor holding `data`.
    pub fn tensor_from(&self, shape: &[usize], data: &[f32], what: &str) -> Result<Tensor> {
        let t = self.tensor(shape, what)?;
        self.upload(&t, data);
        Ok(t)
    }

    /// Copy host data into a tensor; ordered before the next submit.
    pub fn upload(&self, t: &Tensor, data: &[f32]) {
        assert_eq!(t.dtype, DType::F32);
        assert_eq!(data.len(), t.len, "upload of {} values into {:?}", data.len(), t);
        if !data.is_empty() {
            self.queue.write_buffer(&t.buf.raw, t.offset, bytemuck::cast_slice(data));
        }
    }

    pub fn upload_u32(&self, t: &Tensor, data: &[u32]) {
        assert_eq!(t.dtype, DType::U32);
        assert!(data.len() <= t.len, "upload of {} words into {:?}", data.len(), t);
        if !data.is_empty() {
            self.queue.write_buffer(&t.buf.raw, t.offset, bytemuck::cast_slice(data));
        }
    }

    /// Copy bytes into a u32 tensor (four bytes per word, little-endian, as WGSL unpacks them).
    pub fn upload_bytes(&self, t: &Tensor, data: &[u8]) {
        assert_eq!(t.dtype, DType::U32);
        assert!(data.len() <= t.len * 4);
        let whole = data.len() / 4 * 4;
        if whole > 0 {
            self.queue.write_buffer(&t.buf.raw, t.offset, &data[..whole]);
        }
        if whole < data.len() {
            let mut tail = [0u8; 4];
            tail[..data.len() - whole].copy_from_slice(&data[whole..]);
            self.queue.write_buffer(&t.buf.raw, t.offset + whole as u64, &tail);
        }
    }

    /// Set every element to `value` (NaN poisoning in tests, zeroing accumulators).
    pub fn fill(&self, t: &Tensor, value: f32) {
        let words = vec![value.to_bits(); t.len.max(1)];
        self.queue.write_buffer(&t.buf.raw, t.offset, bytemuck::cast_slice(&words));
    }

    /// Read a tensor back to the host. Blocks; for results that leave the GPU, never inside a step.
    pub fn download(&self, t: &Tensor) -> Result<Vec<f32>> {
        let words = self.download_words(t)?;
        Ok(words.into_iter().map(f32::from_bits).collect())
    }

    pub fn download_u32(&self, t: &Tensor) -> Result<Vec<u32>> {
        self.download_words(t)
    }

    fn download_words(&self, t: &Tensor) -> Result<Vec<u32>> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("download"),
            size: t.bytes(),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(&t.buf.raw, t.offset, &staging, 0, t.bytes());
        self.queue.submit([enc.finish()]);
        let out = super::readback::map_and_read(self, &staging, t.bytes())?;
        Ok(out[..t.len].to_vec())
    }
}

/// Many small tensors packed into one buffer at aligned offsets, so a single dispatch (SGD) can sweep them
/// all and a single upload/download moves a whole stage. Padding between tensors stays zero.
#[derive(Clone)]
pub struct ParamArena {
    pub all: Tensor,
    pub tensors: Vec<Tensor>,
}

impl ParamArena {
    pub fn new(gpu: &Gpu, shapes: &[Vec<usize>], what: &str) -> Result<ParamArena> {
        let align = (gpu.storage_alignment() / 4).max(1) as usize;
        let mut offsets = Vec::with_capacity(shapes.len());
        let mut end = 0usize;
        for s in shapes {
            offsets.push(end);
            end += s.iter().product::<usize>().next_multiple_of(align).max(align);
        }
        let all = gpu.tensor(&[end], what)?;
        let tensors = shapes
            .iter()
            .zip(&offsets)
            .map(|(s, &o)| Tensor {
                buf: all.buf.clone(),
                offset: (o * 4) as u64,
                len: s.iter().product(),
                shape: s.clone(),
                dtype: DType::F32,
            })
            .collect();
        Ok(ParamArena { all, tensors })
    }

    /// A second arena with the same layout (gradients, momentum).
    pub fn like(&self, gpu: &Gpu, what: &str) -> Result<ParamArena> {
        let all = gpu.tensor(self.all.shape(), what)?;
        let tensors = self.tensors.iter().map(|t| Tensor { buf: all.buf.clone(), ..t.clone() }).collect();
        Ok(ParamArena { all, tensors })
    }

    /// Element offsets of each tensor within the arena (for host-side packing).
    pub fn offsets(&self) -> Vec<usize> {
        self.tensors.iter().map(|t| (t.offset / 4) as usize).collect()
    }

    /// Upload every tensor from host vectors in one write.
    pub fn upload(&self, gpu: &Gpu, values: &[Vec<f32>]) {
        assert_eq!(values.len(), self.tensors.len());
        let mut host = vec![0f32; self.all.len()];
        for (t, v) in self.tensors.iter().zip(values) {
            let o = (t.offset / 4) as usize;
            host[o..o + v.len()].copy_from_slice(v);
        }
        gpu.upload(&self.all, &host);
    }

    /// Download every tensor in one read.
    pub fn download(&self, gpu: &Gpu) -> Result<Vec<Vec<f32>>> {
        let host = gpu.download(&self.all)?;
        Ok(self
            .tensors
            .iter()
            .map(|t| {
                let o = (t.offset / 4) as usize;
                host[o..o + t.len()].to_vec()
            })
            .collect())
    }
}
