//! Max pooling with PyTorch's `MaxPool2d(kernel, stride, padding)` semantics in floor mode: the padding is
//! -inf (never the maximum), ties go to the first maximum in raster order, and overlapping windows
//! (stride < kernel) each send their gradient to their own first maximum. The papers' 2x2/2 pooling has
//! its own branch-free kernels; any other window (the ImageNet stem's 3x3/2 with padding 1) runs the
//! windowed ones. The backward passes recompute each window's argmax from x instead of storing indices:
//! one read of x is cheaper than writing and reading an index tensor.
//!
//! Every kernel covers pixels x C as a row grid (`grid::RowGrid`): y's pixels for the forwards, d_x's 2x2
//! blocks (2x2 kernel) or pixels (windowed) for the backwards. All come in f32 and vec4 (C % 4 == 0)
//! variants.

use super::grid::{variants, vec4_fits, RowGrid, Variants};
use crate::error::Result;
use crate::gpu::{Access, KernelSpec, PlanBuilder, Tensor};

pub(crate) static MAXPOOL2D_FORWARD: Variants = variants!("maxpool2d_forward", &[Access::Read, Access::ReadWrite]);
pub(crate) static MAXPOOL2D_BACKWARD: Variants =
    variants!("maxpool2d_backward", &[Access::Read, Access::Read, Access::ReadWrite]);
pub(crate) static MAXPOOL2D_FORWARD_WINDOW: Variants =
    variants!("maxpool2d_forward_window", &[Access::Read, Access::ReadWrite]);
pub(crate) static MAXPOOL2D_BACKWARD_WINDOW: Variants =
    variants!("maxpool2d_backward_window", &[Access::Read, Access::Read, Access::ReadWrite]);

/// Every maxpool2d kernel spec, for `ops::all_kernels()`.
pub(crate) fn kernels() -> impl Iterator<Item = &'static KernelSpec> {
    [&MAXPOOL2D_FORWARD, &MAXPOOL2D_BACKWARD, &MAXPOOL2D_FORWARD_WINDOW, &MAXPOOL2D_BACKWARD_WINDOW]
        .into_iter()
        .flat_map(|v| v.both())
}

/// How many windows of `kernel` at `stride` fit in `len` (floor mode).
fn windows(len: usize, kernel: usize, stride: usize) -> usize {
    if len < kernel {
        0
    } else {
        (len - kernel) / stride + 1
    }
}

/// Geometry of one max pooling: x's size [N, H, W, C] and the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool2dShape {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
}

impl MaxPool2dShape {
    /// 2x2 windows, stride 2, no padding: the papers' downsampling (an odd last row or column is dropped).
    pub fn two_by_two(n: usize, h: usize, w: usize, c: usize) -> Self {
        MaxPool2dShape { n, h, w, c, kernel: 2, stride: 2, pad: 0 }
    }
    /// The window `kernel`/`stride`/`pad` over x [N, H, W, C].
    pub fn of(x: &Tensor, kernel: usize, stride: usize, pad: usize) -> Self {
        let [n, h, w, c] = nhwc(x);
        MaxPool2dShape { n, h, w, c, kernel, stride, pad }
    }
    /// Output rows; 0 when the padded input is smaller than the window (PyTorch refuses that shape; the
    /// kernel gives an empty output and a zero gradient).
    pub fn oh(&self) -> usize {
        windows(self.h + 2 * self.pad, self.kernel, self.stride)
    }
    pub fn ow(&self) -> usize {
        windows(self.w + 2 * self.pad, self.kernel, self.stride)
    }
    pub fn x_len(&self) -> usize {
        self.n * self.h * self.w * self.c
    }
    pub fn y_len(&self) -> usize {
        self.n * self.oh() * self.ow() * self.c
    }
    fn is_two_by_two(&self) -> bool {
        (self.kernel, self.stride, self.pad) == (2, 2, 0)
    }
    /// PyTorch's limits: a positive kernel and stride, padding at most half the kernel (so that every
    /// window holds an element of x).
    pub fn check(&self) {
        assert!(self.kernel >= 1 && self.stride >= 1, "maxpool2d: kernel and stride must be positive, got {self:?}");
        assert!(2 * self.pad <= self.kernel, "maxpool2d: padding must be at most half the kernel, got {self:?}");
    }
}

/// Mirrors `Params` in shaders/lib/pool.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    grid: [u32; 5],
    h: u32,
    w: u32,
    c: u32,
    oh: u32,
    ow: u32,
    kernel: u32,
    stride: u32,
    pad: u32,
    _pad: [u32; 3],
}

fn nhwc(t: &Tensor) -> [usize; 4] {
    let s = t.shape();
    assert_eq!(s.len(), 4, "maxpool2d: {t:?} is not NHWC");
    [s[0], s[1], s[2], s[3]]
}

/// Record `kernel` over a grid of N * `pixels` rows of C.
fn record(
    p: &mut PlanBuilder,
    kernel: &'static Variants,
    s: &MaxPool2dShape,
    pixels: usize,
    tensors: &[&Tensor],
) -> Result<()> {
    let vec4 = vec4_fits(p.gpu(), s.c);
    let cv = if vec4 { s.c / 4 } else { s.c };
    let g = RowGrid::new(p.gpu(), s.n * pixels, cv)?;
    let u = |v: usize| v as u32;
    let params = Params {
        grid: g.params(),
        h: u(s.h),
        w: u(s.w),
        c: u(cv),
        oh: u(s.oh()),
        ow: u(s.ow()),
        kernel: u(s.kernel),
        stride: u(s.stride),
        pad: u(s.pad),
        _pad: [0; 3],
    };
    p.dispatch(kernel.pick(vec4), &params, tensors, g.groups())
}

/// x: [N, H, W, C] -> y: [N, OH, OW, C], the window `s` (whose N, H, W, C are x's).
pub fn maxpool2d_forward(p: &mut PlanBuilder, x: &Tensor, y: &Tensor, s: &MaxPool2dShape) -> Result<()> {
    s.check();
    assert_eq!(nhwc(x), [s.n, s.h, s.w, s.c], "maxpool2d_forward: {x:?} is not the input of {s:?}");
    assert_eq!(y.shape(), [s.n, s.oh(), s.ow(), s.c], "maxpool2d_forward: {x:?} -> {y:?} for {s:?}");
    let kernel = if s.is_two_by_two() { &MAXPOOL2D_FORWARD } else { &MAXPOOL2D_FORWARD_WINDOW };
    record(p, kernel, s, s.oh() * s.ow(), &[x, y])
}

/// x: [N, H, W, C] (the forward input), d_y: [N, OH, OW, C] -> d_x: [N, H, W, C]. Each window's gradient
/// goes to its first maximum in (dh, dw) raster order, as PyTorch; every element no window picks,
/// including rows and columns no window covers, gets zero.
pub fn maxpool2d_backward(
    p: &mut PlanBuilder,
    x: &Tensor,
    d_y: &Tensor,
    d_x: &Tensor,
    s: &MaxPool2dShape,
) -> Result<()> {
    s.check();
    assert_eq!(nhwc(x), [s.n, s.h, s.w, s.c], "maxpool2d_backward: {x:?} is not the input of {s:?}");
    assert_eq!(d_y.shape(), [s.n, s.oh(), s.ow(), s.c], "maxpool2d_backward: {x:?} vs d_y {d_y:?}");
    assert_eq!(d_x.shape(), x.shape(), "maxpool2d_backward: {x:?} vs d_x {d_x:?}");
    if s.is_two_by_two() {
        // The 2x2 blocks of d_x, counting the partial blocks of an odd last row/column.
        record(p, &MAXPOOL2D_BACKWARD, s, s.h.div_ceil(2) * s.w.div_ceil(2), &[x, d_y, d_x])
    } else {
        record(p, &MAXPOOL2D_BACKWARD_WINDOW, s, s.h * s.w, &[x, d_y, d_x])
    }
}
