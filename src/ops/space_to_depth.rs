//! Invertible 2x2 downsampling (the papers' "invertible downsampling" between stages):
//! y[n, i, j, (dh*2 + dw)*C + c] = x[n, 2i + dh, 2j + dw, c]. No information is lost, so its
//! backward is the inverse permutation.

use crate::error::{Error, Result};
use crate::gpu::{groups_for, Access, KernelSpec, PlanBuilder, Tensor, ELEMENTWISE_WG};

pub static SPACE_TO_DEPTH_FORWARD: KernelSpec =
    KernelSpec::new("space_to_depth_forward", "space_to_depth_forward", &[Access::Read, Access::ReadWrite]);
pub static SPACE_TO_DEPTH_BACKWARD: KernelSpec =
    KernelSpec::new("space_to_depth_backward", "space_to_depth_backward", &[Access::Read, Access::ReadWrite]);

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    total: u32,
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

fn params(t: &Tensor, [n, h, w, c]: [usize; 4], other: &Tensor) -> Params {
    assert_eq!(other.shape(), [n, h / 2, w / 2, 4 * c], "space_to_depth: {t:?} and {other:?} do not match");
    Params { total: t.len() as u32, h: h as u32, w: w as u32, c: c as u32 }
}

/// x: [N, H, W, C] (H, W even) -> y: [N, H/2, W/2, 4C].
pub fn space_to_depth_forward(p: &mut PlanBuilder, x: &Tensor, y: &Tensor) -> Result<()> {
    let params = params(x, full_shape(x)?, y);
    p.dispatch(&SPACE_TO_DEPTH_FORWARD, &params, &[x, y], [groups_for(y.len(), ELEMENTWISE_WG), 1, 1])
}

/// d_y: [N, H/2, W/2, 4C] -> d_x: [N, H, W, C].
pub fn space_to_depth_backward(p: &mut PlanBuilder, d_y: &Tensor, d_x: &Tensor) -> Result<()> {
    let params = params(d_x, full_shape(d_x)?, d_y);
    p.dispatch(&SPACE_TO_DEPTH_BACKWARD, &params, &[d_y, d_x], [groups_for(d_x.len(), ELEMENTWISE_WG), 1, 1])
}
