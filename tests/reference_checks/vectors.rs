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

