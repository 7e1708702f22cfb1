//! One layer of a block, as in a PyTorch Sequential: its output shape, parameters, state and FLOPs.

use super::{Residual, Shape};
use crate::error::{Error, Result};

/// One layer, as in a PyTorch Sequential (parameter-free layers included so indices line up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// Invertible 2x2 space-to-depth ("Psi" in the papers' code).
    SpaceToDepth,
    /// 2x2 max-pool, stride 2 (the papers' downsampling).
    MaxPool,
    /// Max-pool with any window (`MaxPool2d(k, stride, pad)`, e.g. the ImageNet stem's 3x3/2, padding 1).
    MaxPoolWindow {
        k: usize,
        stride: usize,
        pad: usize,
    },
    /// Average over the whole map to one value per channel (a ResNet's `avgpool` and flatten).
    GlobalAvgPool,
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
    /// k x k conv at stride 2, padding k / 2 (the ImageNet stem's 7x7/2), no bias.
    ConvStride2 {
        cin: usize,
        cout: usize,
        k: usize,
    },
    /// A ResNet block (basic or bottleneck) with its shortcut, as torchvision's.
    Residual(Residual),
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
            Layer::ConvStride2 { cin, cout, .. } => {
                let (h, w, c) = map("conv")?;
                if c != cin {
                    return Err(Error::usage(format!("conv expects {cin} channels, got {c}")));
                }
                Shape::Map { h: h.div_ceil(2), w: w.div_ceil(2), c: cout }
            }
            Layer::MaxPoolWindow { k, stride, pad } => {
                let (h, w, c) = map("max-pool")?;
                let s = crate::ops::MaxPool2dShape { n: 1, h, w, c, kernel: k, stride, pad };
                if s.oh() == 0 || s.ow() == 0 {
                    return Err(Error::usage(format!(
                        "a {k}x{k} max-pool (padding {pad}) needs a larger map than {h}x{w}"
                    )));
                }
                Shape::Map { h: s.oh(), w: s.ow(), c }
            }
            Layer::GlobalAvgPool => {
                let (_, _, c) = map("global average pooling")?;
                Shape::Flat(c)
            }
            Layer::Residual(r) => r.output(input)?,
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
            Layer::ConvStride2 { cin, cout, k } => vec![("weight", vec![cout, k, k, cin])],
            Layer::Residual(r) => r.params(),
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
            Layer::Residual(r) => r.state(),
            _ => Vec::new(),
        }
    }

    /// Forward FLOPs (2 x multiply-adds) per sample for this input.
    pub fn flops(&self, input: Shape) -> u64 {
        match (*self, input) {
            (Layer::Conv { cin, cout, k, .. }, Shape::Map { h, w, .. }) => 2 * (h * w * cout * k * k * cin) as u64,
            (Layer::ConvStride2 { cin, cout, k }, Shape::Map { h, w, .. }) => {
                2 * (h.div_ceil(2) * w.div_ceil(2) * cout * k * k * cin) as u64
            }
            (Layer::Residual(r), _) => r.flops(input),
            (Layer::Linear { inputs, outputs, .. }, _) => 2 * (inputs * outputs) as u64,
            _ => 0,
        }
    }
}
