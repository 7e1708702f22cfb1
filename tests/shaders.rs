//! Every shader parses, validates and translates to SPIR-V with naga, the path wgpu's Vulkan backend
//! takes; no GPU needed. Also checks that every file under shaders/ is embedded and used by a kernel.

use layerwise::gpu::shaders;

fn validate(name: &str) -> Result<usize, String> {
    let src = shaders::load(name).map_err(|e| e.to_string())?;
    let module = naga::front::wgsl::parse_str(&src).map_err(|e| format!("parse: {}", e.emit_to_string(&src)))?;
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
        .validate(&module)
        .map_err(|e| format!("validate: {}", e.emit_to_string(&src)))?;
    let mut opts = naga::back::spv::Options { lang_version: (1, 3), ..Default::default() };
    // The release path: no bounds checks (as create_shader_module_trusted with unchecked()).
    opts.bounds_check_policies = naga::proc::BoundsCheckPolicies::default();
    let words = std::panic::catch_unwind(|| naga::back::spv::write_vec(&module, &info, &opts, None))
        .map_err(|_| "naga's SPIR-V writer panicked".to_string())?
        .map_err(|e| format!("spv: {e}"))?;
    Ok(words.len())
}

#[test]
fn every_kernel_shader_validates_and_translates_to_spirv() {
    let mut failures = Vec::new();
    for spec in layerwise::ops::all_kernels() {
        if let Err(e) = validate(spec.shader) {
            failures.push(format!("{} ({}.wgsl): {e}", spec.name, spec.shader));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_shader_file_is_embedded_and_used() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files = Vec::new();
    for entry in walk(&dir) {
        let rel = entry.strip_prefix(&dir).unwrap().with_extension("");
        files.push(rel.to_string_lossy().replace('\\', "/"));
    }
    let used: Vec<&str> = layerwise::ops::all_kernels().iter().map(|k| k.shader).collect();
    for f in &files {
        assert!(shaders::raw(f).is_some(), "shaders/{f}.wgsl is not embedded (build.rs)");
        if !f.starts_with("common/") {
            assert!(used.contains(&f.as_str()), "shaders/{f}.wgsl is not used by any kernel in ops::all_kernels()");
        }
    }
    assert_eq!(files.len(), shaders::SOURCES.len(), "embedded shader list and shaders/ differ");
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
