//! Plans: the dispatches of a training step (or an eval step, or one op in a test) recorded once, with
//! their bind groups and shape uniforms created once, then replayed with one encoder and one submit.

use std::sync::Arc;

use super::kernels::{Kernel, KernelSpec};
use super::tensor::Buffer;
use super::{Gpu, Tensor};
use crate::error::{Error, Result};

enum Cmd {
    Dispatch { kernel: Arc<Kernel>, tensors: Vec<Tensor>, uniform: (u64, u64), groups: [u32; 3] },
    Copy { src: Tensor, dst: Tensor },
    Clear { dst: Tensor },
    CopyOut { src: Tensor, dst: Arc<Buffer>, offset: u64 },
}

enum Step {
    // The tensors stay referenced: a buffer is destroyed when its last Tensor drops.
    Dispatch {
        kernel: Arc<Kernel>,
        bind_group: wgpu::BindGroup,
        groups: [u32; 3],
        _tensors: Vec<Tensor>,
    },
    Copy {
        src: Tensor,
        dst: Tensor,
    },
    Clear {
        dst: Tensor,
    },
    /// A tensor into a host-mapped staging buffer at `offset` bytes (`exchange`).
    CopyOut {
        src: Tensor,
        dst: Arc<Buffer>,
        offset: u64,
    },
}

/// Records commands; `finish` creates the uniform buffer and every bind group.
pub struct PlanBuilder<'g> {
    gpu: &'g Gpu,
    label: String,
    cmds: Vec<Cmd>,
    uniforms: Vec<u8>,
}

/// A finished, replayable list of GPU commands. Holds its tensors alive.
pub struct Plan {
    label: String,
    steps: Vec<Step>,
    _uniforms: wgpu::Buffer,
    dispatches: usize,
}

impl<'g> PlanBuilder<'g> {
    pub fn new(gpu: &'g Gpu, label: impl Into<String>) -> Self {
        PlanBuilder { gpu, label: label.into(), cmds: Vec::new(), uniforms: Vec::new() }
    }

    pub fn gpu(&self) -> &'g Gpu {
        self.gpu
    }

    /// Record one dispatch of `spec` with shape parameters `params` (binding 0) and `tensors`
    /// (bindings 1..) over `groups` workgroups.
    pub fn dispatch<P: bytemuck::Pod>(
        &mut self,
        spec: &'static KernelSpec,
        params: &P,
        tensors: &[&Tensor],
        groups: [u32; 3],
    ) -> Result<()> {
        if tensors.len() != spec.bindings.len() {
            return Err(Error::gpu(format!(
                "kernel `{}` takes {} tensors, got {}",
                spec.name,
                spec.bindings.len(),
                tensors.len()
            )));
        }
        for (i, (t, a)) in tensors.iter().zip(spec.bindings).enumerate() {
            if t.bytes() > self.gpu.max_storage_binding() {
                return Err(Error::OutOfMemory {
                    what: format!("binding {} of `{}` ({:?})", i + 1, spec.name, t.shape()),
                    needed_mib: t.bytes() as f64 / (1u64 << 20) as f64,
                    limit: format!(
                        "{} binds at most {} MiB",
                        self.gpu.summary.name,
                        self.gpu.max_storage_binding() >> 20
                    ),
                    hint: super::tensor::NEEDS_LESS.into(),
                });
            }
            // One buffer may not be bound both read-only and read-write in one dispatch (WebGPU's
            // usage rule); several writable views of one buffer (disjoint arena slices) are fine.
            for (u, b) in tensors.iter().zip(spec.bindings).take(i) {
                if t.same_buffer(u) && a != b {
                    return Err(Error::gpu(format!(
                        "kernel `{}`: a buffer is bound both read-only and read-write",
                        spec.name
                    )));
                }
            }
        }
        let max = self.gpu.limits.max_compute_workgroups_per_dimension;
        if groups.iter().any(|&g| g > max) {
            return Err(Error::gpu(format!("kernel `{}`: {:?} workgroups exceed the limit {max}", spec.name, groups)));
        }
        let kernel = self.gpu.kernel(spec)?;
        let align = self.gpu.uniform_alignment() as usize;
        let start = self.uniforms.len().next_multiple_of(align);
        self.uniforms.resize(start, 0);
        let bytes = bytemuck::bytes_of(params);
        self.uniforms.extend_from_slice(bytes);
        // Uniform blocks are sized in 16-byte units.
        let size = bytes.len().next_multiple_of(16).max(16);
        self.uniforms.resize(start + size, 0);
        let tensors = tensors.iter().map(|t| (*t).clone()).collect();
        if groups.iter().all(|&g| g > 0) {
            self.cmds.push(Cmd::Dispatch { kernel, tensors, uniform: (start as u64, size as u64), groups });
        }
        Ok(())
    }

    /// Record a buffer copy (same element count and type).
    pub fn copy(&mut self, src: &Tensor, dst: &Tensor) {
        assert_eq!(src.len(), dst.len(), "copy {src:?} -> {dst:?}");
        assert_eq!(src.dtype(), dst.dtype());
        self.cmds.push(Cmd::Copy { src: src.clone(), dst: dst.clone() });
    }

    /// Record a copy of `src` into a staging buffer the host maps (`exchange`).
    pub(super) fn copy_out(&mut self, src: &Tensor, dst: &Arc<Buffer>, offset: u64) {
        self.cmds.push(Cmd::CopyOut { src: src.clone(), dst: dst.clone(), offset });
    }

    /// Record setting every element of `dst` to zero (an accumulator's start, within the step).
    pub fn clear(&mut self, dst: &Tensor) {
        self.cmds.push(Cmd::Clear { dst: dst.clone() });
    }

    pub fn finish(self) -> Result<Plan> {
        let g = self.gpu;
        let size = (self.uniforms.len().max(16)) as u64;
        let uniforms = g.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(&self.label),
            size,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        if !self.uniforms.is_empty() {
            g.queue.write_buffer(&uniforms, 0, &self.uniforms);
        }
        let scope = g.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let mut dispatches = 0;
        let steps = self
            .cmds
            .into_iter()
            .map(|c| match c {
                Cmd::Dispatch { kernel, tensors, uniform, groups } => {
                    dispatches += 1;
                    let mut entries = vec![wgpu::BindGroupEntry {
                        binding: 0,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: &uniforms,
                            offset: uniform.0,
                            size: std::num::NonZeroU64::new(uniform.1),
                        }),
                    }];
                    for (i, t) in tensors.iter().enumerate() {
                        entries.push(wgpu::BindGroupEntry { binding: i as u32 + 1, resource: t.binding() });
                    }
                    let bind_group = g.device.create_bind_group(&wgpu::BindGroupDescriptor {
                        label: Some(&kernel.spec.name),
                        layout: &kernel.layout,
                        entries: &entries,
                    });
                    Step::Dispatch { kernel, bind_group, groups, _tensors: tensors }
                }
                Cmd::Copy { src, dst } => Step::Copy { src, dst },
                Cmd::Clear { dst } => Step::Clear { dst },
                Cmd::CopyOut { src, dst, offset } => Step::CopyOut { src, dst, offset },
            })
            .collect();
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::gpu(format!("building plan `{}`: {e}", self.label)));
        }
        Ok(Plan { label: self.label, steps, _uniforms: uniforms, dispatches })
    }
}

impl Step {
    /// Encode a copy or clear; false (nothing encoded) for a dispatch, which goes in a compute pass.
    fn encode_transfer(&self, enc: &mut wgpu::CommandEncoder) -> bool {
        match self {
            Step::Copy { src, dst } => {
                enc.copy_buffer_to_buffer(&src.buf.raw, src.offset, &dst.buf.raw, dst.offset, src.bytes())
            }
            Step::Clear { dst } => enc.clear_buffer(&dst.buf.raw, dst.offset, Some(dst.bytes())),
            Step::CopyOut { src, dst, offset } => {
                enc.copy_buffer_to_buffer(&src.buf.raw, src.offset, &dst.raw, *offset, src.bytes())
            }
            Step::Dispatch { .. } => return false,
        }
        true
    }
}

impl Plan {
    pub fn label(&self) -> &str {
        &self.label
    }
    /// Number of kernel launches one replay costs.
    pub fn dispatches(&self) -> usize {
        self.dispatches
    }

    fn encode(&self, enc: &mut wgpu::CommandEncoder) {
        let mut i = 0;
        while i < self.steps.len() {
            if self.steps[i].encode_transfer(enc) {
                i += 1;
                continue;
            }
            // A run of dispatches shares one compute pass.
            let mut pass = enc
                .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(&self.label), timestamp_writes: None });
            while let Some(Step::Dispatch { kernel, bind_group, groups, .. }) = self.steps.get(i) {
                pass.set_pipeline(&kernel.pipeline);
                pass.set_bind_group(0, bind_group, &[]);
                pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
                i += 1;
            }
        }
    }
}

/// A submitted batch of plans; `Gpu::wait_for_submission` blocks on it.
pub struct Submission(pub(super) wgpu::SubmissionIndex);

impl Gpu {
    /// Replay `plans` in order: one command encoder, one submit. Uploads queued before this call are
    /// ordered before it.
    pub fn run(&self, plans: &[&Plan]) -> Result<Submission> {
        let mut enc = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("step") });
        for p in plans {
            p.encode(&mut enc);
        }
        let idx = self.queue.submit([enc.finish()]);
        self.check()?;
        Ok(Submission(idx))
    }

    /// Block until `s` has finished on the device.
    pub fn wait_for_submission(&self, s: &Submission) -> Result<()> {
        self.wait_for(s.0.clone())?;
        self.check()
    }
}

/// Submissions the device may still be running: at most two, so the host loads the next batch while
/// the device runs the previous steps, without running ahead of it (every training and evaluation
/// loop submits through one of these).
#[derive(Default)]
pub struct InFlight(std::collections::VecDeque<Submission>);

impl InFlight {
    const DEPTH: usize = 2;

    /// Submit `plans` as one command buffer (nothing when empty), first waiting for the oldest
    /// submission if `DEPTH` are queued.
    pub fn submit(&mut self, gpu: &Gpu, plans: &[&Plan]) -> Result<()> {
        if plans.is_empty() {
            return Ok(());
        }
        self.0.push_back(gpu.run(plans)?);
        if self.0.len() > Self::DEPTH {
            gpu.wait_for_submission(&self.0.pop_front().expect("non-empty"))?;
        }
        Ok(())
    }

    /// Wait until everything submitted has finished.
    pub fn drain(&mut self, gpu: &Gpu) -> Result<()> {
        while let Some(s) = self.0.pop_front() {
            gpu.wait_for_submission(&s)?;
        }
        Ok(())
    }
}

impl Plan {
    /// Time every command of the plan on its own (submit, wait), best of `reps`: where a step's time
    /// goes, kernel by kernel. Includes each submit's fixed cost, which `dispatch_overhead` measures.
    pub fn profile(&self, gpu: &Gpu, reps: usize) -> Result<Vec<(String, f64)>> {
        let mut out = Vec::new();
        for step in &self.steps {
            let mut best = f64::INFINITY;
            for _ in 0..reps.max(1) {
                let mut enc = gpu.device.create_command_encoder(&Default::default());
                if let Step::Dispatch { kernel, bind_group, groups, .. } = step {
                    let mut pass = enc.begin_compute_pass(&Default::default());
                    pass.set_pipeline(&kernel.pipeline);
                    pass.set_bind_group(0, bind_group, &[]);
                    pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
                } else {
                    step.encode_transfer(&mut enc);
                }
                let t = std::time::Instant::now();
                gpu.queue.submit([enc.finish()]);
                gpu.wait()?;
                best = best.min(t.elapsed().as_secs_f64());
            }
            let name = match step {
                Step::Copy { .. } => "copy".to_string(),
                Step::Clear { .. } => "clear".to_string(),
                Step::CopyOut { .. } => "copy out".to_string(),
                Step::Dispatch { kernel, groups, .. } => format!("{} {:?}", kernel.spec.name, groups),
            };
            out.push((name, best));
        }
        Ok(out)
    }
}

impl Gpu {
    /// Seconds one empty submit-and-wait costs: the floor under any step, and what one-submit-per-step
    /// saves over one submit per kernel.
    pub fn dispatch_overhead(&self, reps: usize) -> Result<f64> {
        let mut best = f64::INFINITY;
        for _ in 0..reps.max(1) {
            let enc = self.device.create_command_encoder(&Default::default());
            let t = std::time::Instant::now();
            self.queue.submit([enc.finish()]);
            self.wait()?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        Ok(best)
    }
}
