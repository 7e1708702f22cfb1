//! Scratch shared by every block recorded into one plan, sized once for the largest use: passes run one
//! after another, so they can reuse it. Conv and batchnorm workspaces, and gradient and activation
//! buffers that the backward and the evaluation-mode forward passes ping-pong through: two of each, or
//! four when a block holds residual layers (a ResNet block keeps a shortcut's tensor alive beside its
//! main path's two).

use super::{BlockSpec, Layer, Shape};
use crate::error::Result;
use crate::gpu::{Gpu, Tensor};
use crate::ops;

/// The scratch's sizes: the conv and batchnorm workspaces, and `buffers` gradient buffers and as many
/// activation buffers of `act` elements each.
pub struct ScratchLens {
    pub conv: usize,
    pub bn: usize,
    pub act: usize,
    pub buffers: usize,
}

pub struct Scratch {
    pub(super) conv_ws: Tensor,
    pub(super) bn_ws: Tensor,
    /// Gradient buffers for the backward pass.
    grad: Vec<Tensor>,
    /// Activation buffers for evaluation-mode forward passes.
    act: Vec<Tensor>,
}

/// The largest needs of one layer at batch `n` on `input`: (conv workspace, batchnorm workspace,
/// activation), in f32 elements.
fn layer_needs(layer: &Layer, input: Shape, n: usize) -> (usize, usize, usize) {
    let conv = |s: &ops::Conv2dShape, bias: bool| ops::conv2d_backward_weight_workspace_len(s, bias);
    let bn = |rows: usize, c: usize| ops::batchnorm_workspace_len(rows, c);
    let map = || match input {
        Shape::Map { h, w, c } => (h, w, c),
        Shape::Flat(_) => unreachable!("convolutions take maps"),
    };
    match *layer {
        Layer::Conv { cout, k, bias, .. } => {
            let (h, w, cin) = map();
            (conv(&ops::Conv2dShape { n, h, w, cin, cout, kh: k, kw: k, stride: 1 }, bias), 0, 0)
        }
        Layer::ConvStride2 { cout, k, .. } => {
            let (h, w, cin) = map();
            (conv(&ops::Conv2dShape { n, h, w, cin, cout, kh: k, kw: k, stride: 2 }, false), 0, 0)
        }
        Layer::Linear { inputs, outputs, bias } => {
            (ops::linear_backward_weight_workspace_len(n, inputs, outputs, bias), 0, 0)
        }
        Layer::BatchNorm { c } => (0, bn(n * input.len() / c, c), 0),
        Layer::Residual(r) => r.conv_shapes(n, input).iter().fold((0, 0, 0), |(cw, bw, act), s| {
            let out = s.n * s.oh() * s.ow();
            (cw.max(conv(s, false)), bw.max(bn(out, s.cout)), act.max(out * s.cout))
        }),
        _ => (0, 0, 0),
    }
}

impl Scratch {
    /// Scratch for recording `blocks` at batch size `n`.
    pub fn new(gpu: &Gpu, blocks: &[&BlockSpec], n: usize) -> Result<Scratch> {
        let ScratchLens { conv, bn, act, buffers } = Scratch::lens(blocks, n);
        let named = |what: &str, i: usize| format!("{what} {}", (b'A' + i as u8) as char);
        Ok(Scratch {
            conv_ws: gpu.tensor(&[conv], "conv workspace")?,
            bn_ws: gpu.tensor(&[bn], "batchnorm workspace")?,
            grad: (0..buffers).map(|i| gpu.tensor(&[act], &named("gradient", i))).collect::<Result<_>>()?,
            act: (0..buffers).map(|i| gpu.tensor(&[act], &named("activation", i))).collect::<Result<_>>()?,
        })
    }

    /// What `new` allocates for `blocks` at batch size `n`, in f32 elements (the memory planner counts
    /// it too).
    pub fn lens(blocks: &[&BlockSpec], n: usize) -> ScratchLens {
        let (mut conv, mut bn, mut act) = (1usize, 1usize, 1usize);
        let mut residual = false;
        for b in blocks {
            act = act.max(b.input.len() * n);
            for (i, l) in b.layers.iter().enumerate() {
                act = act.max(b.shapes[i].len() * n);
                let (c, w, a) = layer_needs(l, b.input_of(i), n);
                (conv, bn, act) = (conv.max(c), bn.max(w), act.max(a));
                residual |= matches!(l, Layer::Residual(_));
            }
        }
        ScratchLens { conv, bn, act, buffers: if residual { 4 } else { 2 } }
    }

    /// A gradient buffer distinct from `avoid` (which may be one of them, or none).
    pub(super) fn other_grad(&self, avoid: &Tensor, shape: &[usize]) -> Tensor {
        self.grad_avoiding(&[avoid], shape)
    }

    pub(super) fn other_act(&self, avoid: &Tensor, shape: &[usize]) -> Tensor {
        self.act_avoiding(&[avoid], shape)
    }

    /// The first gradient buffer that holds none of `avoid`, viewed as `shape`.
    pub(super) fn grad_avoiding(&self, avoid: &[&Tensor], shape: &[usize]) -> Tensor {
        first_free(&self.grad, avoid, shape)
    }

    /// The first activation buffer that holds none of `avoid`, viewed as `shape`.
    pub(super) fn act_avoiding(&self, avoid: &[&Tensor], shape: &[usize]) -> Tensor {
        first_free(&self.act, avoid, shape)
    }
}

fn first_free(buffers: &[Tensor], avoid: &[&Tensor], shape: &[usize]) -> Tensor {
    buffers
        .iter()
        .find(|b| !avoid.iter().any(|t| t.same_buffer(b)))
        .expect("scratch has a buffer more than any pass keeps alive")
        .view(shape)
}
