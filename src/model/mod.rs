//! Model description: stages and auxiliary heads as lists of layers that mirror PyTorch's
//! `nn.Sequential` modules one for one, so checkpoint names (`stages.2.1.weight`) and layouts match the
//! reference implementation. `block` turns a description into GPU tensors and recorded passes.

pub mod block;

use crate::config::{Config, Downsample, HeadKind, StageConfig};
use crate::error::{Error, Result};
use crate::rng::SplitMix;

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

/// One layer, as in a PyTorch Sequential (parameter-free layers included so indices line up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// Invertible 2x2 space-to-depth ("Psi" in the papers' code).
    SpaceToDepth,
    /// 2x2 max-pool, stride 2.
    MaxPool,
    /// Adaptive average pool to oh x ow.
    AvgPool {
        oh: usize,
        ow: usize,
    },
    /// k x k conv, stride 1, "same" padding.
    Conv {
        cin: usize,
        cout: usize,
        k: usize,
        bias: bool,
    },
    /// Batchnorm over channels (2-d on maps, 1-d on flat features).
    BatchNorm {
        c: usize,
    },
    Relu,
    /// Placeholder PyTorch keeps where an optional layer is off (e.g. `nn.Identity()` for no BN).
    Identity,
    /// NHWC map -> flat features in (h, w, c) order (PyTorch flattens (c, h, w); checkpoints convert).
    Flatten,
    Linear {
        inputs: usize,
        outputs: usize,
        bias: bool,
    },
}

impl Layer {
    pub fn output(&self, input: Shape) -> Result<Shape> {
        let map = |what: &str| match input {
            Shape::Map { h, w, c } => Ok((h, w, c)),
            Shape::Flat(_) => Err(Error::usage(format!("{what} needs a feature map, got flat features ({input})"))),
        };
        Ok(match *self {
            Layer::SpaceToDepth => {
                let (h, w, c) = map("space-to-depth")?;
                if h % 2 != 0 || w % 2 != 0 {
                    return Err(Error::usage(format!("space-to-depth needs even height and width, got {h}x{w}")));
                }
                Shape::Map { h: h / 2, w: w / 2, c: 4 * c }
            }
            Layer::MaxPool => {
                let (h, w, c) = map("max-pool")?;
                if h < 2 || w < 2 {
                    return Err(Error::usage(format!("2x2 max-pool needs at least 2x2 input, got {h}x{w}")));
                }
                Shape::Map { h: h / 2, w: w / 2, c }
            }
            Layer::AvgPool { oh, ow } => {
                let (h, w, c) = map("average pool")?;
                // Adaptive pooling as PyTorch's: a grid larger than the input repeats input cells (MLP-SR
                // heads average a 1x1 map "to 2x2"); only an empty grid is meaningless.
                if oh == 0 || ow == 0 || h == 0 || w == 0 {
                    return Err(Error::usage(format!("cannot average {h}x{w} to {oh}x{ow}")));
                }
                Shape::Map { h: oh, w: ow, c }
            }
            Layer::Conv { cin, cout, .. } => {
                let (h, w, c) = map("conv")?;
                if c != cin {
                    return Err(Error::usage(format!("conv expects {cin} channels, got {c}")));
                }
                Shape::Map { h, w, c: cout }
            }
            Layer::BatchNorm { c } => {
                if input.channels() != c {
                    return Err(Error::usage(format!("batchnorm expects {c} channels, got {}", input.channels())));
                }
                input
            }
            Layer::Relu | Layer::Identity => input,
            Layer::Flatten => Shape::Flat(input.len()),
            Layer::Linear { inputs, outputs, .. } => {
                if input.len() != inputs {
                    return Err(Error::usage(format!("linear expects {inputs} features, got {}", input.len())));
                }
                Shape::Flat(outputs)
            }
        })
    }

    /// Trainable tensors: (PyTorch name suffix, shape in our layout).
    pub fn params(&self) -> Vec<(&'static str, Vec<usize>)> {
        match *self {
            Layer::Conv { cin, cout, k, bias } => {
                let mut v = vec![("weight", vec![cout, k, k, cin])];
                if bias {
                    v.push(("bias", vec![cout]));
                }
                v
            }
            Layer::BatchNorm { c } => vec![("weight", vec![c]), ("bias", vec![c])],
            Layer::Linear { inputs, outputs, bias } => {
                let mut v = vec![("weight", vec![outputs, inputs])];
                if bias {
                    v.push(("bias", vec![outputs]));
                }
                v
            }
            _ => Vec::new(),
        }
    }

    /// Non-trainable state (batchnorm running statistics).
    pub fn state(&self) -> Vec<(&'static str, Vec<usize>)> {
        match *self {
            Layer::BatchNorm { c } => vec![("running_mean", vec![c]), ("running_var", vec![c])],
            _ => Vec::new(),
        }
    }

    /// Forward FLOPs (2 x multiply-adds) per sample for this input.
    pub fn flops(&self, input: Shape) -> u64 {
        match (*self, input) {
            (Layer::Conv { cin, cout, k, .. }, Shape::Map { h, w, .. }) => 2 * (h * w * cout * k * k * cin) as u64,
            (Layer::Linear { inputs, outputs, .. }, _) => 2 * (inputs * outputs) as u64,
            _ => 0,
        }
    }
}

/// A stage or a head: named layers with the shape flowing through them.
#[derive(Debug, Clone)]
pub struct BlockSpec {
    /// Checkpoint prefix: `stages.J` or `heads.J`.
    pub name: String,
    pub layers: Vec<Layer>,
    pub input: Shape,
    /// Output shape of each layer.
    pub shapes: Vec<Shape>,
}

impl BlockSpec {
    pub fn new(name: String, input: Shape, layers: Vec<Layer>) -> Result<BlockSpec> {
        let mut shapes = Vec::with_capacity(layers.len());
        let mut s = input;
        for (i, l) in layers.iter().enumerate() {
            s = l.output(s).map_err(|e| Error::usage(format!("{name}.{i}: {e}")))?;
            shapes.push(s);
        }
        Ok(BlockSpec { name, layers, input, shapes })
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
                out.push((format!("{}.{i}.{suffix}", self.name), shape, i));
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
    /// One line for logs and the report, e.g. "space-to-depth, conv3x3 64->32, bn, relu @14x14".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for l in &self.layers {
            parts.push(match *l {
                Layer::SpaceToDepth => "space-to-depth".to_string(),
                Layer::MaxPool => "maxpool2".to_string(),
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

fn head_layers(cfg: &StageConfig, input: Shape, classes: usize) -> Result<Vec<Layer>> {
    let h = &cfg.head;
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
        let mut stages = Vec::new();
        let mut heads = Vec::new();
        let mut x = input;
        for (j, s) in cfg.stages.iter().enumerate() {
            let stage = BlockSpec::new(format!("stages.{j}"), x, stage_layers(s, x))
                .map_err(|e| Error::usage(format!("config `{}` does not fit {input} images: {e}", cfg.name)))?;
            x = stage.output();
            heads.push(BlockSpec::new(format!("heads.{j}"), x, head_layers(s, x, classes)?)?);
            stages.push(stage);
        }
        Ok(ModelSpec { input, classes, stages, heads })
    }
}

/// PyTorch's default initialisation (kaiming-uniform with a = sqrt(5), i.e. U(+-1/sqrt(fan_in)) for
/// conv and linear weights and biases; batchnorm gamma 1, beta 0, running mean 0, var 1), drawn from
/// a seeded generator so a run is reproducible.
pub fn init_params(spec: &BlockSpec, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = SplitMix::new(seed ^ fnv(&spec.name));
    spec.param_specs()
        .iter()
        .map(|(name, shape, li)| {
            let len: usize = shape.iter().product();
            match spec.layers[*li] {
                Layer::Conv { cin, k, .. } => uniform(&mut rng, len, 1.0 / ((cin * k * k) as f64).sqrt()),
                Layer::Linear { inputs, .. } => uniform(&mut rng, len, 1.0 / (inputs as f64).sqrt()),
                Layer::BatchNorm { .. } => vec![if name.ends_with(".weight") { 1.0 } else { 0.0 }; len],
                _ => unreachable!("only conv, linear and batchnorm have parameters"),
            }
        })
        .collect()
}

pub fn init_state(spec: &BlockSpec) -> Vec<Vec<f32>> {
    spec.state_specs()
        .iter()
        .map(|(name, shape, _)| vec![if name.ends_with("running_var") { 1.0 } else { 0.0 }; shape.iter().product()])
        .collect()
}

fn uniform(rng: &mut SplitMix, len: usize, bound: f64) -> Vec<f32> {
    (0..len).map(|_| ((rng.next_f64() * 2.0 - 1.0) * bound) as f32).collect()
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

/// The network on the GPU: every stage and head allocated up front (parameters are small next to
/// activations), so freezing is only a matter of which blocks a plan trains.
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
}
