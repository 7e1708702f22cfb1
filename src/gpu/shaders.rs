//! The WGSL sources, embedded at compile time, and a minimal preprocessor: a line
//! `// #include "common/name.wgsl"` is replaced by that file's text (once per module), so kernels share
//! one GEMM core and one set of helpers without copies. Tests validate the expanded text with naga.

use crate::error::{Error, Result};

macro_rules! embed {
    ($($name:literal),* $(,)?) => {
        /// (path relative to `shaders/` without `.wgsl`, text) for every shader file.
        pub const SOURCES: &[(&str, &str)] = &[
            $(($name, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/", $name, ".wgsl")))),*
        ];
    };
}

embed!(
    "common/util",
    "relu_forward",
    "relu_backward",
);

/// The raw text of one shader file.
pub fn raw(name: &str) -> Option<&'static str> {
    SOURCES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// The expanded source of a kernel's shader, includes resolved.
pub fn load(name: &str) -> Result<String> {
    let mut seen = Vec::new();
    let mut out = String::new();
    expand(name, &mut seen, &mut out)?;
    Ok(out)
}

fn expand(name: &str, seen: &mut Vec<String>, out: &mut String) -> Result<()> {
    if seen.iter().any(|s| s == name) {
        return Ok(());
    }
    seen.push(name.to_string());
    let text = raw(name).ok_or_else(|| Error::gpu(format!("no shader named `{name}` is embedded")))?;
    for line in text.lines() {
        match line.trim().strip_prefix("// #include ") {
            Some(inc) => {
                let inc = inc.trim().trim_matches('"').trim_end_matches(".wgsl");
                expand(inc, seen, out)?;
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    Ok(())
}
