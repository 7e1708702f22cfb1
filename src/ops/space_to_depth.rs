//! Invertible 2x2 downsampling (the papers' "invertible downsampling" between stages):
//! y[n, i, j, (dh*2 + dw)*C + c] = x[n, 2i + dh, 2j + dw, c]. No information is lost, so its
//! backward is the inverse permutation.
//!
//! Both kernels walk y's (or d_y's) pixels x 4C as a row grid (`grid::RowGrid`), one load and one store
//! per element and no division, in f32 and vec4 (C % 4 == 0) variants.

use super::grid::{variants, vec4_fits, RowGrid, Variants};
use crate::error::{Error, Result};
use crate::gpu::{Access, KernelSpec, PlanBuilder, Tensor};

pub(crate) static SPACE_TO_DEPTH_FORWARD: Variants =
    variants!("space_to_depth_forward", &[Access::Read, Access::ReadWrite]);
pub(crate) static SPACE_TO_DEPTH_BACKWARD: Variants =
    variants!("space_to_depth_backward", &[Access::Read, Access::ReadWrite]);

/// Every space_to_depth kernel spec, for `ops::all_kernels()`.
pub(crate) fn kernels() -> impl Iterator<Item = &'static KernelSpec> {
    [&SPACE_TO_DEPTH_FORWARD, &SPACE_TO_DEPTH_BACKWARD].into_iter().flat_map(|v| v.both())
}

/// Mirrors `Params` in shaders/lib/space_to_depth.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    grid: [u32; 5],
    h: u32,
    w: u32,
    c: u32,
}

/// The [N, H, W, C] shape of the full-resolution side; odd sizes are a model configuration error.
fn full_shape(t: &Tensor) -> Result<[usize; 4]> {
    let s = t.shape();
    assert_eq!(s.len(), 4, "space_to_depth: {t:?} is not NHWC");
    if s[1] % 2 != 0 || s[2] % 2 != 0 {
        return Err(Error::usage(format!(
            "space_to_depth needs an even height and width, got {}x{}: change the input size or the number of downsamplings",
            s[1], s[2]
        )));
    }
    Ok([s[0], s[1], s[2], s[3]])
}

/// Record `kernel` over the grid of y's pixels x 4C (in V elements), whichever direction.
fn record(
    p: &mut PlanBuilder,
    kernel: &'static Variants,
    full: &Tensor,
    other: &Tensor,
    tensors: &[&Tensor],
) -> Result<()> {
    let [n, h, w, c] = full_shape(full)?;
    assert_eq!(other.shape(), [n, h / 2, w / 2, 4 * c], "space_to_depth: {full:?} and {other:?} do not match");
    let vec4 = vec4_fits(p.gpu(), c);
    let cv = if vec4 { c / 4 } else { c };
    let g = RowGrid::new(p.gpu(), n * (h / 2) * (w / 2), 4 * cv)?;
    let params = Params { grid: g.params(), h: h as u32, w: w as u32, c: cv as u32 };
    p.dispatch(kernel.pick(vec4), &params, tensors, g.groups())
}

/// x: [N, H, W, C] (H, W even) -> y: [N, H/2, W/2, 4C].
pub fn space_to_depth_forward(p: &mut PlanBuilder, x: &Tensor, y: &Tensor) -> Result<()> {
    record(p, &SPACE_TO_DEPTH_FORWARD, x, y, &[x, y])
}

/// d_y: [N, H/2, W/2, 4C] -> d_x: [N, H, W, C].
pub fn space_to_depth_backward(p: &mut PlanBuilder, d_y: &Tensor, d_x: &Tensor) -> Result<()> {
    record(p, &SPACE_TO_DEPTH_BACKWARD, d_x, d_y, &[d_y, d_x])
}
