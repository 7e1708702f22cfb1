//! Kernel specs (which shader, which entry point, which bindings) and the per-device pipeline cache.
//!
//! Every kernel has the same binding convention: binding 0 is a uniform block of shape parameters,
//! bindings 1.. are storage buffers in the order of `KernelSpec::bindings`. Layouts are written out
//! explicitly from the spec, never derived from the shader, so a shader edit cannot silently change them.

use std::sync::Arc;

use super::{shaders, Gpu};
use crate::error::{Error, Result};

/// How a kernel uses one of its storage bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
}

/// A compute kernel: shader file (without `.wgsl`), entry point, storage bindings, override constants.
#[derive(Debug)]
pub struct KernelSpec {
    /// Unique cache key, e.g. `conv2d_forward`.
    pub name: &'static str,
    pub shader: &'static str,
    pub entry: &'static str,
    pub bindings: &'static [Access],
    /// WGSL `override` constants fixed at pipeline creation (tile variants, fused epilogues).
    pub constants: &'static [(&'static str, f64)],
    /// Needs subgroup operations over subgroups of at least 8 invocations.
    pub needs_subgroups: bool,
}

impl KernelSpec {
    pub const fn new(name: &'static str, shader: &'static str, bindings: &'static [Access]) -> KernelSpec {
        KernelSpec { name, shader, entry: "main", bindings, constants: &[], needs_subgroups: false }
    }

    /// The same kernel, marked as needing subgroups of at least 8 invocations.
    pub const fn with_subgroups(self) -> KernelSpec {
        KernelSpec { needs_subgroups: true, ..self }
    }

    /// Whether the adapter can run this kernel at all.
    pub fn runs_on(&self, adapter: &super::AdapterSummary) -> bool {
        !self.needs_subgroups || (adapter.subgroup && adapter.subgroup_size.0 >= 8)
    }
}

pub(crate) struct Kernel {
    pub(super) pipeline: wgpu::ComputePipeline,
    pub(super) layout: wgpu::BindGroupLayout,
    pub(super) spec: &'static KernelSpec,
}

impl Gpu {
    /// The compiled pipeline for `spec`, created on first use and cached for the device's lifetime.
    pub(crate) fn kernel(&self, spec: &'static KernelSpec) -> Result<Arc<Kernel>> {
        if let Some(k) = self.kernels.lock().unwrap_or_else(|p| p.into_inner()).get(spec.name) {
            return Ok(k.clone());
        }
        let k = Arc::new(self.compile(spec)?);
        self.kernels.lock().unwrap_or_else(|p| p.into_inner()).insert(spec.name, k.clone());
        Ok(k)
    }

    /// Compile every kernel in `specs` now (start-up cost paid once, errors reported early).
    pub fn prepare(&self, specs: &[&'static KernelSpec]) -> Result<()> {
        for s in specs {
            self.kernel(s)?;
        }
        Ok(())
    }

    fn compile(&self, spec: &'static KernelSpec) -> Result<Kernel> {
        let source = shaders::load(spec.shader)?;
        let mut entries = vec![wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        }];
        for (i, a) in spec.bindings.iter().enumerate() {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: i as u32 + 1,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only: *a == Access::Read },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            });
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let layout = self
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(spec.name), entries: &entries });
        let pipeline_layout = self.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(spec.name),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let desc =
            wgpu::ShaderModuleDescriptor { label: Some(spec.name), source: wgpu::ShaderSource::Wgsl(source.into()) };
        let module = if self.runtime_checks {
            self.device.create_shader_module(desc)
        } else {
            // SAFETY: every kernel is tested against its CPU reference with checks on; unchecked, it runs
            // without naga's bounds clamping, which costs up to 50x on discrete GPUs.
            unsafe { self.device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked()) }
        };
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(spec.name),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(spec.entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: spec.constants,
                zero_initialize_workgroup_memory: self.runtime_checks,
            },
            cache: None,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::gpu(format!("kernel `{}` failed to compile on {}: {e}", spec.name, self.summary.name)));
        }
        Ok(Kernel { pipeline, layout, spec })
    }
}
