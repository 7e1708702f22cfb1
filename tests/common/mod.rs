//! Shared test helpers: the GPU (or a clear failure when none), seeded random data, error norms.
#![allow(dead_code)]

use std::sync::OnceLock;

use layerwise::bench::verify::Errors;
use layerwise::gpu::{Gpu, GpuOptions};

/// The adapter tests run on, opened once per test binary in each shader mode. With no adapter the
/// test fails and says how to get one, unless LAYERWISE_SKIP_GPU_TESTS=1 asks to skip on purpose.
pub fn gpu(checked: bool) -> Option<&'static Gpu> {
    static CHECKED: OnceLock<Option<Gpu>> = OnceLock::new();
    static UNCHECKED: OnceLock<Option<Gpu>> = OnceLock::new();
    let cell = if checked { &CHECKED } else { &UNCHECKED };
    cell.get_or_init(|| {
        let mut opts = GpuOptions::from_env().expect("GPU options from the environment");
        opts.runtime_checks = checked;
        match Gpu::new(&opts) {
            Ok(g) => Some(g),
            Err(e) if skip_gpu() => {
                eprintln!("skipping GPU tests on purpose (LAYERWISE_SKIP_GPU_TESTS=1): {e}");
                None
            }
            Err(e) => panic!("GPU tests need an adapter: {e}\nSet LAYERWISE_SKIP_GPU_TESTS=1 to skip them on purpose."),
        }
    })
    .as_ref()
}

pub fn skip_gpu() -> bool {
    std::env::var("LAYERWISE_SKIP_GPU_TESTS").is_ok_and(|v| v == "1")
}

/// Run `f` with runtime checks on (catches out-of-bounds accesses) and off (the release path).
pub fn both_modes(mut f: impl FnMut(&Gpu)) {
    for checked in [true, false] {
        if let Some(g) = gpu(checked) {
            f(g);
        }
    }
}

/// The project's seeded generator (`layerwise::rng`), under the name the tests have always used. (Not every
/// test binary draws random inputs, as not every one uses every helper here.)
#[allow(unused_imports)]
pub use layerwise::rng::SplitMix as Rng;

pub fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Same, both in f64 (CPU reference against PyTorch).
pub fn rel_err64(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "length mismatch");
    let num: f64 = got.iter().zip(want).map(|(g, w)| (g - w) * (g - w)).sum();
    let den: f64 = want.iter().map(|w| w * w).sum();
    if den == 0.0 {
        num.sqrt()
    } else {
        (num / den).sqrt()
    }
}

/// An f32 result against its f64 reference: within both bounds every kernel must meet, on the relative L2
/// error and on the largest element error relative to the tensor's RMS (`layerwise::bench::verify`).
#[track_caller]
pub fn assert_close(what: &str, got: &[f32], want: &[f64]) {
    let e = Errors::of(got, want);
    assert!(e.within_bounds(), "{what}: {e}");
}

/// PyTorch float64 oracle vectors (tests/fixtures/torch_vectors.safetensors, NCHW layout): values and shape.
pub fn torch(name: &str) -> (Vec<f64>, Vec<usize>) {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    let bytes = FILE.get_or_init(|| {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch_vectors.safetensors");
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    });
    let st = safetensors::SafeTensors::deserialize(bytes).expect("torch vectors parse");
    let t = st.tensor(name).unwrap_or_else(|_| panic!("no tensor `{name}` in the torch vectors"));
    assert_eq!(t.dtype(), safetensors::Dtype::F64);
    let v = t.data().chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect();
    (v, t.shape().to_vec())
}

/// [N, C, H, W] -> [N, H, W, C].
pub fn nchw_to_nhwc(x: &[f64], shape: &[usize]) -> Vec<f64> {
    let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3]);
    let mut out = vec![0.0; x.len()];
    for ni in 0..n {
        for ci in 0..c {
            for hi in 0..h {
                for wi in 0..w {
                    out[((ni * h + hi) * w + wi) * c + ci] = x[((ni * c + ci) * h + hi) * w + wi];
                }
            }
        }
    }
    out
}

/// [O, I, KH, KW] -> [O, KH, KW, I] (the same permutation as NCHW -> NHWC).
pub fn oihw_to_ohwi(w: &[f64], shape: &[usize]) -> Vec<f64> {
    nchw_to_nhwc(w, shape)
}

/// Central finite differences of `loss` at `x`, compared with `analytic`: max relative error over
/// the entries (each entry's error relative to max(|numeric|, |analytic|, 1e-3)).
pub fn finite_diff_error(x: &[f64], analytic: &[f64], mut loss: impl FnMut(&[f64]) -> f64) -> f64 {
    let h = 1e-6;
    let mut worst = 0f64;
    let mut xp = x.to_vec();
    for i in 0..x.len() {
        xp[i] = x[i] + h;
        let up = loss(&xp);
        xp[i] = x[i] - h;
        let down = loss(&xp);
        xp[i] = x[i];
        let num = (up - down) / (2.0 * h);
        let scale = num.abs().max(analytic[i].abs()).max(1e-3);
        worst = worst.max((num - analytic[i]).abs() / scale);
    }
    worst
}

/// sum(y * d_y): the scalar whose gradients the torch vectors and the finite-difference checks use.
pub fn dot(y: &[f64], d_y: &[f64]) -> f64 {
    y.iter().zip(d_y).map(|(a, b)| a * b).sum()
}

/// Sizings every test of a row-grid kernel (ops::grid) runs under: the adapter's own, and forced walks of
/// 3 and up to 40 rows per thread, so that the tests' small shapes also cover long walks (across image
/// rows and images, folds over many rows).
pub const GRID_SPANS: [Option<usize>; 3] = [None, Some(3), Some(40)];

/// Run `f` (which records kernels) under one of `GRID_SPANS`.
pub fn with_span<R>(span: Option<usize>, f: impl FnOnce() -> R) -> R {
    match span {
        Some(s) => layerwise::ops::with_grid_span(s, f),
        None => f(),
    }
}
