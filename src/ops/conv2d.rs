//! 2-D convolution with stride 1 or 2 and zero padding K/2 (KH and KW odd: "same" at stride 1, half the
//! size rounded up at stride 2, as PyTorch's `Conv2d(k, stride, padding=k // 2)`), as implicit GEMMs: no
//! im2col buffer is ever materialised.
//!
//! x: [N, H, W, Cin], w: [Cout, KH, KW, Cin], bias: [Cout], y: [N, OH, OW, Cout], OH = (H - 1) / stride + 1.
//!
//! Every direction has several kernel variants (`variants`: one table), chosen per shape and adapter by
//! `conv2d_choose` (`choose`):
//! - `Tiled`: workgroup-memory tiled GEMMs for GPUs (shaders/lib/gemm.wgsl), tiles from 128 x 128
//!   (8 x 8 outputs per thread) down to 64 x 64 and 128 x 32 / 32 x 128 for narrow problems.
//! - `Lanes` / `Runs`: kernels for CPU adapters (Mesa's lavapipe), where a per-invocation memory access
//!   costs ~20 FMAs; see shaders/lib/lanes.wgsl. They need subgroups of at least 8.
//!
//! The forward and input-gradient kernels share their cores: the input gradient is a forward pass over d_y
//! with the kernel flipped. At stride 2 it runs as four such passes, one per phase (the parity of a d_x
//! pixel's row and column): a phase's pixels receive from every other kernel tap only, so each pass reduces
//! over the taps that reach it (a quarter of them on average) instead of masking three quarters of a full
//! reduction. The weight gradient splits its N*OH*OW reduction into chunks whose partial sums a second
//! kernel adds in a fixed order, so every result is bitwise repeatable.

mod choose;
mod variants;

pub use choose::{conv2d_choose, conv2d_choose_for};
pub use variants::{conv2d_kernels, Conv2dDirection, Conv2dKernel, Conv2dTiling, CONV2D_KERNELS};

use crate::error::Result;
use crate::gpu::{groups_for, Access, KernelSpec, PlanBuilder, Tensor, MAX_GROUPS_PER_DIM};
use Conv2dTiling::{Lanes, Runs, Tiled};

const HAS_BIAS: u32 = 1;
const RELU: u32 = 2;

/// Geometry of one convolution: x [N, H, W, Cin], w [Cout, KH, KW, Cin], padding (K - 1) / 2, and the
/// stride (1 or 2 on the GPU; the CPU references take any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dShape {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub cin: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
}

impl Conv2dShape {
    /// Read the geometry from x [N, H, W, Cin], w [Cout, KH, KW, Cin] and y [N, OH, OW, Cout] (the stride is
    /// the one that maps H x W to OH x OW; a 1x1 map is taken as stride 1, which computes the same).
    pub fn of(x: &Tensor, w: &Tensor, y: &Tensor) -> Conv2dShape {
        let (xs, ws, ys) = (x.shape(), w.shape(), y.shape());
        assert_eq!(xs.len(), 4, "conv2d input must be [N, H, W, C], got {xs:?}");
        assert_eq!(ws.len(), 4, "conv2d weight must be [Cout, KH, KW, Cin], got {ws:?}");
        assert_eq!(ys.len(), 4, "conv2d output must be [N, OH, OW, Cout], got {ys:?}");
        assert_eq!(xs[3], ws[3], "conv2d: input has {} channels, weight expects {}", xs[3], ws[3]);
        assert!(ws[1] % 2 == 1 && ws[2] % 2 == 1, "conv2d: padding K/2 needs odd kernel sizes, got {ws:?}");
        let base =
            Conv2dShape { n: xs[0], h: xs[1], w: xs[2], cin: xs[3], cout: ws[0], kh: ws[1], kw: ws[2], stride: 1 };
        let stride = [1, 2]
            .into_iter()
            .find(|&stride| {
                let s = Conv2dShape { stride, ..base };
                [s.n, s.oh(), s.ow(), s.cout] == [ys[0], ys[1], ys[2], ys[3]]
            })
            .unwrap_or_else(|| panic!("conv2d: {xs:?} -> {ys:?} is not a convolution of stride 1 or 2 with {ws:?}"));
        Conv2dShape { stride, ..base }
    }
    pub fn pad(&self) -> usize {
        self.kh / 2
    }
    /// Output rows: (H + 2 * (KH / 2) - KH) / stride + 1 (PyTorch's floor), i.e. ceil(H / stride).
    pub fn oh(&self) -> usize {
        (self.h + 2 * (self.kh / 2) - self.kh) / self.stride + 1
    }
    pub fn ow(&self) -> usize {
        (self.w + 2 * (self.kw / 2) - self.kw) / self.stride + 1
    }
    /// Output pixels N*OH*OW (the GEMM's M for forward, its K for backward_weight).
    pub fn m(&self) -> usize {
        self.n * self.oh() * self.ow()
    }
    /// Input pixels N*H*W (the rows of the input gradient).
    pub fn input_pixels(&self) -> usize {
        self.n * self.h * self.w
    }
    /// KH*KW*Cin, the forward GEMM's reduction length.
    pub fn k(&self) -> usize {
        self.kh * self.kw * self.cin
    }
    pub fn x_len(&self) -> usize {
        self.input_pixels() * self.cin
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
    /// log2 of the stride (the kernels shift rather than multiply or divide).
    fn stride_shift(&self) -> u32 {
        assert!(matches!(self.stride, 1 | 2), "the conv2d kernels run stride 1 or 2, got {}", self.stride);
        self.stride.trailing_zeros()
    }
    /// The forward pass's parameters: rows are y's pixels, the source is x.
    fn forward_params(&self, flags: u32) -> Params {
        let pad = self.pad() as i32;
        Params {
            oh: self.oh() as u32,
            ow: self.ow() as u32,
            taps_h: self.kh as u32,
            taps_w: self.kw as u32,
            src_h: self.h as u32,
            src_w: self.w as u32,
            off_h: pad,
            off_w: pad,
            stride_shift: self.stride_shift(),
            ..self.params(flags)
        }
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
            ..Params::zeroed()
        }
    }
    /// The input gradient's passes: one at stride 1, one per phase at stride 2 (see the module docs).
    fn backward_input_passes(&self) -> Vec<Params> {
        let s = self.stride;
        let shift = self.stride_shift();
        let mut passes = Vec::new();
        for ph in 0..s {
            for pw in 0..s {
                // d_x pixels (s*i + ph, s*j + pw); the taps dh = dh0, dh0 + s, ... reach them, from d_y row
                // i + t - off for the flipped tap index t (likewise columns).
                let rows = (self.h + s - 1 - ph) / s;
                let cols = (self.w + s - 1 - pw) / s;
                if rows == 0 || cols == 0 {
                    continue;
                }
                let (taps_h, wt_h0, off_h) = phase_taps(self.kh, self.pad(), s, ph);
                let (taps_w, wt_w0, off_w) = phase_taps(self.kw, self.pad(), s, pw);
                passes.push(Params {
                    oh: rows as u32,
                    ow: cols as u32,
                    taps_h,
                    taps_w,
                    src_h: self.oh() as u32,
                    src_w: self.ow() as u32,
                    off_h,
                    off_w,
                    phase_h: ph as u32,
                    phase_w: pw as u32,
                    out_shift: shift,
                    wt_h0,
                    wt_w0,
                    wt_step: s as u32,
                    ..self.params(0)
                });
            }
        }
        passes
    }
}

/// One axis of an input-gradient phase: (taps, first weight tap, source offset) for the d_x positions
/// `phase` (mod `stride`) of a kernel `k` with padding `pad`. Tap t (of `taps`) reads d_y at i + t - off
/// with weight tap wt0 - stride * t. A phase no tap reaches gets one tap whose sources all lie outside
/// d_y (an offset past any map), so its pixels are written as zeros.
fn phase_taps(k: usize, pad: usize, stride: usize, phase: usize) -> (u32, u32, i32) {
    let first = (phase + pad) % stride;
    if first >= k {
        return (1, 0, 1 << 24);
    }
    let taps = (k - first).div_ceil(stride);
    let q = (phase + pad - first) / stride;
    let off = taps as i32 - 1 - q as i32;
    (taps as u32, (first + stride * (taps - 1)) as u32, off)
}

/// Binding 0 of every conv2d kernel (shaders/lib/conv2d_params.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
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
    /// The rows of a forward-like dispatch: N x `oh` x `ow` pixels of the tensor it writes (for the input
    /// gradient at stride 2, one phase of d_x); its source map (`src_h` x `src_w`) and reduction taps.
    oh: u32,
    ow: u32,
    src_h: u32,
    src_w: u32,
    taps_h: u32,
    taps_w: u32,
    /// Source pixel of row pixel (r, c) and tap (t_h, t_w): ((r << stride_shift) + t_h - off_h, ...).
    off_h: i32,
    off_w: i32,
    stride_shift: u32,
    runs: u32,
    /// Input gradient: the d_x pixel of row pixel (r, c) is ((r << out_shift) + phase_h, ...), and tap t
    /// multiplies weight tap (wt_h0 - wt_step * t, wt_w0 - wt_step * t).
    phase_h: u32,
    phase_w: u32,
    out_shift: u32,
    wt_h0: u32,
    wt_w0: u32,
    wt_step: u32,
}

impl Params {
    fn zeroed() -> Params {
        bytemuck::Zeroable::zeroed()
    }
}

/// Adds the weight gradient's split-K partials (shaders/conv2d_backward_weight_reduce.wgsl).
pub static CONV2D_BACKWARD_WEIGHT_REDUCE: KernelSpec =
    KernelSpec::new("conv2d_backward_weight_reduce", &[Access::Read, Access::ReadWrite, Access::ReadWrite]);

/// Every kernel spec of this module, for `ops::all_kernels()`.
pub fn conv2d_specs() -> impl Iterator<Item = &'static KernelSpec> {
    CONV2D_KERNELS.iter().map(|k| &k.spec).chain(std::iter::once(&CONV2D_BACKWARD_WEIGHT_REDUCE))
}

/// Workgroups for `row_tiles` x `col_tiles`; row tiles spill from y into z past 65535.
fn grid(row_tiles: usize, col_tiles: usize) -> [u32; 3] {
    let y = row_tiles.clamp(1, MAX_GROUPS_PER_DIM as usize);
    [col_tiles as u32, y as u32, row_tiles.div_ceil(y) as u32]
}

/// Grid and run count of a forward-like dispatch over the rows of `params` (N x oh x ow pixels) with `cols`
/// output columns.
fn forward_like_grid(k: &Conv2dKernel, params: &Params, cols: usize) -> ([u32; 3], u32) {
    let (n, oh, ow) = (params.n as usize, params.oh as usize, params.ow as usize);
    match k.tiling {
        Tiled { bm, bn, .. } => (grid((n * oh * ow).div_ceil(bm), cols.div_ceil(bn)), 0),
        Lanes { tm, tn } => (grid((n * oh * ow).div_ceil(8 * tm), cols.div_ceil(tn)), 0),
        Runs { tm, tn } => {
            let runs = ow.div_ceil(tm);
            (grid((n * oh * runs).div_ceil(8), cols.div_ceil(tn)), runs as u32)
        }
    }
}

/// y = conv2d(x, w) + bias, then ReLU when `relu`; the stride is read from y's size.
pub fn conv2d_forward(
    p: &mut PlanBuilder,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    y: &Tensor,
    relu: bool,
) -> Result<()> {
    let k = conv2d_choose(p.gpu(), &Conv2dShape::of(x, w, y), Conv2dDirection::Forward);
    conv2d_forward_with(p, k, x, w, bias, y, relu)
}

/// `conv2d_forward` with a chosen kernel variant (tests, benchmarks).
pub fn conv2d_forward_with(
    p: &mut PlanBuilder,
    k: &'static Conv2dKernel,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    y: &Tensor,
    relu: bool,
) -> Result<()> {
    let s = Conv2dShape::of(x, w, y);
    if let Some(b) = bias {
        assert_eq!(b.len(), s.cout, "conv2d bias length");
    }
    k.check(p.gpu(), &s, Conv2dDirection::Forward)?;
    let params = s.forward_params(if bias.is_some() { HAS_BIAS } else { 0 } | if relu { RELU } else { 0 });
    let (groups, runs) = forward_like_grid(k, &params, s.cout);
    // Without a bias the weight is bound in its place (read-only twice is allowed; never read).
    let b = bias.unwrap_or(w);
    p.dispatch(&k.spec, &Params { runs, ..params }, &[x, w, b, y], groups)
}

/// d_x = conv2d_backward_input(d_y, w). d_y: [N, OH, OW, Cout], d_x: [N, H, W, Cin]; the stride is read
/// from their sizes. Every element of d_x is written (zero where no window reaches).
pub fn conv2d_backward_input(p: &mut PlanBuilder, d_y: &Tensor, w: &Tensor, d_x: &Tensor) -> Result<()> {
    let k = conv2d_choose(p.gpu(), &Conv2dShape::of(d_x, w, d_y), Conv2dDirection::BackwardInput);
    conv2d_backward_input_with(p, k, d_y, w, d_x)
}

/// `conv2d_backward_input` with a chosen kernel variant (tests, benchmarks).
pub fn conv2d_backward_input_with(
    p: &mut PlanBuilder,
    k: &'static Conv2dKernel,
    d_y: &Tensor,
    w: &Tensor,
    d_x: &Tensor,
) -> Result<()> {
    let s = Conv2dShape::of(d_x, w, d_y);
    k.check(p.gpu(), &s, Conv2dDirection::BackwardInput)?;
    for params in s.backward_input_passes() {
        let (groups, runs) = forward_like_grid(k, &params, s.cin);
        p.dispatch(&k.spec, &Params { runs, ..params }, &[d_y, w, d_x], groups)?;
    }
    Ok(())
}

/// (column tiles, channel tiles) of a weight-gradient kernel: its grid's x and y.
fn weight_tiles(k: &Conv2dKernel, s: &Conv2dShape, cols: usize) -> (usize, usize) {
    match k.tiling {
        Tiled { bm, bn, .. } => (cols.div_ceil(bn), s.cout.div_ceil(bm)),
        Lanes { tm, tn } | Runs { tm, tn } => (cols.div_ceil(8 * tm), s.cout.div_ceil(tn)),
    }
}

/// Most f32 elements the weight gradient's split-K partials may take (64 MiB): splits stop there (one split
/// still needs Cout x cols, as much as d_w itself).
const WORKSPACE_CAP: usize = 1 << 24;

/// How `k` splits the N*H*W reduction of the weight gradient: (splits, chunk length).
fn weight_split(k: &Conv2dKernel, s: &Conv2dShape, bias: bool) -> (usize, usize) {
    let cols = s.k() + bias as usize;
    let (x, y) = weight_tiles(k, s, cols);
    // GPUs: about 4 waves of workgroups over a 132-SM GPU at 2 per SM; CPU adapters only need a few
    // per core. Chunks stay long enough that writing and re-reading partials costs little.
    let (target, min_chunk) = match k.tiling {
        Tiled { .. } => (1024usize, 256),
        _ => (64, 512),
    };
    let max_splits =
        (s.m() / min_chunk).min(WORKSPACE_CAP / (s.cout * cols).max(1)).clamp(1, MAX_GROUPS_PER_DIM as usize);
    let splits = target.div_ceil(x * y).clamp(1, max_splits);
    let chunk = s.m().div_ceil(splits);
    (s.m().div_ceil(chunk), chunk)
}

/// Length (f32 elements) of the workspace `conv2d_backward_weight` needs for this geometry, whichever
/// kernel variant runs it.
pub fn conv2d_backward_weight_workspace_len(s: &Conv2dShape, bias: bool) -> usize {
    let per_split = s.cout * (s.k() + bias as usize);
    conv2d_kernels(Conv2dDirection::BackwardWeight).map(|k| weight_split(k, s, bias).0 * per_split).max().unwrap_or(0)
}

/// d_w = conv2d_backward_weight(x, d_y) and, when given, d_bias = sum over N, OH, OW of d_y; the stride is
/// read from the sizes of x and d_y.
/// workspace: at least `conv2d_backward_weight_workspace_len` elements, allocated once by the caller.
pub fn conv2d_backward_weight(
    p: &mut PlanBuilder,
    x: &Tensor,
    d_y: &Tensor,
    d_w: &Tensor,
    d_bias: Option<&Tensor>,
    workspace: &Tensor,
) -> Result<()> {
    let k = conv2d_choose(p.gpu(), &Conv2dShape::of(x, d_w, d_y), Conv2dDirection::BackwardWeight);
    conv2d_backward_weight_with(p, k, x, d_y, d_w, d_bias, workspace)
}

/// `conv2d_backward_weight` with a chosen kernel variant (tests, benchmarks).
pub fn conv2d_backward_weight_with(
    p: &mut PlanBuilder,
    k: &'static Conv2dKernel,
    x: &Tensor,
    d_y: &Tensor,
    d_w: &Tensor,
    d_bias: Option<&Tensor>,
    workspace: &Tensor,
) -> Result<()> {
    let s = Conv2dShape::of(x, d_w, d_y);
    k.check(p.gpu(), &s, Conv2dDirection::BackwardWeight)?;
    let bias = d_bias.is_some();
    let (splits, chunk) = weight_split(k, &s, bias);
    let cols = s.k() + bias as usize;
    assert!(workspace.len() >= splits * s.cout * cols, "conv2d_backward_weight workspace too small");
    let params = Params {
        splits: splits as u32,
        chunk: chunk as u32,
        cols: cols as u32,
        ..s.forward_params(if bias { HAS_BIAS } else { 0 })
    };
    let (x_tiles, y_tiles) = weight_tiles(k, &s, cols);
    p.dispatch(&k.spec, &params, &[x, d_y, workspace], [x_tiles as u32, y_tiles as u32, splits as u32])?;
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
    p.dispatch(&CONV2D_BACKWARD_WEIGHT_REDUCE, &params, &[workspace, d_w, d_b], [groups_for(s.cout * cols, 256), 1, 1])
}
