//! Kernel specs (which shader body, which variant of it, which bindings) and the per-device pipeline cache.
//!
//! A kernel variant is data: its body `shaders/<shader>.wgsl`, the compile-time parameters (`Define`s: tile
//! sizes, element types) that the shader loader (`gpu::shaders`) declares before that body, and, for bodies
//! that several cores run (conv2d), the core from `shaders/lib/` that holds the entry point. Each op lists
//! its variants once, in Rust (e.g. src/ops/conv2d/variants.rs); every pipeline is compiled on first use
//! and cached per variant.
//!
//! Every kernel has the same binding convention: binding 0 is a uniform block of shape parameters,
//! bindings 1.. are storage buffers in the order of `KernelSpec::bindings`. Layouts are written out
//! explicitly from the spec, never derived from the shader, so a shader edit cannot silently change them.

use std::borrow::Cow;
use std::sync::Arc;

use super::{shaders, Gpu};
use crate::error::{Error, Result};

/// How a kernel uses one of its storage bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
}

/// A compile-time parameter of a kernel variant, declared by the shader loader before the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Define {
    /// `const NAME: u32 = VALUEu;`: tile sizes, pixels per lane, ...
    U32(&'static str, u32),
    /// `alias NAME = TYPE;`: element types (`f32`, `vec4<f32>`).
    Type(&'static str, &'static str),
}

impl Define {
    /// The WGSL declaration.
    pub fn wgsl(&self) -> String {
        match self {
            Define::U32(name, v) => format!("const {name}: u32 = {v}u;"),
            Define::Type(name, t) => format!("alias {name} = {t};"),
        }
    }
}

/// A compute kernel variant: its shader, how it is specialised, its storage bindings.
#[derive(Debug)]
pub struct KernelSpec {
    /// Unique: the pipeline cache key and the name in profiles, benchmarks and errors, e.g.
    /// `conv2d_forward_128x64`.
    pub name: Cow<'static, str>,
    /// The body, `shaders/<shader>.wgsl` (without `.wgsl`).
    pub shader: &'static str,
    /// The core from `shaders/lib/` that holds the entry point, for bodies that only provide bindings and
    /// accessors (the conv2d directions, each run by several cores); None when the body has its own.
    pub core: Option<&'static str>,
    /// Declared before the body, in this order.
    pub defines: Cow<'static, [Define]>,
    pub entry: &'static str,
    pub bindings: &'static [Access],
    /// Needs subgroup operations over subgroups of at least 8 invocations.
    pub needs_subgroups: bool,
}

impl KernelSpec {
    /// The kernel of body `shaders/<name>.wgsl` with nothing to specialise.
    pub const fn new(name: &'static str, bindings: &'static [Access]) -> KernelSpec {
        KernelSpec::variant(name, name, &[], bindings)
    }

    /// A variant of body `shaders/<shader>.wgsl`, named `name`, with `defines` declared before it.
    pub const fn variant(
        name: &'static str,
        shader: &'static str,
        defines: &'static [Define],
        bindings: &'static [Access],
    ) -> KernelSpec {
        KernelSpec {
            name: Cow::Borrowed(name),
            shader,
            core: None,
            defines: Cow::Borrowed(defines),
            entry: "main",
            bindings,
            needs_subgroups: false,
        }
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
        let name: &'static str = &spec.name;
        if let Some(k) = self.kernels.lock().unwrap_or_else(|p| p.into_inner()).get(name) {
            return Ok(k.clone());
        }
        let k = Arc::new(self.compile(spec)?);
        self.kernels.lock().unwrap_or_else(|p| p.into_inner()).insert(name, k.clone());
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
        let source = shaders::source(spec)?;
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
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(&spec.name), entries: &entries });
        let pipeline_layout = self.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(&spec.name),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let desc =
            wgpu::ShaderModuleDescriptor { label: Some(&spec.name), source: wgpu::ShaderSource::Wgsl(source.into()) };
        let module = if self.runtime_checks {
            self.device.create_shader_module(desc)
        } else {
            // SAFETY: every kernel is tested against its CPU reference with checks on; unchecked, it runs
            // without naga's bounds clamping, which costs up to 50x on discrete GPUs.
            unsafe { self.device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked()) }
        };
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&spec.name),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(spec.entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                // Variants are specialised by the loader's declarations, never by pipeline overrides.
                constants: &[],
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
