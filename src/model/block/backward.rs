//! A block's backward pass: parameter gradients into its gradient arena, layer by layer from the top,
//! and the gradient of its input when asked for.

use super::{Block, Saved, Scratch, Trace};
use crate::error::Result;
use crate::gpu::{PlanBuilder, Tensor};
use crate::model::residual;
use crate::model::Layer;

use crate::ops;

impl Block {
    /// Record the backward pass: parameter gradients into the block's gradients from `d_out` (gradient
    /// of the block's output). Returns the gradient of the block's input when `need_input_grad` (greedy
    /// training skips it for a stage: nothing below it learns from this loss).
    pub fn backward(
        &self,
        p: &mut PlanBuilder,
        trace: &Trace,
        d_out: &Tensor,
        need_input_grad: bool,
        scratch: &Scratch,
    ) -> Result<Option<Tensor>> {
        self.trained()?;
        let n = trace.input.shape()[0];
        let mut g = d_out.clone();
        // Without an input gradient, nothing below the first layer with parameters needs a gradient
        // (e.g. a stage's space-to-depth and its conv's backward_input are skipped).
        let first_param = self.layer_params.iter().position(|p| !p.is_empty()).unwrap_or(self.spec.layers.len());
        for i in (0..self.spec.layers.len()).rev() {
            if !need_input_grad && i < first_param {
                return Ok(None);
            }
            let in_shape = self.spec.input_of(i).batched(n);
            g = match self.spec.layers[i] {
                layer if self.is_view(i, &layer) => g.reshape(&in_shape),
                _ => {
                    let need_dx = need_input_grad || i > first_param;
                    self.backward_layer(p, i, trace, &g, &in_shape, need_dx, scratch)?
                }
            };
        }
        Ok(need_input_grad.then_some(g))
    }

    /// One layer's backward kernel(s) from `g` (the gradient of its output): its parameter gradients,
    /// and the gradient of its input ([in_shape], in the scratch buffer `g` is not in) when `need_dx`;
    /// returns what flows on down (`g` itself when nothing does).
    #[allow(clippy::too_many_arguments)] // the layer's place in the pass: all of these differ per layer
    fn backward_layer(
        &self,
        p: &mut PlanBuilder,
        i: usize,
        trace: &Trace,
        g: &Tensor,
        in_shape: &[usize],
        need_dx: bool,
        scratch: &Scratch,
    ) -> Result<Tensor> {
        let x = if i == 0 { &trace.input } else { &trace.outs[i - 1] };
        let y = &trace.outs[i];
        let layer = self.spec.layers[i];
        if matches!(layer, Layer::Conv { .. } | Layer::ConvStride2 { .. } | Layer::Linear { .. }) {
            return self.backward_weighted(p, i, x, y, g, in_shape, need_dx, scratch);
        }
        if let (Layer::Residual(_), Saved::Residual(t)) = (layer, &trace.saved[i]) {
            return residual::backward(p, &self.units(i), t, x, y, g, need_dx, scratch);
        }
        let d_x = scratch.other_grad(g, in_shape);
        match layer {
            Layer::SpaceToDepth => ops::space_to_depth_backward(p, g, &d_x)?,
            Layer::MaxPool => ops::maxpool2d_backward(p, x, g, &d_x, &ops::MaxPool2dShape::of(x, 2, 2, 0))?,
            Layer::MaxPoolWindow { k, stride, pad } => {
                ops::maxpool2d_backward(p, x, g, &d_x, &ops::MaxPool2dShape::of(x, k, stride, pad))?
            }
            Layer::AvgPool { .. } => ops::avgpool2d_backward(p, g, &d_x)?,
            Layer::GlobalAvgPool => ops::global_avgpool_backward(p, g, &d_x)?,
            Layer::Relu => ops::relu_backward(p, x, g, &d_x)?,
            Layer::BatchNorm { .. } => {
                let Saved::BatchNorm(mean, invstd) = &trace.saved[i] else {
                    unreachable!("batchnorm trained in this pass")
                };
                let (gamma, d_gamma, d_beta) = (self.param(i, 0), self.grad(i, 0), self.grad(i, 1));
                let (ws, relu) = (&scratch.bn_ws, self.fused_relu[i]);
                ops::batchnorm_backward(p, x, y, g, gamma, mean, invstd, &d_x, d_gamma, d_beta, ws, relu)?;
            }
            Layer::Conv { .. }
            | Layer::ConvStride2 { .. }
            | Layer::Linear { .. }
            | Layer::Residual(_)
            | Layer::Identity
            | Layer::Flatten => {
                unreachable!("weighted layers, residual blocks and views are handled elsewhere")
            }
        }
        Ok(d_x)
    }

    /// A conv or linear layer's backward from `g`, through its fused ReLU: weight (and bias) gradients,
    /// and the input gradient when `need_dx`. `x`, `y`: the layer's input and output in the forward pass.
    #[allow(clippy::too_many_arguments)] // as backward_layer, plus the layer's input and output
    fn backward_weighted(
        &self,
        p: &mut PlanBuilder,
        i: usize,
        x: &Tensor,
        y: &Tensor,
        g: &Tensor,
        in_shape: &[usize],
        need_dx: bool,
        scratch: &Scratch,
    ) -> Result<Tensor> {
        let mut g = g.clone();
        if self.fused_relu[i] {
            let masked = scratch.other_grad(&g, g.shape());
            ops::relu_backward(p, y, &g, &masked)?;
            g = masked;
        }
        let d_b = self.has_bias(i).then(|| self.grad(i, 1));
        let conv = matches!(self.spec.layers[i], Layer::Conv { .. } | Layer::ConvStride2 { .. });
        if conv {
            ops::conv2d_backward_weight(p, x, &g, self.grad(i, 0), d_b, &scratch.conv_ws)?;
        } else {
            ops::linear_backward_weight(p, x, &g, self.grad(i, 0), d_b, &scratch.conv_ws)?;
        }
        if !need_dx {
            return Ok(g);
        }
        let d_x = scratch.other_grad(&g, in_shape);
        if conv {
            ops::conv2d_backward_input(p, &g, self.param(i, 0), &d_x)?;
        } else {
            ops::linear_backward_input(p, &g, self.param(i, 0), &d_x)?;
        }
        Ok(d_x)
    }
}
