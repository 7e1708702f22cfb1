//! 2-D convolution, stride 1, "same" zero padding (KH and KW odd), as implicit GEMMs sharing one
//! register-tiled core (shaders/common/gemm.wgsl). No im2col buffer is ever materialised.
//!
//! x: [N, H, W, Cin], w: [Cout, KH, KW, Cin], bias: [Cout], y: [N, H, W, Cout].

use crate::error::Result;
use crate::gpu::{groups_for, Access, KernelSpec, PlanBuilder, Tensor, MAX_GROUPS_PER_DIM};

pub static CONV2D_FORWARD: KernelSpec =
    KernelSpec::new("conv2d_forward", "conv2d_forward", &[Access::Read, Access::Read, Access::Read, Access::ReadWrite]);
pub static CONV2D_BACKWARD_INPUT: KernelSpec =
    KernelSpec::new("conv2d_backward_input", "conv2d_backward_input", &[Access::Read, Access::Read, Access::ReadWrite]);
pub static CONV2D_BACKWARD_WEIGHT: KernelSpec =
    KernelSpec::new("conv2d_backward_weight", "conv2d_backward_weight", &[Access::Read, Access::Read, Access::ReadWrite]);
pub static CONV2D_BACKWARD_WEIGHT_REDUCE: KernelSpec = KernelSpec {
    name: "conv2d_backward_weight_reduce",
    shader: "conv2d_backward_weight",
    entry: "reduce",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite, Access::ReadWrite, Access::ReadWrite],
    constants: &[],
};

/// Tile sizes of shaders/common/gemm.wgsl.
const BM: usize = 64;
const BN: usize = 64;
const BK: usize = 16;
const HAS_BIAS: u32 = 1;
const RELU: u32 = 2;

/// Geometry of one convolution (stride 1, padding (K-1)/2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dShape {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub cin: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
}

impl Conv2dShape {
    /// Read the geometry from x [N, H, W, Cin] and w [Cout, KH, KW, Cin].
    pub fn of(x: &Tensor, w: &Tensor) -> Conv2dShape {
        let (xs, ws) = (x.shape(), w.shape());
        assert_eq!(xs.len(), 4, "conv2d input must be [N, H, W, C], got {xs:?}");
        assert_eq!(ws.len(), 4, "conv2d weight must be [Cout, KH, KW, Cin], got {ws:?}");
        assert_eq!(xs[3], ws[3], "conv2d: input has {} channels, weight expects {}", xs[3], ws[3]);
        assert!(ws[1] % 2 == 1 && ws[2] % 2 == 1, "conv2d: 'same' padding needs odd kernel sizes, got {ws:?}");
        Conv2dShape { n: xs[0], h: xs[1], w: xs[2], cin: xs[3], cout: ws[0], kh: ws[1], kw: ws[2] }
    }
    pub fn pad(&self) -> usize {
        self.kh / 2
    }
    /// Output pixels N*H*W (the GEMM's M for forward and backward_input, its K for backward_weight).
    pub fn m(&self) -> usize {
        self.n * self.h * self.w
    }
    /// KH*KW*Cin, the forward GEMM's reduction length.
    pub fn k(&self) -> usize {
        self.kh * self.kw * self.cin
    }
    pub fn x_len(&self) -> usize {
        self.m() * self.cin
    }
    pub fn y_len(&self) -> usize {
        self.m() * self.cout
    }
    pub fn w_len(&self) -> usize {
        self.cout * self.k()
    }
    /// Multiply-adds x2 of the forward pass (each backward direction costs the same).
    pub fn flops(&self) -> u64 {
        2 * (self.m() * self.cout * self.k()) as u64
    }
    fn params(&self, flags: u32) -> Params {
        Params {
            n: self.n as u32,
            h: self.h as u32,
            w: self.w as u32,
            cin: self.cin as u32,
            cout: self.cout as u32,
            kh: self.kh as u32,
            kw: self.kw as u32,
            pad: self.pad() as u32,
            flags,
            splits: 0,
            chunk: 0,
            cols: 0,
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    h: u32,
    w: u32,
    cin: u32,
    cout: u32,
    kh: u32,
    kw: u32,
    pad: u32,
    flags: u32,
    splits: u32,
    chunk: u32,
    cols: u32,
}

/// Workgroups for an M x N output in BM x BN tiles; M tiles spill from y into z past 65535.
fn gemm_groups(m: usize, n: usize) -> [u32; 3] {
    let mt = m.div_ceil(BM);
    let y = mt.min(MAX_GROUPS_PER_DIM as usize);
    [n.div_ceil(BN) as u32, y as u32, mt.div_ceil(y) as u32]
}

/// y = conv2d(x, w) + bias, then ReLU when `relu`.
pub fn conv2d_forward(p: &mut PlanBuilder, x: &Tensor, w: &Tensor, bias: Option<&Tensor>, y: &Tensor, relu: bool) -> Result<()> {
    let s = Conv2dShape::of(x, w);
    assert_eq!(y.shape(), [s.n, s.h, s.w, s.cout], "conv2d_forward output shape");
    if let Some(b) = bias {
        assert_eq!(b.len(), s.cout, "conv2d bias length");
    }
    let flags = if bias.is_some() { HAS_BIAS } else { 0 } | if relu { RELU } else { 0 };
    // Without a bias the weight is bound in its place (read-only twice is allowed; never read).
    let b = bias.unwrap_or(w);
    p.dispatch(&CONV2D_FORWARD, &s.params(flags), &[x, w, b, y], gemm_groups(s.m(), s.cout))
}

/// d_x = conv2d_backward_input(d_y, w). d_y: [N, H, W, Cout], d_x: [N, H, W, Cin].
pub fn conv2d_backward_input(p: &mut PlanBuilder, d_y: &Tensor, w: &Tensor, d_x: &Tensor) -> Result<()> {
    let s = Conv2dShape::of(d_x, w);
    assert_eq!(d_y.shape(), [s.n, s.h, s.w, s.cout], "conv2d_backward_input d_y shape");
    p.dispatch(&CONV2D_BACKWARD_INPUT, &s.params(0), &[d_y, w, d_x], gemm_groups(s.m(), s.cin))
}

/// How backward_weight splits its N*H*W reduction: (splits, chunk length).
fn weight_split(s: &Conv2dShape, bias: bool) -> (usize, usize) {
    let cols = s.k() + bias as usize;
    let tiles = cols.div_ceil(BN) * s.cout.div_ceil(BM);
    // Aim for ~512 workgroups in flight while keeping each chunk >= 256 rows so partials stay cheap.
    let max_splits = s.m().div_ceil(256).max(1);
    let splits = 512usize.div_ceil(tiles).clamp(1, max_splits.min(MAX_GROUPS_PER_DIM as usize));
    let chunk = s.m().div_ceil(splits).next_multiple_of(BK);
    (s.m().div_ceil(chunk), chunk)
}

/// Length (f32 elements) of the workspace `conv2d_backward_weight` needs for this geometry.
pub fn conv2d_backward_weight_workspace_len(s: &Conv2dShape, bias: bool) -> usize {
    let (splits, _) = weight_split(s, bias);
    splits * s.cout * (s.k() + bias as usize)
}

/// d_w = conv2d_backward_weight(x, d_y) and, when given, d_bias = sum over N, H, W of d_y.
/// workspace: at least `conv2d_backward_weight_workspace_len` elements, allocated once by the caller.
pub fn conv2d_backward_weight(
    p: &mut PlanBuilder,
    x: &Tensor,
    d_y: &Tensor,
    d_w: &Tensor,
    d_bias: Option<&Tensor>,
    workspace: &Tensor,
) -> Result<()> {
    let s = Conv2dShape::of(x, d_w);
    assert_eq!(d_y.shape(), [s.n, s.h, s.w, s.cout], "conv2d_backward_weight d_y shape");
    let bias = d_bias.is_some();
    let (splits, chunk) = weight_split(&s, bias);
    let cols = s.k() + bias as usize;
    assert!(workspace.len() >= splits * s.cout * cols, "conv2d_backward_weight workspace too small");
    let mut params = s.params(if bias { HAS_BIAS } else { 0 });
    params.splits = splits as u32;
    params.chunk = chunk as u32;
    params.cols = cols as u32;
    let groups = [cols.div_ceil(BN) as u32, s.cout.div_ceil(BM) as u32, splits as u32];
    p.dispatch(&CONV2D_BACKWARD_WEIGHT, &params, &[x, d_y, workspace], groups)?;
    let unused;
    let d_b = match d_bias {
        Some(b) => {
            assert_eq!(b.len(), s.cout, "conv2d d_bias length");
            b
        }
        None => {
            unused = p.gpu().tensor(&[1], "unused d_bias")?;
            &unused
        }
    };
    p.dispatch(&CONV2D_BACKWARD_WEIGHT_REDUCE, &params, &[x, d_y, workspace, d_w, d_b], [groups_for(s.cout * cols, 256), 1, 1])
}
