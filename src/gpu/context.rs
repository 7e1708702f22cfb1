//! Adapter selection, device creation and the `Gpu` handle everything else goes through.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::kernels::Kernel;
use crate::error::{Error, Result};

/// Which wgpu backend to use; `Auto` lets wgpu pick among all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
pub enum BackendChoice {
    #[default]
    Auto,
    Vulkan,
    Metal,
    Dx12,
    Gl,
    /// Every backend, GL included.
    All,
}

impl BackendChoice {
    fn backends(self) -> wgpu::Backends {
        match self {
            // GL's compute support is the weakest: only used when asked for or when nothing else exists.
            BackendChoice::Auto => wgpu::Backends::PRIMARY,
            BackendChoice::Vulkan => wgpu::Backends::VULKAN,
            BackendChoice::Metal => wgpu::Backends::METAL,
            BackendChoice::Dx12 => wgpu::Backends::DX12,
            BackendChoice::Gl => wgpu::Backends::GL,
            BackendChoice::All => wgpu::Backends::all(),
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(BackendChoice::Auto),
            "vulkan" | "vk" => Ok(BackendChoice::Vulkan),
            "metal" | "mtl" => Ok(BackendChoice::Metal),
            "dx12" | "d3d12" => Ok(BackendChoice::Dx12),
            "gl" | "gles" | "opengl" => Ok(BackendChoice::Gl),
            "all" => Ok(BackendChoice::All),
            other => Err(Error::usage(format!("unknown backend `{other}` (expected vulkan, metal, dx12, gl or auto)"))),
        }
    }
}

/// How to open a device. `from_env` reads LAYERWISE_BACKEND, LAYERWISE_ADAPTER and LAYERWISE_SHADER_CHECKS;
/// command-line flags override it.
#[derive(Debug, Clone)]
pub struct GpuOptions {
    pub backend: BackendChoice,
    /// Index into the list `layerwise devices` prints.
    pub adapter: Option<usize>,
    /// Keep naga's bounds checks and workgroup-memory zeroing (slow; tests run kernels both ways).
    pub runtime_checks: bool,
    /// Ask for the low-power adapter instead of the high-performance one.
    pub low_power: bool,
}

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions {
            backend: BackendChoice::Auto,
            adapter: None,
            runtime_checks: cfg!(debug_assertions),
            low_power: false,
        }
    }
}

impl GpuOptions {
    pub fn from_env() -> Result<Self> {
        let mut o = GpuOptions::default();
        if let Ok(b) = std::env::var("LAYERWISE_BACKEND") {
            o.backend = BackendChoice::parse(&b)?;
        }
        if let Ok(a) = std::env::var("LAYERWISE_ADAPTER") {
            o.adapter = Some(
                a.trim()
                    .parse()
                    .map_err(|_| Error::usage(format!("LAYERWISE_ADAPTER=`{a}` is not an adapter index")))?,
            );
        }
        if let Ok(c) = std::env::var("LAYERWISE_SHADER_CHECKS") {
            o.runtime_checks = matches!(c.as_str(), "1" | "true" | "on" | "yes");
        }
        Ok(o)
    }
}

/// What `layerwise devices` prints about an adapter, and what a run records about the one it used.
/// Read back from saved reports (benchmark baselines), where fields another tool cannot know are absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdapterSummary {
    pub index: usize,
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub max_buffer_size: u64,
    pub max_storage_binding: u64,
    pub max_workgroup_storage: u32,
    pub max_invocations_per_workgroup: u32,
    pub subgroup_size: (u32, u32),
    pub shader_f16: bool,
    pub subgroup: bool,
    pub timestamp_query: bool,
    pub timestamp_inside_passes: bool,
    pub cooperative_matrix: Vec<String>,
}

impl AdapterSummary {
    fn of(index: usize, adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        let f = adapter.features();
        let l = adapter.limits();
        let cooperative_matrix = if f.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX) {
            adapter
                .cooperative_matrix_properties()
                .iter()
                .map(|p| format!("{}x{}x{} {:?}->{:?}", p.m_size, p.n_size, p.k_size, p.ab_type, p.cr_type))
                .collect()
        } else {
            Vec::new()
        };
        AdapterSummary {
            index,
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
            max_buffer_size: l.max_buffer_size,
            max_storage_binding: l.max_storage_buffer_binding_size,
            max_workgroup_storage: l.max_compute_workgroup_storage_size,
            max_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
            subgroup_size: (info.subgroup_min_size, info.subgroup_max_size),
            shader_f16: f.contains(wgpu::Features::SHADER_F16),
            subgroup: f.contains(wgpu::Features::SUBGROUP),
            timestamp_query: f.contains(wgpu::Features::TIMESTAMP_QUERY),
            timestamp_inside_passes: f.contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES),
            cooperative_matrix,
        }
    }

    /// One human-readable block per adapter.
    pub fn describe(&self) -> String {
        let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
        let mut feats = Vec::new();
        if self.shader_f16 {
            feats.push("shader-f16".to_string());
        }
        if self.subgroup {
            feats.push(format!("subgroup({}..{})", self.subgroup_size.0, self.subgroup_size.1));
        }
        if self.timestamp_query {
            feats.push(
                if self.timestamp_inside_passes { "timestamp-query(+inside passes)" } else { "timestamp-query" }.into(),
            );
        }
        if !self.cooperative_matrix.is_empty() {
            feats.push(format!("cooperative-matrix[{}]", self.cooperative_matrix.join(", ")));
        }
        format!(
            "[{}] {}\n    backend {}, type {}, driver {}\n    max buffer {:.0} MiB, max storage binding {:.0} MiB, workgroup storage {} KiB, {} invocations/workgroup\n    features: {}",
            self.index,
            self.name,
            self.backend,
            self.device_type,
            if self.driver.is_empty() { "-" } else { &self.driver },
            mib(self.max_buffer_size),
            mib(self.max_storage_binding),
            self.max_workgroup_storage / 1024,
            self.max_invocations_per_workgroup,
            if feats.is_empty() { "none".to_string() } else { feats.join(", ") }
        )
    }
}

fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor { backends, ..wgpu::InstanceDescriptor::new_without_display_handle() })
}

/// The adapters `--adapter N` indexes for this backend choice; `Auto` falls back to GL when no
/// Vulkan/Metal/DX12 adapter exists.
fn adapters(backend: BackendChoice) -> (wgpu::Instance, Vec<wgpu::Adapter>) {
    let inst = instance(backend.backends());
    let list = pollster::block_on(inst.enumerate_adapters(backend.backends()));
    if list.is_empty() && backend == BackendChoice::Auto {
        return adapters(BackendChoice::Gl);
    }
    (inst, list)
}

/// Every adapter wgpu can see for this backend choice, in the order `--adapter N` indexes.
pub fn list_adapters(backend: BackendChoice) -> Vec<AdapterSummary> {
    adapters(backend).1.iter().enumerate().map(|(i, a)| AdapterSummary::of(i, a)).collect()
}

/// The adapter `opts` asks for (by index), else the best by type: high performance ranks discrete >
/// integrated > virtual > CPU; low power prefers integrated. Returns its index and the adapter.
fn choose_adapter(opts: &GpuOptions) -> Result<(usize, wgpu::Adapter)> {
    let (_instance, mut all) = adapters(opts.backend);
    let i = match opts.adapter {
        Some(i) if i >= all.len() => {
            return Err(Error::usage(format!(
                "--adapter {i} does not exist: {} adapter(s) found for backend {:?} (see `layerwise devices`)",
                all.len(),
                opts.backend
            )))
        }
        Some(i) => i,
        None => {
            let rank = |t: wgpu::DeviceType| match (t, opts.low_power) {
                (wgpu::DeviceType::DiscreteGpu, false) | (wgpu::DeviceType::IntegratedGpu, true) => 0,
                (wgpu::DeviceType::IntegratedGpu, false) | (wgpu::DeviceType::DiscreteGpu, true) => 1,
                (wgpu::DeviceType::VirtualGpu, _) => 2,
                (wgpu::DeviceType::Cpu, _) => 3,
                (wgpu::DeviceType::Other, _) => 4,
            };
            (0..all.len())
                .min_by_key(|&i| rank(all[i].get_info().device_type))
                .ok_or_else(|| Error::NoAdapter(format!(" for backend {:?}", opts.backend)))?
        }
    };
    Ok((i, all.swap_remove(i)))
}

/// The opened device. Cheap to share by reference; kernels are compiled once and cached here.
pub struct Gpu {
    pub(super) device: wgpu::Device,
    pub(super) queue: wgpu::Queue,
    pub summary: AdapterSummary,
    pub(super) limits: wgpu::Limits,
    pub runtime_checks: bool,
    pub(super) kernels: Mutex<HashMap<&'static str, Arc<Kernel>>>,
    pub(super) allocated: Arc<AtomicU64>,
    pub(super) peak: Arc<AtomicU64>,
    /// Errors wgpu reports outside an error scope; turned into `Error::Gpu` by `check()`.
    uncaptured: Arc<Mutex<Option<String>>>,
}

impl Gpu {
    /// Open a device with the adapter's own limits and every optional feature the kernels can use.
    pub fn new(opts: &GpuOptions) -> Result<Gpu> {
        let (index, adapter) = choose_adapter(opts)?;
        let summary = AdapterSummary::of(index, &adapter);
        // Cooperative matrices are only reported (`layerwise devices`), never requested: no kernel uses
        // them yet. Requesting the experimental feature is for when one does, behind a self-test.
        let wanted = wgpu::Features::SHADER_F16
            | wgpu::Features::SUBGROUP
            | wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES;
        let features = adapter.features() & wanted;
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("layerwise"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::gpu(format!("could not open {}: {e}", summary.name)))?;
        let uncaptured = Arc::new(Mutex::new(None::<String>));
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(e.to_string());
            }
        }));
        Ok(Gpu {
            device,
            queue,
            summary,
            limits,
            runtime_checks: opts.runtime_checks,
            kernels: Mutex::new(HashMap::new()),
            allocated: Arc::new(AtomicU64::new(0)),
            peak: Arc::new(AtomicU64::new(0)),
            uncaptured,
        })
    }

    /// Turn an error wgpu reported asynchronously into a Rust error.
    pub fn check(&self) -> Result<()> {
        let mut slot = self.uncaptured.lock().unwrap_or_else(|p| p.into_inner());
        match slot.take() {
            Some(msg) => Err(Error::gpu(msg)),
            None => Ok(()),
        }
    }

    /// Block until all submitted work is done.
    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::gpu(format!("waiting for the device: {e}")))?;
        self.check()
    }

    /// Block until at most `keep` of our submissions are still queued (keeps the CPU from running ahead).
    pub(super) fn wait_for(&self, index: wgpu::SubmissionIndex) -> Result<()> {
        self.device
            .poll(wgpu::PollType::Wait { submission_index: Some(index), timeout: None })
            .map_err(|e| Error::gpu(format!("waiting for the device: {e}")))?;
        Ok(())
    }

    pub fn max_storage_binding(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size
    }
    pub fn max_buffer_size(&self) -> u64 {
        self.limits.max_buffer_size
    }
    pub fn storage_alignment(&self) -> u64 {
        self.limits.min_storage_buffer_offset_alignment as u64
    }
    pub fn uniform_alignment(&self) -> u64 {
        self.limits.min_uniform_buffer_offset_alignment as u64
    }

    /// Bytes of GPU buffers currently held through this handle, and the most ever held at once.
    pub fn memory(&self) -> (u64, u64) {
        (self.allocated.load(Ordering::Relaxed), self.peak.load(Ordering::Relaxed))
    }
    pub fn reset_peak(&self) {
        self.peak.store(self.allocated.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}
