//! Model description: stages and auxiliary heads as lists of layers that mirror PyTorch's
//! `nn.Sequential` modules one for one, so checkpoint names (`stages.2.1.weight`) and layouts match the
//! reference implementation. A deep network (`arch`: ResNets, VGGs) is cut into K stages of whole blocks
//! whose layers carry torchvision's names instead (`layer2.0.conv1.weight`). `block` turns a description
//! into GPU tensors and recorded passes; `residual` describes and records a ResNet block; `layer` is one
//! layer and `init` its initial values.

pub mod arch;
pub mod block;
mod init;
mod layer;
pub mod residual;
pub mod scratch;

pub use init::{init_params, init_state};
pub use layer::Layer;
pub use residual::{Residual, ResidualKind};

use std::ops::Range;

use crate::config::{Config, Downsample, HeadConfig, HeadKind, StageConfig};
use crate::error::{Error, Result};

/// Per-sample activation shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// H x W x C feature map (NHWC per batch).
    Map { h: usize, w: usize, c: usize },
    /// Flat feature vector.
    Flat(usize),
}

impl Shape {
    pub fn len(&self) -> usize {
        match *self {
            Shape::Map { h, w, c } => h * w * c,
            Shape::Flat(f) => f,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Batched tensor shape.
    pub fn batched(&self, n: usize) -> Vec<usize> {
        match *self {
            Shape::Map { h, w, c } => vec![n, h, w, c],
            Shape::Flat(f) => vec![n, f],
        }
    }
    pub fn channels(&self) -> usize {
        match *self {
            Shape::Map { c, .. } => c,
            Shape::Flat(f) => f,
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shape::Map { h, w, c } => write!(f, "{h}x{w}x{c}"),
            Shape::Flat(n) => write!(f, "{n}"),
        }
    }
}

/// A stage or a head: named layers with the shape flowing through them.
#[derive(Debug, Clone)]
pub struct BlockSpec {
    /// The block's name in logs, and its checkpoint prefix unless its layers are named: `stages.J` or
    /// `heads.J`.
    pub name: String,
    pub layers: Vec<Layer>,
    /// Checkpoint prefix of each layer: `{name}.{i}`, or a name of its own (torchvision's `layer2.0`).
    pub names: Vec<String>,
    pub input: Shape,
    /// Output shape of each layer.
    pub shapes: Vec<Shape>,
    /// How its parameters are initialised.
    pub init: Init,
}

/// Weight initialisation of a block (batchnorm always starts at gamma 1, beta 0, running mean 0, var 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// PyTorch's module defaults: kaiming-uniform with a = sqrt(5), i.e. U(+-1/sqrt(fan_in)) for conv and
    /// linear weights and biases (the papers' code).
    TorchDefault,
    /// torchvision's ResNet: convs kaiming-normal with fan_out (std sqrt(2 / (Cout k k))); linear layers
    /// as `TorchDefault`.
    ResNet,
    /// torchvision's VGG: convs as `ResNet` with zero biases; linear weights N(0, 0.01), zero biases.
    Vgg,
}

impl BlockSpec {
    /// A block whose layers are named by position (`{name}.{i}`), initialised as PyTorch's modules are.
    pub fn new(name: String, input: Shape, layers: Vec<Layer>) -> Result<BlockSpec> {
        let named = layers.into_iter().enumerate().map(|(i, l)| (format!("{name}.{i}"), l)).collect();
        BlockSpec::named(name, input, named, Init::TorchDefault)
    }

    /// A block of (checkpoint prefix, layer) pairs.
    pub fn named(name: String, input: Shape, layers: Vec<(String, Layer)>, init: Init) -> Result<BlockSpec> {
        let (names, layers): (Vec<String>, Vec<Layer>) = layers.into_iter().unzip();
        let mut shapes = Vec::with_capacity(layers.len());
        let mut s = input;
        for (l, n) in layers.iter().zip(&names) {
            s = l.output(s).map_err(|e| Error::usage(format!("{n}: {e}")))?;
            shapes.push(s);
        }
        Ok(BlockSpec { name, layers, names, input, shapes, init })
    }
    pub fn output(&self) -> Shape {
        *self.shapes.last().unwrap_or(&self.input)
    }
    pub fn input_of(&self, i: usize) -> Shape {
        if i == 0 {
            self.input
        } else {
            self.shapes[i - 1]
        }
    }
    /// (full PyTorch name, our shape, layer index) of every trainable tensor, in arena order.
    pub fn param_specs(&self) -> Vec<(String, Vec<usize>, usize)> {
        self.collect(|l| l.params())
    }
    pub fn state_specs(&self) -> Vec<(String, Vec<usize>, usize)> {
        self.collect(|l| l.state())
    }
    fn collect(&self, f: impl Fn(&Layer) -> Vec<(&'static str, Vec<usize>)>) -> Vec<(String, Vec<usize>, usize)> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            for (suffix, shape) in f(l) {
                out.push((format!("{}.{suffix}", self.names[i]), shape, i));
            }
        }
        out
    }
    pub fn param_count(&self) -> usize {
        self.param_specs().iter().map(|(_, s, _)| s.iter().product::<usize>()).sum()
    }
    pub fn flops(&self) -> u64 {
        self.layers.iter().enumerate().map(|(i, l)| l.flops(self.input_of(i))).sum()
    }
    /// Index (in `param_specs`) of the block's first conv weight, whatever layer holds it.
    pub fn first_conv_weight(&self) -> Option<usize> {
        self.param_specs().iter().position(|(_, shape, _)| shape.len() == 4)
    }
    /// One line for logs and the report, e.g. "space-to-depth, conv3x3 64->32, bn, relu @14x14".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for l in &self.layers {
            parts.push(match *l {
                Layer::SpaceToDepth => "space-to-depth".to_string(),
                Layer::MaxPool => "maxpool2".to_string(),
                Layer::MaxPoolWindow { k, stride, pad } => format!("maxpool{k}/{stride} pad {pad}"),
                Layer::GlobalAvgPool => "global avg".to_string(),
                Layer::ConvStride2 { cin, cout, k } => format!("conv{k}x{k}/2 {cin}->{cout}"),
                Layer::Residual(r) => r.describe(),
                Layer::AvgPool { oh, ow } => format!("avg->{oh}x{ow}"),
                Layer::Conv { cin, cout, k, bias } => {
                    format!("conv{k}x{k} {cin}->{cout}{}", if bias { "+b" } else { "" })
                }
                Layer::BatchNorm { .. } => "bn".to_string(),
                Layer::Relu => "relu".to_string(),
                Layer::Identity => continue,
                Layer::Flatten => "flatten".to_string(),
                Layer::Linear { inputs, outputs, .. } => format!("linear {inputs}->{outputs}"),
            });
        }
        let at = match self.shapes.iter().rev().find(|s| matches!(s, Shape::Map { .. })) {
            Some(Shape::Map { h, w, .. }) => format!(" @{h}x{w}"),
            _ => String::new(),
        };
        format!("{}{at}", parts.join(", "))
    }
}

/// The whole network: stage j feeds stage j+1 and head j.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub input: Shape,
    pub classes: usize,
    pub stages: Vec<BlockSpec>,
    pub heads: Vec<BlockSpec>,
}

fn stage_layers(cfg: &StageConfig, input: Shape) -> Vec<Layer> {
    let mut layers = Vec::new();
    let mut cin = input.channels();
    match cfg.downsample {
        Downsample::None => {}
        Downsample::SpaceToDepth => {
            layers.push(Layer::SpaceToDepth);
            cin *= 4;
        }
        Downsample::Maxpool => layers.push(Layer::MaxPool),
    }
    layers.push(Layer::Conv { cin, cout: cfg.width, k: 3, bias: cfg.bias });
    layers.push(if cfg.batchnorm { Layer::BatchNorm { c: cfg.width } } else { Layer::Identity });
    layers.push(Layer::Relu);
    layers
}

/// The auxiliary head `h` on `input` for `classes` labels.
pub(crate) fn head_layers(h: &HeadConfig, input: Shape, classes: usize) -> Result<Vec<Layer>> {
    let Shape::Map { h: ih, w: iw, c } = input else {
        return Err(Error::usage("an auxiliary head needs a feature map"));
    };
    let mut layers = Vec::new();
    let mut c = c;
    match h.kind {
        HeadKind::Conv => {
            let width = if h.width == 0 { c } else { h.width };
            for _ in 1..h.k {
                layers.push(Layer::Conv { cin: c, cout: width, k: 3, bias: false });
                layers.push(Layer::BatchNorm { c: width });
                layers.push(Layer::Relu);
                c = width;
            }
            layers.push(Layer::AvgPool { oh: 2.min(ih), ow: 2.min(iw) });
            layers.push(if h.batchnorm { Layer::BatchNorm { c } } else { Layer::Identity });
            layers.push(Layer::Flatten);
            layers.push(Layer::Linear { inputs: 2.min(ih) * 2.min(iw) * c, outputs: classes, bias: true });
        }
        HeadKind::MlpSr => {
            // As the reference's `auxillary_classifier2` (DGL learning_curves/models.py):
            // AdaptiveAvgPool2d(ceil(H/4)), `n_lin` 1x1 convs, AdaptiveAvgPool2d(2), then `mlp_layers`
            // hidden linear layers of 4C features and the output layer, whatever the map size (a 1x1
            // map is repeated to 2x2).
            layers.push(Layer::AvgPool { oh: ih.div_ceil(4).max(1), ow: iw.div_ceil(4).max(1) });
            for _ in 0..h.convs {
                layers.push(Layer::Conv { cin: c, cout: c, k: 1, bias: false });
                layers.push(Layer::BatchNorm { c });
                layers.push(Layer::Relu);
            }
            layers.push(Layer::AvgPool { oh: 2, ow: 2 });
            layers.push(Layer::Flatten);
            let f = 4 * c;
            for _ in 0..h.mlp {
                layers.push(Layer::Linear { inputs: f, outputs: f, bias: false });
                layers.push(Layer::BatchNorm { c: f });
                layers.push(Layer::Relu);
            }
            layers.push(Layer::Linear { inputs: f, outputs: classes, bias: true });
        }
    }
    Ok(layers)
}

impl ModelSpec {
    /// Build the network of `cfg` for images of `input` shape and `classes` labels.
    pub fn new(cfg: &Config, input: Shape, classes: usize) -> Result<ModelSpec> {
        if let Some(a) = &cfg.arch {
            return arch::build(a, cfg.modules, input, classes)
                .map_err(|e| Error::usage(format!("config `{}` does not fit {input} images: {e}", cfg.name)));
        }
        let mut stages = Vec::new();
        let mut heads = Vec::new();
        let mut x = input;
        for (j, s) in cfg.stages.iter().enumerate() {
            let stage = BlockSpec::new(format!("stages.{j}"), x, stage_layers(s, x))
                .map_err(|e| Error::usage(format!("config `{}` does not fit {input} images: {e}", cfg.name)))?;
            x = stage.output();
            heads.push(BlockSpec::new(format!("heads.{j}"), x, head_layers(&s.head, x, classes)?)?);
            stages.push(stage);
        }
        Ok(ModelSpec { input, classes, stages, heads })
    }
}

/// The network on the GPU: every stage's and head's parameters and statistics allocated up front;
/// gradients and momentum only for the blocks that train (`train_only`).
pub struct Model {
    pub spec: ModelSpec,
    pub stages: Vec<block::Block>,
    pub heads: Vec<block::Block>,
}

impl Model {
    pub fn new(gpu: &crate::gpu::Gpu, spec: ModelSpec, seed: u64) -> Result<Model> {
        let stages = spec.stages.iter().map(|s| block::Block::new(gpu, s.clone(), seed)).collect::<Result<Vec<_>>>()?;
        let heads = spec.heads.iter().map(|h| block::Block::new(gpu, h.clone(), seed)).collect::<Result<Vec<_>>>()?;
        Ok(Model { spec, stages, heads })
    }

    /// Every block, stages first.
    pub fn blocks(&self) -> impl Iterator<Item = &block::Block> {
        self.stages.iter().chain(self.heads.iter())
    }

    /// Gradients and momentum for stages `stages` and heads `heads` only (kept where already held, zero
    /// momentum where new); every other block's are freed first, so a greedy run holds one stage's.
    pub fn train_only(&mut self, gpu: &crate::gpu::Gpu, stages: Range<usize>, heads: Range<usize>) -> Result<()> {
        for (blocks, keep) in [(&mut self.stages, &stages), (&mut self.heads, &heads)] {
            for (_, b) in blocks.iter_mut().enumerate().filter(|(j, _)| !keep.contains(j)) {
                b.release_training();
            }
        }
        for j in stages {
            self.stages[j].hold_training(gpu)?;
        }
        for j in heads {
            self.heads[j].hold_training(gpu)?;
        }
        Ok(())
    }
}
