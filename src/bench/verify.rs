//! How close an f32 kernel must come to its f64 CPU reference, and the benchmark's checks of the kernels it
//! times. The bounds are the one standard of the kernel tests and of `layerwise bench kernels` (which runs
//! each kernel it times once on a reduced problem first, and refuses to time a wrong one). Two bounds, as
//! each misses what the other sees:
//! - the whole-tensor relative L2 error, ||got - want|| / ||want||, bounds the rounding accumulated over the
//!   output;
//! - the largest per-element error relative to the tensor's scale, max |got - want| / rms(want), catches a
//!   few wrong elements that the L2 norm averages away (one element 1% off among 10^5 moves the L2 ratio by
//!   about 3e-5, well inside its bound).
//!
//! NaN anywhere (an element a kernel never wrote, over an output poisoned with NaN) fails both.

use std::fmt;

use super::kernels::shape_label;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, PlanBuilder};
use crate::ops::{self, Conv2dKernel, Conv2dShape};
use crate::reference;
use crate::rng::SplitMix;

/// Bound on the relative L2 error.
pub const L2_TOL: f64 = 1e-4;

/// Bound on the largest element error relative to the reference's RMS. Every kernel test stays below 7e-6 on
/// lavapipe (the worst: batchnorm's batch mean over 5,289 rows, 6.6e-6; cross-entropy's gradient over 10^6
/// logits, 5.3e-6; batchnorm's output and conv2d's input gradient, 4e-6), as the whole-tensor errors do
/// (worst 6.6e-6): the same bound leaves both the same margin. An element off by 1% of a typical value is
/// 1e-2 of the RMS, a hundred times the bound.
pub const ELEMENT_TOL: f64 = 1e-4;

/// A result's errors against its reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Errors {
    /// ||got - want|| / ||want|| (||got - want|| when want is all zero).
    pub l2: f64,
    /// max |got - want| / rms(want) (max |got - want| when want is all zero).
    pub element: f64,
}

impl Errors {
    pub fn of(got: &[f32], want: &[f64]) -> Errors {
        assert_eq!(got.len(), want.len(), "result and reference differ in length");
        let (mut sq_diff, mut sq_want, mut max_diff) = (0f64, 0f64, 0f64);
        for (&g, &w) in got.iter().zip(want) {
            let d = g as f64 - w;
            if d.is_nan() {
                return Errors { l2: f64::NAN, element: f64::NAN };
            }
            sq_diff += d * d;
            sq_want += w * w;
            max_diff = max_diff.max(d.abs());
        }
        if sq_want == 0.0 {
            return Errors { l2: sq_diff.sqrt(), element: max_diff };
        }
        let rms = (sq_want / want.len() as f64).sqrt();
        Errors { l2: (sq_diff / sq_want).sqrt(), element: max_diff / rms }
    }

    /// Whether both bounds hold (false for NaN).
    pub fn within_bounds(&self) -> bool {
        self.l2 < L2_TOL && self.element < ELEMENT_TOL
    }
}

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "relative error {:.3e} (bound {L2_TOL:e}), largest element error {:.3e} of the RMS (bound {ELEMENT_TOL:e})",
            self.l2, self.element
        )
    }
}

/// The reduced problems the benchmark verifies on: batch 1 and at most a 6x5 map (7x7 kernels: 9x8, so
/// that a stride-2 window has room) for convs, 30 rows for
/// the GEMM; small enough that the widest layer (2048 -> 1024) costs about a GFLOP in the f64 reference,
/// and sizes that are multiples of no tile.
const VERIFY_H: usize = 6;
const VERIFY_W: usize = 5;

/// Run the three conv directions' `kernels` once on a reduced copy of `s` (outputs poisoned with NaN) and
/// return each one's relative L2 error, or an error naming the first that misses a bound.
pub(super) fn verify_conv(gpu: &Gpu, s: &Conv2dShape, kernels: [&'static Conv2dKernel; 3]) -> Result<[f64; 3]> {
    let full = shape_label(s);
    let grow = if s.kh > 5 { 3 } else { 0 };
    let s = &Conv2dShape { n: 1, h: s.h.min(VERIFY_H + grow), w: s.w.min(VERIFY_W + grow), ..*s };
    let mut rng = SplitMix::new(0x5eed ^ (s.cin * 4099 + s.cout) as u64);
    let x = rng.normals(s.x_len());
    let w = rng.normals(s.w_len());
    let d_y = rng.normals(s.y_len());
    let tx = gpu.tensor_from(&[s.n, s.h, s.w, s.cin], &to_f32(&x), "verify x")?;
    let tw = gpu.tensor_from(&[s.cout, s.kh, s.kw, s.cin], &to_f32(&w), "verify w")?;
    let tdy = gpu.tensor_from(&[s.n, s.oh(), s.ow(), s.cout], &to_f32(&d_y), "verify d_y")?;
    let ty = gpu.tensor(&[s.n, s.oh(), s.ow(), s.cout], "verify y")?;
    let tdx = gpu.tensor(&[s.n, s.h, s.w, s.cin], "verify d_x")?;
    let tdw = gpu.tensor(&[s.cout, s.kh, s.kw, s.cin], "verify d_w")?;
    let ws = gpu.tensor(&[ops::conv2d_backward_weight_workspace_len(s, false)], "verify workspace")?;
    // An element a kernel forgets to write stays NaN and fails the check.
    for t in [&ty, &tdx, &tdw, &ws] {
        gpu.fill(t, f32::NAN);
    }
    let mut p = PlanBuilder::new(gpu, "verify conv2d");
    ops::conv2d_forward_with(&mut p, kernels[0], &tx, &tw, None, &ty, false)?;
    ops::conv2d_backward_input_with(&mut p, kernels[1], &tdy, &tw, &tdx)?;
    ops::conv2d_backward_weight_with(&mut p, kernels[2], &tx, &tdy, &tdw, None, &ws)?;
    gpu.run(&[&p.finish()?])?;

    let mut y_ref = vec![0.0; s.y_len()];
    let mut dx_ref = vec![0.0; s.x_len()];
    let mut dw_ref = vec![0.0; s.w_len()];
    reference::conv2d_forward(&x, &w, None, &mut y_ref, false, s);
    reference::conv2d_backward_input(&d_y, &w, &mut dx_ref, s);
    reference::conv2d_backward_weight(&x, &d_y, &mut dw_ref, None, s);
    let got = [gpu.download(&ty)?, gpu.download(&tdx)?, gpu.download(&tdw)?];
    let want = [y_ref, dx_ref, dw_ref];
    let mut errors = [0.0; 3];
    for (i, k) in kernels.iter().enumerate() {
        errors[i] = check(gpu, k, (&full, &shape_label(s)), Errors::of(&got[i], &want[i]))?;
    }
    Ok(errors)
}

/// Run the n x n x n GEMM's `kernel` once with at most 30 rows (x [rows, n], w [n, n]) and return its
/// relative L2 error, or an error when it misses a bound.
pub(super) fn verify_gemm(gpu: &Gpu, n: usize, kernel: &'static Conv2dKernel) -> Result<f64> {
    let rows = n.min(VERIFY_H * VERIFY_W);
    let mut rng = SplitMix::new(0x6e33 ^ n as u64);
    let x = rng.normals(rows * n);
    let w = rng.normals(n * n);
    let tx = gpu.tensor_from(&[rows, 1, 1, n], &to_f32(&x), "verify gemm x")?;
    let tw = gpu.tensor_from(&[n, 1, 1, n], &to_f32(&w), "verify gemm w")?;
    let ty = gpu.tensor(&[rows, 1, 1, n], "verify gemm y")?;
    gpu.fill(&ty, f32::NAN);
    let mut p = PlanBuilder::new(gpu, "verify gemm");
    ops::conv2d_forward_with(&mut p, kernel, &tx, &tw, None, &ty, false)?;
    gpu.run(&[&p.finish()?])?;
    let mut y_ref = vec![0.0; rows * n];
    reference::linear_forward(&x, &w, None, &mut y_ref, false, rows, n, n);
    check(gpu, kernel, (&format!("{n}x{n}x{n}"), &format!("{rows}x{n}x{n}")), Errors::of(&gpu.download(&ty)?, &y_ref))
}

/// The relative L2 error when both bounds hold; otherwise an error naming the kernel and the (timed, verified)
/// shapes.
fn check(gpu: &Gpu, kernel: &Conv2dKernel, (shape, reduced): (&str, &str), e: Errors) -> Result<f64> {
    if e.within_bounds() {
        return Ok(e.l2);
    }
    Err(Error::gpu(format!(
        "{} {shape} on {}: {e} against the CPU reference (on the reduced shape {reduced}); not timing a wrong kernel",
        kernel.name(),
        gpu.summary.name
    )))
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix;

    /// 10^5 normal values and their f32 rounding: what a correct kernel's output looks like.
    fn output() -> (Vec<f32>, Vec<f64>) {
        let want = SplitMix::new(3).normals(100_000);
        (want.iter().map(|&w| w as f32).collect(), want)
    }

    #[test]
    fn rounding_passes_both_bounds() {
        let (got, want) = output();
        let e = Errors::of(&got, &want);
        assert!(e.within_bounds() && e.l2 == 0.0, "{e}");
        // Every element off by a few f32 ulps.
        let noisy: Vec<f32> = want.iter().map(|&w| (w * (1.0 + 3e-7)) as f32).collect();
        assert!(Errors::of(&noisy, &want).within_bounds(), "{}", Errors::of(&noisy, &want));
    }

    #[test]
    fn one_element_off_by_one_percent_fails_the_element_bound_only() {
        let (mut got, want) = output();
        // A typical element (|w| near the RMS, 1): the L2 ratio alone would let it through.
        let i = want.iter().position(|w| (w.abs() - 1.0).abs() < 0.05).unwrap();
        got[i] = (want[i] * 1.01) as f32;
        let e = Errors::of(&got, &want);
        assert!(e.l2 < L2_TOL, "{e}");
        assert!(e.element > ELEMENT_TOL && !e.within_bounds(), "{e}");
    }

    #[test]
    fn nan_and_zero_references() {
        let (mut got, want) = output();
        got[17] = f32::NAN;
        let e = Errors::of(&got, &want);
        assert!(e.l2.is_nan() && e.element.is_nan() && !e.within_bounds());
        // An all-zero reference: absolute errors.
        let e = Errors::of(&[0.0, 1e-6, 0.0], &[0.0; 3]);
        assert_eq!((e.l2 as f32, e.element as f32), (1e-6, 1e-6));
        assert!(e.within_bounds());
        assert!(!Errors::of(&[0.0, 1e-3], &[0.0; 2]).within_bounds());
    }
}
