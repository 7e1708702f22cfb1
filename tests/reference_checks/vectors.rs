//! Reading the PyTorch vectors in our layouts, and comparing in f64.

use crate::common::*;

/// Tensor `name` of the PyTorch vectors with 4-d tensors permuted to ours (NCHW -> NHWC, OIHW -> OHWI);
/// other ranks as stored. Returns the values and PyTorch's shape.
pub fn ours(name: &str) -> (Vec<f64>, Vec<usize>) {
    let (v, shape) = torch(name);
    let v = if shape.len() == 4 { nchw_to_nhwc(&v, &shape) } else { v };
    (v, shape)
}

/// `ours` without the shape.
pub fn load(name: &str) -> Vec<f64> {
    ours(name).0
}

/// Relative L2 error of `got` against `want` under `tol`, with the error in the message.
#[track_caller]
pub fn assert_rel(what: &str, got: &[f64], want: &[f64], tol: f64) {
    let e = rel_err64(got, want);
    assert!(e < tol, "{what}: relative error {e:.3e} >= {tol:e}");
}

/// Every tensor name of the PyTorch vectors that starts with `prefix`, sorted: lets a test check that it
/// compared all of a case's tensors of one kind.
pub fn names(prefix: &str) -> Vec<String> {
    static FILE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let bytes = FILE.get_or_init(|| {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch_vectors.safetensors");
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    });
    let st = safetensors::SafeTensors::deserialize(bytes).expect("torch vectors parse");
    let mut names: Vec<String> =
        st.names().into_iter().filter(|n| n.starts_with(prefix)).map(|n| n.to_string()).collect();
    names.sort();
    names
}
