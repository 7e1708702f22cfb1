//! A stage or head on the GPU: parameters in one arena, batchnorm running statistics in another, and,
//! only while the block trains, gradients and momentum in two more of the parameters' layout (so one
//! SGD dispatch updates the block); and the recording of its forward pass (training or evaluation) and
//! backward pass into a plan. A frozen or not yet trained block holds no gradients or momentum: for
//! paper 1's ImageNet nets they are gigabytes per stage.
//!
//! ReLU is fused into the conv / linear / batchnorm before it wherever the layer list allows; the
//! ReLU layer itself then records nothing. A residual layer records its block's passes (`residual`).

mod backward;

use super::residual::{self, ResidualTrace, Unit, UnitGrads, Units};
pub use super::scratch::Scratch;
use super::{init_params, init_state, BlockSpec, Layer};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, ParamArena, PlanBuilder, Tensor};
use crate::ops;

/// Which batchnorm statistics a forward pass uses (and whether it keeps what backward needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Batch statistics, running statistics updated, activations kept for the backward pass.
    Train,
    /// Running statistics; nothing kept. Frozen stages always run like this.
    Eval,
}

pub struct Block {
    pub spec: BlockSpec,
    pub params: ParamArena,
    /// Batchnorm running mean/var: state, not parameters (no gradient, no SGD).
    pub state: ParamArena,
    /// Gradients and momentum, held while the block trains (`hold_training`), freed when it stops.
    training: Option<Training>,
    layer_params: Vec<Vec<usize>>,
    layer_state: Vec<Vec<usize>>,
    /// Layer i applies the ReLU that follows it (skipping Identity placeholders).
    fused_relu: Vec<bool>,
    /// Layer i is a ReLU already applied by an earlier layer.
    absorbed: Vec<bool>,
}

/// A training block's gradient and momentum arenas, of its parameters' layout.
pub struct Training {
    pub grads: ParamArena,
    pub momentum: ParamArena,
}

/// What a training forward pass leaves for the backward pass.
pub struct Trace {
    input: Tensor,
    outs: Vec<Tensor>,
    saved: Vec<Saved>,
}

/// What one layer's training forward keeps besides its output.
enum Saved {
    Nothing,
    /// A batchnorm's batch (mean, invstd).
    BatchNorm(Tensor, Tensor),
    Residual(ResidualTrace),
}

impl Trace {
    pub fn output(&self) -> &Tensor {
        self.outs.last().unwrap_or(&self.input)
    }
}

/// Per layer of `spec`: whether it applies the ReLU that follows it (skipping Identity placeholders),
/// and whether it is a ReLU an earlier layer already applied (it records nothing).
pub fn relu_fusion(spec: &BlockSpec) -> (Vec<bool>, Vec<bool>) {
    let n = spec.layers.len();
    let mut fused_relu = vec![false; n];
    let mut absorbed = vec![false; n];
    for (i, layer) in spec.layers.iter().enumerate() {
        if matches!(
            layer,
            Layer::Conv { .. } | Layer::ConvStride2 { .. } | Layer::Linear { .. } | Layer::BatchNorm { .. }
        ) {
            let mut j = i + 1;
            while j < n && spec.layers[j] == Layer::Identity {
                j += 1;
            }
            if j < n && spec.layers[j] == Layer::Relu {
                fused_relu[i] = true;
                absorbed[j] = true;
            }
        }
    }
    (fused_relu, absorbed)
}

impl Block {
    /// Allocate a block and initialise it as PyTorch would (seeded); it holds no gradients or
    /// momentum until `hold_training`.
    pub fn new(gpu: &Gpu, spec: BlockSpec, seed: u64) -> Result<Block> {
        let pspecs = spec.param_specs();
        let sspecs = spec.state_specs();
        let shapes: Vec<Vec<usize>> = pspecs.iter().map(|(_, s, _)| s.clone()).collect();
        let params = ParamArena::new(gpu, &shapes, &format!("{} params", spec.name))?;
        let sshapes: Vec<Vec<usize>> = sspecs.iter().map(|(_, s, _)| s.clone()).collect();
        let state = ParamArena::new(gpu, &sshapes, &format!("{} state", spec.name))?;
        params.upload(gpu, &init_params(&spec, seed));
        state.upload(gpu, &init_state(&spec));
        let mut layer_params = vec![Vec::new(); spec.layers.len()];
        for (i, (_, _, li)) in pspecs.iter().enumerate() {
            layer_params[*li].push(i);
        }
        let mut layer_state = vec![Vec::new(); spec.layers.len()];
        for (i, (_, _, li)) in sspecs.iter().enumerate() {
            layer_state[*li].push(i);
        }
        let (fused_relu, absorbed) = relu_fusion(&spec);
        Ok(Block { spec, params, state, training: None, layer_params, layer_state, fused_relu, absorbed })
    }

    /// Hold gradients and momentum (momentum zero when newly allocated; kept when already held).
    pub fn hold_training(&mut self, gpu: &Gpu) -> Result<()> {
        if self.training.is_none() {
            let grads = self.params.like(gpu, &format!("{} grads", self.spec.name))?;
            let momentum = self.params.like(gpu, &format!("{} momentum", self.spec.name))?;
            if !momentum.tensors.is_empty() {
                gpu.fill(&momentum.all, 0.0);
            }
            self.training = Some(Training { grads, momentum });
        }
        Ok(())
    }

    /// Free the gradients and momentum (their memory returns once no recorded plan uses them).
    pub fn release_training(&mut self) {
        self.training = None;
    }

    /// The gradients and momentum, while the block trains.
    pub fn training(&self) -> Option<&Training> {
        self.training.as_ref()
    }

    /// The gradient arena, or the error of `trained`.
    pub fn grads(&self) -> Result<&ParamArena> {
        Ok(&self.trained()?.grads)
    }

    /// The gradients and momentum, or the error of recording training work for a block that does not
    /// train (a bug in the caller, not in the user's input).
    fn trained(&self) -> Result<&Training> {
        self.training.as_ref().ok_or_else(|| {
            Error::gpu(format!(
                "{} was asked to train but holds no gradients (hold_training was not called)",
                self.spec.name
            ))
        })
    }

    fn param(&self, layer: usize, k: usize) -> &Tensor {
        &self.params.tensors[self.layer_params[layer][k]]
    }
    /// Only reached from `backward`, which checked that the block trains.
    fn grad(&self, layer: usize, k: usize) -> &Tensor {
        let t = self.training.as_ref().expect("backward checked that the block trains");
        &t.grads.tensors[self.layer_params[layer][k]]
    }
    fn state_of(&self, layer: usize, k: usize) -> &Tensor {
        &self.state.tensors[self.layer_state[layer][k]]
    }
    fn has_bias(&self, layer: usize) -> bool {
        self.layer_params[layer].len() > 1
    }

    /// Record a training-mode forward pass from `input` ([n, ..input shape]); allocates the
    /// activations it keeps (plan-build time, never per step).
    pub fn forward_train(&self, p: &mut PlanBuilder, input: &Tensor, scratch: &Scratch) -> Result<Trace> {
        self.forward_train_into(p, input, scratch, None)
    }

    /// `forward_train` writing its activations into those of `reuse` (an earlier pass of this block at
    /// the same batch size, whose backward has been recorded): the micro-batches of one step share one
    /// set of activations instead of holding the whole batch's.
    pub fn forward_train_into(
        &self,
        p: &mut PlanBuilder,
        input: &Tensor,
        scratch: &Scratch,
        reuse: Option<&Trace>,
    ) -> Result<Trace> {
        let gpu = p.gpu();
        let n = input.shape()[0];
        let mut outs: Vec<Tensor> = Vec::with_capacity(self.spec.layers.len());
        let mut saved = Vec::with_capacity(self.spec.layers.len());
        for (i, layer) in self.spec.layers.iter().enumerate() {
            let x = outs.last().unwrap_or(input).clone();
            let shape = self.spec.shapes[i].batched(n);
            let what = format!("{} output", self.spec.names[i]);
            let mut kept = Saved::Nothing;
            let y = match *layer {
                Layer::Relu if self.absorbed[i] => x,
                Layer::Identity => x,
                Layer::Flatten => x.reshape(&shape),
                _ => {
                    let y = match reuse {
                        Some(t) => {
                            assert_eq!(t.outs[i].shape(), &shape[..], "reused activations of another batch size");
                            t.outs[i].clone()
                        }
                        None => gpu.tensor(&shape, &what)?,
                    };
                    kept = self.record_layer(p, i, &x, &y, Mode::Train, scratch)?;
                    y
                }
            };
            outs.push(y);
            saved.push(kept);
        }
        Ok(Trace { input: input.clone(), outs, saved })
    }

    /// Record an evaluation-mode forward pass through the scratch activation buffers; returns the
    /// output view (valid until the next pass that uses the same scratch). `out` receives the final
    /// result instead when given (for outputs that must survive, such as logits).
    pub fn forward_eval(
        &self,
        p: &mut PlanBuilder,
        input: &Tensor,
        scratch: &Scratch,
        out: Option<&Tensor>,
    ) -> Result<Tensor> {
        let n = input.shape()[0];
        let last = self.spec.layers.iter().enumerate().rev().find(|(i, l)| !self.is_view(*i, l)).map(|(i, _)| i);
        let mut x = input.clone();
        for (i, layer) in self.spec.layers.iter().enumerate() {
            let shape = self.spec.shapes[i].batched(n);
            if self.is_view(i, layer) {
                x = x.reshape(&shape);
                continue;
            }
            let out = out.filter(|_| Some(i) == last).map(|o| o.reshape(&shape));
            if let Layer::Residual(r) = *layer {
                // The block picks its own buffers around its shortcut.
                x = residual::forward_eval(p, &r, &self.units(i), &x, out.as_ref(), scratch)?;
                continue;
            }
            let y = out.unwrap_or_else(|| scratch.other_act(&x, &shape));
            self.record_layer(p, i, &x, &y, Mode::Eval, scratch)?;
            x = y;
        }
        match out {
            Some(o) if last.is_none() => {
                p.copy(&x, o);
                Ok(o.clone())
            }
            _ => Ok(x),
        }
    }

    fn is_view(&self, i: usize, layer: &Layer) -> bool {
        matches!(layer, Layer::Identity | Layer::Flatten) || (*layer == Layer::Relu && self.absorbed[i])
    }

    /// The tensors of residual layer `i`'s convs and batchnorms, from the block's arenas (their
    /// gradients while the block trains).
    fn units(&self, i: usize) -> Units<'_> {
        let (params, state) = (&self.layer_params[i], &self.layer_state[i]);
        let grads = self.training.as_ref().map(|t| &t.grads);
        let unit = |u: usize| Unit {
            w: &self.params.tensors[params[3 * u]],
            gamma: &self.params.tensors[params[3 * u + 1]],
            beta: &self.params.tensors[params[3 * u + 2]],
            running_mean: &self.state.tensors[state[2 * u]],
            running_var: &self.state.tensors[state[2 * u + 1]],
            d: grads.map(|g| UnitGrads {
                w: &g.tensors[params[3 * u]],
                gamma: &g.tensors[params[3 * u + 1]],
                beta: &g.tensors[params[3 * u + 2]],
            }),
        };
        let Layer::Residual(r) = self.spec.layers[i] else { unreachable!("layer {i} is not residual") };
        let main = r.main_path().len();
        Units { main: (0..main).map(unit).collect(), shortcut: r.projection.then(|| unit(main)) }
    }

    /// One layer's forward kernel(s) x -> y. Returns what training keeps (batchnorm's saved mean and
    /// invstd, a residual block's trace).
    fn record_layer(
        &self,
        p: &mut PlanBuilder,
        i: usize,
        x: &Tensor,
        y: &Tensor,
        mode: Mode,
        scratch: &Scratch,
    ) -> Result<Saved> {
        let relu = self.fused_relu[i];
        match self.spec.layers[i] {
            Layer::SpaceToDepth => ops::space_to_depth_forward(p, x, y)?,
            Layer::MaxPool => ops::maxpool2d_forward(p, x, y, &ops::MaxPool2dShape::of(x, 2, 2, 0))?,
            Layer::MaxPoolWindow { k, stride, pad } => {
                ops::maxpool2d_forward(p, x, y, &ops::MaxPool2dShape::of(x, k, stride, pad))?
            }
            Layer::GlobalAvgPool => ops::global_avgpool_forward(p, x, y)?,
            Layer::ConvStride2 { .. } => ops::conv2d_forward(p, x, self.param(i, 0), None, y, relu)?,
            Layer::Residual(r) => {
                assert_eq!(mode, Mode::Train, "evaluation passes record residual layers in forward_eval");
                return Ok(Saved::Residual(residual::forward_train(p, &r, &self.units(i), x, y, scratch)?));
            }
            Layer::AvgPool { .. } => ops::avgpool2d_forward(p, x, y)?,
            Layer::Relu => ops::relu_forward(p, x, y)?,
            Layer::Conv { .. } => {
                let b = self.has_bias(i).then(|| self.param(i, 1));
                ops::conv2d_forward(p, x, self.param(i, 0), b, y, relu)?
            }
            Layer::Linear { .. } => {
                let b = self.has_bias(i).then(|| self.param(i, 1));
                ops::linear_forward(p, x, self.param(i, 0), b, y, relu)?
            }
            Layer::BatchNorm { c } => {
                let (gamma, beta) = (self.param(i, 0), self.param(i, 1));
                let (rm, rv) = (self.state_of(i, 0), self.state_of(i, 1));
                match mode {
                    Mode::Eval => ops::batchnorm_forward_eval(p, x, gamma, beta, rm, rv, y, relu)?,
                    Mode::Train => {
                        let gpu = p.gpu();
                        let mean = gpu.tensor(&[c], "batchnorm saved mean")?;
                        let invstd = gpu.tensor(&[c], "batchnorm saved invstd")?;
                        ops::batchnorm_forward_train(
                            p,
                            x,
                            gamma,
                            beta,
                            rm,
                            rv,
                            &mean,
                            &invstd,
                            y,
                            &scratch.bn_ws,
                            relu,
                        )?;
                        return Ok(Saved::BatchNorm(mean, invstd));
                    }
                }
            }
            Layer::Identity | Layer::Flatten => unreachable!("views record nothing"),
        }
        Ok(Saved::Nothing)
    }

    /// Record one SGD step over the whole block from its own gradients; `hyper` = [lr, momentum, weight
    /// decay, nesterov], `stats` = the loss statistics (no update once they flag divergence).
    pub fn sgd(&self, p: &mut PlanBuilder, hyper: &Tensor, stats: &Tensor) -> Result<()> {
        self.sgd_from(p, self.grads()?, hyper, stats)
    }

    /// `sgd` reading `grads` (an arena of the parameters' layout: the block's own gradients, or their
    /// sum over micro-batches or devices) instead.
    pub fn sgd_from(&self, p: &mut PlanBuilder, grads: &ParamArena, hyper: &Tensor, stats: &Tensor) -> Result<()> {
        if self.params.tensors.is_empty() {
            return Ok(());
        }
        ops::sgd_update(p, &self.params, grads, &self.trained()?.momentum, hyper, stats)
    }
}
