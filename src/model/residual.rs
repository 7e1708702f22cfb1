//! A ResNet block as torchvision builds it (`BasicBlock`, `Bottleneck` with the stride on its 3x3, as
//! ResNet v1.5), one `Layer::Residual` of a stage: its description (shapes, parameters under torchvision's
//! names, FLOPs) and the recording of its passes into a plan.
//!
//!   main path  basic:      c1 = conv1 3x3/s (x), h1 = relu(bn1(c1)), c2 = conv2 3x3 (h1)
//!              bottleneck: c1 = conv1 1x1 (x), h1 = relu(bn1(c1)), c2 = conv2 3x3/s (h1),
//!                          h2 = relu(bn2(c2)), c3 = conv3 1x1 (h2), 4x the planes
//!   shortcut   r = x (identity), or r = bn_d(conv_d 1x1/s (x)) (`downsample.0`, `downsample.1`) where
//!              the shape changes
//!   end        y = relu(bn_last(c_last) + r), one fused pass (`batchnorm_add_relu`)
//!
//! Backward, from d_y: the fused pass gives d_c_last and the shortcut's d_r = d_y * (y > 0); the main
//! path runs back conv by conv (weight gradient, input gradient, batchnorm+ReLU backward); the projection
//! runs back from d_r; d_x = d_x_main + d_x_shortcut (`residual_add`).

use super::block::Scratch;
use super::Shape;
use crate::error::{Error, Result};
use crate::gpu::{PlanBuilder, Tensor};
use crate::ops::{self, Conv2dShape};

/// Which of torchvision's blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResidualKind {
    /// Two 3x3 convs (ResNet-18/34, He et al.'s CIFAR ResNets).
    Basic,
    /// 1x1, 3x3, 1x1 with 4x the planes out (ResNet-50/101/152).
    Bottleneck,
}

/// One residual block: `cin` channels in, `planes` wide inside, `planes * expansion` out, the first
/// resolution change (stride 2) on its 3x3 conv and on the projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Residual {
    pub kind: ResidualKind,
    pub cin: usize,
    pub planes: usize,
    pub stride: usize,
    /// The `downsample` shortcut (1x1 conv at the stride, batchnorm) instead of the identity: needed
    /// wherever the shape changes (stride 2 or cin != cout).
    pub projection: bool,
}

/// One conv + batchnorm of a block: (in channels, out channels, kernel, stride).
type ConvBn = (usize, usize, usize, usize);

/// Checkpoint suffixes of the main path's convs and batchnorms, and of the projection's.
const CONV_NAMES: [&str; 3] = ["conv1.weight", "conv2.weight", "conv3.weight"];
const BN_NAMES: [[&str; 4]; 3] = [
    ["bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"],
    ["bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var"],
    ["bn3.weight", "bn3.bias", "bn3.running_mean", "bn3.running_var"],
];
const PROJECTION_NAMES: [&str; 5] = [
    "downsample.0.weight",
    "downsample.1.weight",
    "downsample.1.bias",
    "downsample.1.running_mean",
    "downsample.1.running_var",
];

impl Residual {
    /// The block of `kind` from `cin` channels at `stride`, with the projection exactly where needed.
    pub fn new(kind: ResidualKind, cin: usize, planes: usize, stride: usize) -> Residual {
        let r = Residual { kind, cin, planes, stride, projection: false };
        Residual { projection: stride != 1 || cin != r.cout(), ..r }
    }

    pub fn cout(&self) -> usize {
        match self.kind {
            ResidualKind::Basic => self.planes,
            ResidualKind::Bottleneck => 4 * self.planes,
        }
    }

    /// The main path's convs in order.
    pub fn main_path(&self) -> Vec<ConvBn> {
        let (c, p, s) = (self.cin, self.planes, self.stride);
        match self.kind {
            ResidualKind::Basic => vec![(c, p, 3, s), (p, p, 3, 1)],
            ResidualKind::Bottleneck => vec![(c, p, 1, 1), (p, p, 3, s), (p, 4 * p, 1, 1)],
        }
    }

    /// The projection's conv, when there is one.
    pub fn shortcut(&self) -> Option<ConvBn> {
        self.projection.then_some((self.cin, self.cout(), 1, self.stride))
    }

    pub fn output(&self, input: Shape) -> Result<Shape> {
        let Shape::Map { h, w, c } = input else {
            return Err(Error::usage(format!("a residual block needs a feature map, got flat features ({input})")));
        };
        if c != self.cin {
            return Err(Error::usage(format!("residual block expects {} channels, got {c}", self.cin)));
        }
        Ok(Shape::Map { h: h.div_ceil(self.stride), w: w.div_ceil(self.stride), c: self.cout() })
    }

    /// The geometry of every conv (main path, then the projection) at batch `n` on `input`.
    pub fn conv_shapes(&self, n: usize, input: Shape) -> Vec<Conv2dShape> {
        let Shape::Map { mut h, mut w, .. } = input else { unreachable!("checked by `output`") };
        let (h0, w0) = (h, w);
        let mut shapes = Vec::new();
        for (cin, cout, k, stride) in self.main_path() {
            shapes.push(Conv2dShape { n, h, w, cin, cout, kh: k, kw: k, stride });
            (h, w) = (h.div_ceil(stride), w.div_ceil(stride));
        }
        if let Some((cin, cout, k, stride)) = self.shortcut() {
            shapes.push(Conv2dShape { n, h: h0, w: w0, cin, cout, kh: k, kw: k, stride });
        }
        shapes
    }

    /// Trainable tensors in arena order, torchvision's state_dict order: (suffix, shape in our layout).
    pub fn params(&self) -> Vec<(&'static str, Vec<usize>)> {
        let mut v = Vec::new();
        for (u, (cin, cout, k, _)) in self.main_path().into_iter().enumerate() {
            v.push((CONV_NAMES[u], vec![cout, k, k, cin]));
            v.push((BN_NAMES[u][0], vec![cout]));
            v.push((BN_NAMES[u][1], vec![cout]));
        }
        if let Some((cin, cout, k, _)) = self.shortcut() {
            v.push((PROJECTION_NAMES[0], vec![cout, k, k, cin]));
            v.push((PROJECTION_NAMES[1], vec![cout]));
            v.push((PROJECTION_NAMES[2], vec![cout]));
        }
        v
    }

    /// Batchnorm running statistics in arena order.
    pub fn state(&self) -> Vec<(&'static str, Vec<usize>)> {
        let mut v = Vec::new();
        for (u, (_, cout, _, _)) in self.main_path().into_iter().enumerate() {
            v.push((BN_NAMES[u][2], vec![cout]));
            v.push((BN_NAMES[u][3], vec![cout]));
        }
        if let Some((_, cout, _, _)) = self.shortcut() {
            v.push((PROJECTION_NAMES[3], vec![cout]));
            v.push((PROJECTION_NAMES[4], vec![cout]));
        }
        v
    }

    pub fn flops(&self, input: Shape) -> u64 {
        self.conv_shapes(1, input).iter().map(|s| s.flops()).sum()
    }

    /// e.g. "basic 16->32/2 (projection)".
    pub fn describe(&self) -> String {
        let kind = match self.kind {
            ResidualKind::Basic => "basic",
            ResidualKind::Bottleneck => "bottleneck",
        };
        let stride = if self.stride == 1 { String::new() } else { format!("/{}", self.stride) };
        let projection = if self.projection { " (projection)" } else { "" };
        format!("{kind} {}->{}{stride}{projection}", self.cin, self.cout())
    }
}

/// One conv + batchnorm's tensors inside its block's arenas.
pub struct Unit<'a> {
    pub w: &'a Tensor,
    pub gamma: &'a Tensor,
    pub beta: &'a Tensor,
    pub running_mean: &'a Tensor,
    pub running_var: &'a Tensor,
    /// The gradients, while the block trains.
    pub d: Option<UnitGrads<'a>>,
}

/// A unit's gradients in its block's gradient arena.
pub struct UnitGrads<'a> {
    pub w: &'a Tensor,
    pub gamma: &'a Tensor,
    pub beta: &'a Tensor,
}

impl<'a> Unit<'a> {
    /// Only reached from `backward`, which `Block::backward` calls for a training block.
    fn d(&self) -> &UnitGrads<'a> {
        self.d.as_ref().expect("Block::backward checked that the block trains")
    }
}

/// A block's units: the main path in order, then the projection.
pub struct Units<'a> {
    pub main: Vec<Unit<'a>>,
    pub shortcut: Option<Unit<'a>>,
}

/// What the training forward keeps for the backward pass.
pub struct ResidualTrace {
    /// Each main-path conv's output c_u.
    convs: Vec<Tensor>,
    /// h_u = relu(bn_u(c_u)) of every conv but the last.
    acts: Vec<Tensor>,
    /// Every main-path batchnorm's saved (mean, invstd).
    saved: Vec<(Tensor, Tensor)>,
    /// The projection's conv output, its batchnorm output r, and that batchnorm's saved statistics.
    shortcut: Option<(Tensor, Tensor, (Tensor, Tensor))>,
}

/// [n, oh, ow, cout] of a conv's output.
fn conv_out(s: &Conv2dShape) -> [usize; 4] {
    [s.n, s.oh(), s.ow(), s.cout]
}

/// Training forward x -> y (y allocated by the caller at the block's output shape); allocates what it
/// keeps (plan-build time).
pub fn forward_train(
    p: &mut PlanBuilder,
    r: &Residual,
    units: &Units,
    x: &Tensor,
    y: &Tensor,
    scratch: &Scratch,
) -> Result<ResidualTrace> {
    let gpu = p.gpu();
    let shapes = r.conv_shapes(x.shape()[0], block_input(x));
    let saved_pair = |c: usize| -> Result<(Tensor, Tensor)> {
        Ok((gpu.tensor(&[c], "batchnorm saved mean")?, gpu.tensor(&[c], "batchnorm saved invstd")?))
    };
    // The shortcut first: its r is what the main path's last batchnorm adds.
    let shortcut = match (&units.shortcut, shapes.get(units.main.len())) {
        (Some(u), Some(s)) => {
            let c = gpu.tensor(&conv_out(s), "projection conv output")?;
            let out = gpu.tensor(&conv_out(s), "projection output")?;
            let saved = saved_pair(s.cout)?;
            ops::conv2d_forward(p, x, u.w, None, &c, false)?;
            let (rm, rv) = (u.running_mean, u.running_var);
            ops::batchnorm_forward_train(
                p,
                &c,
                u.gamma,
                u.beta,
                rm,
                rv,
                &saved.0,
                &saved.1,
                &out,
                &scratch.bn_ws,
                false,
            )?;
            Some((c, out, saved))
        }
        _ => None,
    };
    let residual = shortcut.as_ref().map_or(x, |s| &s.1);
    let (mut convs, mut acts, mut saved) = (Vec::new(), Vec::new(), Vec::new());
    let last = units.main.len() - 1;
    for (u, unit) in units.main.iter().enumerate() {
        let input = acts.last().unwrap_or(x);
        let c = gpu.tensor(&conv_out(&shapes[u]), "residual conv output")?;
        ops::conv2d_forward(p, input, unit.w, None, &c, false)?;
        let (mean, invstd) = saved_pair(shapes[u].cout)?;
        let (g, b, rm, rv, ws) = (unit.gamma, unit.beta, unit.running_mean, unit.running_var, &scratch.bn_ws);
        if u == last {
            ops::batchnorm_add_relu_forward_train(p, &c, residual, g, b, rm, rv, &mean, &invstd, y, ws)?;
        } else {
            let h = gpu.tensor(&conv_out(&shapes[u]), "residual activation")?;
            ops::batchnorm_forward_train(p, &c, g, b, rm, rv, &mean, &invstd, &h, ws, true)?;
            acts.push(h);
        }
        convs.push(c);
        saved.push((mean, invstd));
    }
    Ok(ResidualTrace { convs, acts, saved, shortcut })
}

/// Evaluation forward x -> y (running statistics) through the scratch activation buffers: y goes to
/// `out` when given, else to a scratch buffer, returned. x is read by the main path and the projection
/// only; its buffer may be reused afterwards (an evaluation pass's input is dead once consumed).
pub fn forward_eval(
    p: &mut PlanBuilder,
    r: &Residual,
    units: &Units,
    x: &Tensor,
    out: Option<&Tensor>,
    scratch: &Scratch,
) -> Result<Tensor> {
    let shapes = r.conv_shapes(x.shape()[0], block_input(x));
    let last = units.main.len() - 1;
    // The main path up to its last conv, ping-ponging through buffers that spare x (the shortcut reads it).
    let mut h = x.clone();
    let mut c = x.clone();
    for (u, unit) in units.main.iter().enumerate() {
        c = scratch.act_avoiding(&[x, &h], &conv_out(&shapes[u]));
        ops::conv2d_forward(p, &h, unit.w, None, &c, false)?;
        if u < last {
            h = scratch.act_avoiding(&[x, &c], &conv_out(&shapes[u]));
            let (rm, rv) = (unit.running_mean, unit.running_var);
            ops::batchnorm_forward_eval(p, &c, unit.gamma, unit.beta, rm, rv, &h, true)?;
        }
    }
    let residual = match &units.shortcut {
        Some(u) => {
            let s = &shapes[units.main.len()];
            let cd = scratch.act_avoiding(&[x, &c], &conv_out(s));
            ops::conv2d_forward(p, x, u.w, None, &cd, false)?;
            let r = scratch.act_avoiding(&[&c, &cd], &conv_out(s));
            ops::batchnorm_forward_eval(p, &cd, u.gamma, u.beta, u.running_mean, u.running_var, &r, false)?;
            r
        }
        None => x.clone(),
    };
    let y = match out {
        Some(o) => o.clone(),
        None => scratch.act_avoiding(&[&c, &residual], residual.shape()),
    };
    let unit = &units.main[last];
    let (rm, rv) = (unit.running_mean, unit.running_var);
    ops::batchnorm_add_relu_forward_eval(p, &c, &residual, unit.gamma, unit.beta, rm, rv, &y)?;
    Ok(y)
}

/// Backward from d_y (`g`): every parameter gradient, and d_x when `need_dx` (in a scratch gradient buffer,
/// returned; otherwise `g` is returned and nothing flows down). `x`, `y`: the block's input and output in
/// the training forward.
#[allow(clippy::too_many_arguments)] // the block's place in the pass, as `Block::backward_layer`
pub fn backward(
    p: &mut PlanBuilder,
    units: &Units,
    trace: &ResidualTrace,
    x: &Tensor,
    y: &Tensor,
    g: &Tensor,
    need_dx: bool,
    scratch: &Scratch,
) -> Result<Tensor> {
    let (ws, conv_ws) = (&scratch.bn_ws, &scratch.conv_ws);
    let last = units.main.len() - 1;
    // The end: d_c_last and the shortcut's d_r.
    let mut d_c = scratch.grad_avoiding(&[g], trace.convs[last].shape());
    let d_r = scratch.grad_avoiding(&[g, &d_c], y.shape());
    let (u, (mean, invstd)) = (&units.main[last], &trace.saved[last]);
    let (c_last, gamma) = (&trace.convs[last], u.gamma);
    ops::batchnorm_add_relu_backward(p, c_last, y, g, gamma, mean, invstd, &d_c, &d_r, u.d().gamma, u.d().beta, ws)?;
    // The main path, conv by conv: d_c is the gradient of conv u's output.
    let mut d_main = None;
    for (u, unit) in units.main.iter().enumerate().rev() {
        let input = if u == 0 { x } else { &trace.acts[u - 1] };
        ops::conv2d_backward_weight(p, input, &d_c, unit.d().w, None, conv_ws)?;
        if u == 0 && !need_dx {
            break;
        }
        let d_in = scratch.grad_avoiding(&[&d_c, &d_r], input.shape());
        ops::conv2d_backward_input(p, &d_c, unit.w, &d_in)?;
        if u == 0 {
            d_main = Some(d_in);
            break;
        }
        let prev = &units.main[u - 1];
        let (c, (mean, invstd)) = (&trace.convs[u - 1], &trace.saved[u - 1]);
        let next = scratch.grad_avoiding(&[&d_in, &d_r], c.shape());
        let (dg, db) = (prev.d().gamma, prev.d().beta);
        ops::batchnorm_backward(p, c, input, &d_in, prev.gamma, mean, invstd, &next, dg, db, ws, true)?;
        d_c = next;
    }
    // The shortcut from d_r, then the sum of both paths.
    let d_short = match (&units.shortcut, &trace.shortcut) {
        (Some(u), Some((c, _, (mean, invstd)))) => {
            let avoid: Vec<&Tensor> = [Some(&d_r), d_main.as_ref()].into_iter().flatten().collect();
            let d_cd = scratch.grad_avoiding(&avoid, c.shape());
            // Without a fused ReLU the batchnorm backward does not read its output: pass c.
            ops::batchnorm_backward(p, c, c, &d_r, u.gamma, mean, invstd, &d_cd, u.d().gamma, u.d().beta, ws, false)?;
            ops::conv2d_backward_weight(p, x, &d_cd, u.d().w, None, conv_ws)?;
            if !need_dx {
                return Ok(g.clone());
            }
            let avoid: Vec<&Tensor> = [Some(&d_cd), d_main.as_ref()].into_iter().flatten().collect();
            let d_x_short = scratch.grad_avoiding(&avoid, x.shape());
            ops::conv2d_backward_input(p, &d_cd, u.w, &d_x_short)?;
            d_x_short
        }
        _ => d_r,
    };
    let Some(d_main) = d_main else { return Ok(g.clone()) };
    let d_x = scratch.grad_avoiding(&[&d_main, &d_short], x.shape());
    ops::residual_add(p, &d_main, &d_short, &d_x)?;
    Ok(d_x)
}

/// The per-sample shape of a block's batched input [n, h, w, c].
fn block_input(x: &Tensor) -> Shape {
    let s = x.shape();
    Shape::Map { h: s[1], w: s[2], c: s[3] }
}
