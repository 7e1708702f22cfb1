//! Every kernel variant's shader module, exactly as the loader expands it (`gpu::shaders::source`), parses,
//! validates and translates with naga to SPIR-V (wgpu's Vulkan path), MSL (Metal) and HLSL (DX12), with
//! shader runtime checks off (the release path) and on; no GPU needed, so the Metal and DX12 paths are
//! compiled on every run. Also checks that every file under shaders/ is embedded and used by a kernel.

use layerwise::gpu::{shaders, Access, KernelSpec};
use naga::back::{hlsl, msl, spv};
use naga::proc::{BoundsCheckPolicies, BoundsCheckPolicy};
use naga::valid::{Capabilities, ModuleInfo, ValidationFlags, Validator};

/// The two ways wgpu creates a shader: with naga's runtime checks (tests, `--shader-checks`) or without
/// (release builds: `create_shader_module_trusted` with checks off, no workgroup-memory zeroing).
#[derive(Debug, Clone, Copy)]
struct Mode {
    checks: bool,
}

impl Mode {
    const BOTH: [Mode; 2] = [Mode { checks: false }, Mode { checks: true }];

    fn bounds(self) -> BoundsCheckPolicies {
        let p = if self.checks { BoundsCheckPolicy::Restrict } else { BoundsCheckPolicy::Unchecked };
        BoundsCheckPolicies { index: p, buffer: p, image_load: p, binding_array: BoundsCheckPolicy::Unchecked }
    }
}

fn parse_and_validate(spec: &KernelSpec, src: &str) -> Result<(naga::Module, ModuleInfo), String> {
    let module = naga::front::wgsl::parse_str(src).map_err(|e| format!("parse: {}", e.emit_to_string(src)))?;
    // What wgpu grants a device: subgroup operations only to the kernels that ask for them, so every
    // other kernel is known to compile on adapters without subgroups.
    let caps = if spec.needs_subgroups { Capabilities::SUBGROUP } else { Capabilities::empty() };
    let info = Validator::new(ValidationFlags::all(), caps)
        .validate(&module)
        .map_err(|e| format!("validate: {}", e.emit_to_string(src)))?;
    Ok((module, info))
}

fn spirv(module: &naga::Module, info: &ModuleInfo, mode: Mode) -> Result<(), String> {
    let mut opts = spv::Options { lang_version: (1, 3), bounds_check_policies: mode.bounds(), ..Default::default() };
    opts.zero_initialize_workgroup_memory = if mode.checks {
        spv::ZeroInitializeWorkgroupMemoryMode::Polyfill
    } else {
        spv::ZeroInitializeWorkgroupMemoryMode::None
    };
    catch("SPIR-V", || spv::write_vec(module, info, &opts, None).map(drop).map_err(|e| e.to_string()))
}

/// Metal: buffers in slots 0.. in binding order, as wgpu's Metal backend lays out one bind group. MSL 2.1 is
/// the oldest version wgpu runs a subgroup kernel with (the `simd_*` operations need the Mac2 or Apple7
/// family); the rest are translated for MSL 2.0.
fn metal(spec: &KernelSpec, module: &naga::Module, info: &ModuleInfo, mode: Mode) -> Result<(), String> {
    let mut resources = msl::BindingMap::default();
    let accesses = std::iter::once(Access::Read).chain(spec.bindings.iter().copied());
    for (i, access) in accesses.enumerate() {
        let target =
            msl::BindTarget { buffer: Some(i as u8), mutable: access == Access::ReadWrite, ..Default::default() };
        resources.insert(naga::ResourceBinding { group: 0, binding: i as u32 }, target);
    }
    let ep =
        msl::EntryPointResources { resources, sizes_buffer: Some(spec.bindings.len() as u8 + 1), ..Default::default() };
    let opts = msl::Options {
        lang_version: if spec.needs_subgroups { (2, 1) } else { (2, 0) },
        per_entry_point_map: [(spec.entry.to_string(), ep)].into(),
        fake_missing_bindings: false,
        bounds_check_policies: mode.bounds(),
        zero_initialize_workgroup_memory: mode.checks,
        force_loop_bounding: mode.checks,
        ..Default::default()
    };
    let pipeline = msl::PipelineOptions {
        entry_point: Some((naga::ShaderStage::Compute, spec.entry.to_string())),
        ..Default::default()
    };
    catch("MSL", || msl::write_string(module, info, &opts, &pipeline).map(drop).map_err(|e| e.to_string()))
}

/// DX12: registers in binding order (b0 for the shape parameters, t/u for the buffers), the number of
/// workgroups from a separate constant buffer, as wgpu's DX12 backend does. Shader model 6.0 (DXC), the
/// first with wave operations, for every kernel; 5.1 (FXC) too for those without subgroups.
fn dx12(spec: &KernelSpec, module: &naga::Module, info: &ModuleInfo, mode: Mode) -> Result<(), String> {
    let target = |register| hlsl::BindTarget { space: 0, register, ..Default::default() };
    let binding_map: hlsl::BindingMap =
        (0..=spec.bindings.len() as u32).map(|i| (naga::ResourceBinding { group: 0, binding: i }, target(i))).collect();
    let models: &[hlsl::ShaderModel] = if spec.needs_subgroups {
        &[hlsl::ShaderModel::V6_0]
    } else {
        &[hlsl::ShaderModel::V5_1, hlsl::ShaderModel::V6_0]
    };
    for &shader_model in models {
        let opts = hlsl::Options {
            shader_model,
            binding_map: binding_map.clone(),
            fake_missing_bindings: false,
            special_constants_binding: Some(hlsl::BindTarget { space: 1, register: 0, ..Default::default() }),
            zero_initialize_workgroup_memory: mode.checks,
            restrict_indexing: mode.checks,
            force_loop_bounding: mode.checks,
            ..Default::default()
        };
        let pipeline =
            hlsl::PipelineOptions { entry_point: Some((naga::ShaderStage::Compute, spec.entry.to_string())) };
        catch(&format!("HLSL {shader_model:?}"), || {
            let mut out = String::new();
            hlsl::Writer::new(&mut out, &opts, &pipeline).write(module, info, None).map(drop).map_err(|e| e.to_string())
        })?;
    }
    Ok(())
}

/// Run a backend writer, turning a panic (naga's writers assert on some unsupported input) into an error.
fn catch(backend: &str, write: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(write))
        .map_err(|_| format!("{backend}: naga's writer panicked"))?
        .map_err(|e| format!("{backend}: {e}"))
}

fn translate(spec: &KernelSpec) -> Result<(), String> {
    let src = shaders::source(spec).map_err(|e| e.to_string())?;
    let (module, info) = parse_and_validate(spec, &src)?;
    for mode in Mode::BOTH {
        let checks = |e: String| format!("{e} (runtime checks {})", if mode.checks { "on" } else { "off" });
        spirv(&module, &info, mode).map_err(checks)?;
        metal(spec, &module, &info, mode).map_err(checks)?;
        dx12(spec, &module, &info, mode).map_err(checks)?;
    }
    Ok(())
}

#[test]
fn every_kernel_variant_translates_to_spirv_msl_and_hlsl() {
    let failures: Vec<String> = layerwise::ops::all_kernels()
        .into_iter()
        .filter_map(|spec| translate(spec).err().map(|e| format!("{} ({}.wgsl): {e}", spec.name, spec.shader)))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn kernel_names_are_unique() {
    // The pipeline cache is keyed by name.
    let mut names: Vec<String> = layerwise::ops::all_kernels().iter().map(|k| k.name.to_string()).collect();
    let n = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), n, "two kernel variants share a name");
}

#[test]
fn every_shader_file_is_embedded_and_used() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let files: Vec<String> = walk(&dir)
        .iter()
        .map(|f| f.strip_prefix(&dir).unwrap().with_extension("").to_string_lossy().replace('\\', "/"))
        .collect();
    assert_eq!(files.len(), shaders::SOURCES.len(), "embedded shader list and shaders/ differ");
    let kernels = layerwise::ops::all_kernels();
    // The loader marks where each file's text starts: every helper must show up in some kernel's module.
    let modules: Vec<String> = kernels.iter().map(|k| shaders::source(k).unwrap()).collect();
    for f in &files {
        assert!(shaders::raw(f).is_some(), "shaders/{f}.wgsl is not embedded (build.rs)");
        if f.starts_with("lib/") {
            let marker = format!("// shaders/{f}.wgsl\n");
            assert!(modules.iter().any(|m| m.contains(&marker)), "shaders/{f}.wgsl is not used by any kernel");
        } else {
            assert!(
                kernels.iter().any(|k| k.shader == f),
                "shaders/{f}.wgsl is not the body of any kernel in ops::all_kernels()"
            );
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "wgsl") {
            out.push(p);
        }
    }
    out
}
