//! Deep networks as K local modules: a ResNet (He et al.'s CIFAR family, torchvision's ImageNet ones) or a
//! VGG with batchnorm is a list of blocks (residual blocks; VGG convs with their batchnorm and ReLU, each
//! with the 2x2 max-pool before it where the resolution halves), cut at block boundaries into `modules`
//! stages, the stem with the first. Every module but the last gets the configured auxiliary head; the
//! last one ends with the network's own classifier (ResNet: global average + `fc`; VGG: the last
//! max-pool, average to 7x7, `classifier`), so greedy, DGL and end-to-end training all end with the same
//! network. Layers carry torchvision's names (`conv1`, `layer2.0`, `features.4`, `fc`), so a checkpoint's
//! stages and last head load into torchvision's model; auxiliary heads keep `heads.J`.
//!
//! Where the resolution halves is stated by `downsample_at` (block indices over the whole net), apart
//! from the widths (which change between groups of blocks): the same blocks, parameters and depth can
//! put fewer blocks at full resolution (accelerated downsampling).

use super::residual::{Residual, ResidualKind};
use super::{head_layers, BlockSpec, Init, Layer, ModelSpec, Shape};
use crate::config::{ArchConfig, ArchKind, ResidualBlock, Stem};
use crate::error::{Error, Result};

/// A named layer of the network.
type Named = (String, Layer);

/// The network of `arch` cut into `modules` stages, for `input` images and `classes` labels.
pub fn build(arch: &ArchConfig, modules: usize, input: Shape, classes: usize) -> Result<ModelSpec> {
    let (stem, blocks, last_pool) = match arch.kind {
        ArchKind::Resnet => resnet_blocks(arch, input.channels()),
        ArchKind::Vgg => vgg_blocks(arch, input.channels()),
    };
    let init = match arch.kind {
        ArchKind::Resnet => Init::ResNet,
        ArchKind::Vgg => Init::Vgg,
    };
    let sizes = arch.module_sizes(modules);
    let mut stages = Vec::with_capacity(modules);
    let mut heads = Vec::with_capacity(modules);
    let (mut x, mut next) = (input, 0);
    for (j, &size) in sizes.iter().enumerate() {
        let mut layers: Vec<Named> = if j == 0 { stem.clone() } else { Vec::new() };
        layers.extend(blocks[next..next + size].iter().flatten().cloned());
        next += size;
        let stage = BlockSpec::named(format!("stages.{j}"), x, layers, init)?;
        x = stage.output();
        let head = if j + 1 < modules {
            BlockSpec::new(format!("heads.{j}"), x, head_layers(&arch.head, x, classes)?)?
        } else {
            let layers = classifier(arch, x, classes, last_pool.clone())?;
            BlockSpec::named(format!("heads.{j}"), x, layers, init)?
        };
        stages.push(stage);
        heads.push(head);
    }
    Ok(ModelSpec { input, classes, stages, heads })
}

fn named(name: impl Into<String>, layer: Layer) -> Named {
    (name.into(), layer)
}

/// (stem, blocks, None) of a ResNet: torchvision's names, a residual block per block index.
fn resnet_blocks(arch: &ArchConfig, channels: usize) -> (Vec<Named>, Vec<Vec<Named>>, Option<Named>) {
    let sw = arch.stem_width;
    let stem = match arch.stem {
        Stem::Imagenet => vec![
            named("conv1", Layer::ConvStride2 { cin: channels, cout: sw, k: 7 }),
            named("bn1", Layer::BatchNorm { c: sw }),
            named("relu", Layer::Relu),
            named("maxpool", Layer::MaxPoolWindow { k: 3, stride: 2, pad: 1 }),
        ],
        Stem::Cifar | Stem::None => vec![
            named("conv1", Layer::Conv { cin: channels, cout: sw, k: 3, bias: false }),
            named("bn1", Layer::BatchNorm { c: sw }),
            named("relu", Layer::Relu),
        ],
    };
    let kind = match arch.block {
        ResidualBlock::Basic => ResidualKind::Basic,
        ResidualBlock::Bottleneck => ResidualKind::Bottleneck,
    };
    let mut blocks = Vec::new();
    let mut cin = sw;
    for (g, (&planes, &count)) in arch.widths.iter().zip(&arch.blocks).enumerate() {
        for b in 0..count {
            let stride = if arch.downsample_at.contains(&blocks.len()) { 2 } else { 1 };
            let r = Residual::new(kind, cin, planes, stride);
            cin = r.cout();
            blocks.push(vec![named(format!("layer{}.{b}", g + 1), Layer::Residual(r))]);
        }
    }
    (stem, blocks, None)
}

/// (no stem, blocks, the final max-pool) of a VGG with batchnorm: each conv's block is its 2x2 max-pool
/// (where the resolution halves), conv3x3 with bias, batchnorm, ReLU, named by torchvision's `features`
/// indices.
fn vgg_blocks(arch: &ArchConfig, channels: usize) -> (Vec<Named>, Vec<Vec<Named>>, Option<Named>) {
    let mut blocks = Vec::new();
    let (mut cin, mut index) = (channels, 0);
    for (&width, &count) in arch.widths.iter().zip(&arch.blocks) {
        for _ in 0..count {
            let mut block = Vec::new();
            if arch.downsample_at.contains(&blocks.len()) {
                block.push(named(format!("features.{index}"), Layer::MaxPool));
                index += 1;
            }
            block.push(named(format!("features.{index}"), Layer::Conv { cin, cout: width, k: 3, bias: true }));
            block.push(named(format!("features.{}", index + 1), Layer::BatchNorm { c: width }));
            block.push(named(format!("features.{}", index + 2), Layer::Relu));
            index += 3;
            cin = width;
            blocks.push(block);
        }
    }
    (Vec::new(), blocks, Some(named(format!("features.{index}"), Layer::MaxPool)))
}

/// The network's own classifier on the last module's output `x`.
fn classifier(arch: &ArchConfig, x: Shape, classes: usize, last_pool: Option<Named>) -> Result<Vec<Named>> {
    let c = x.channels();
    Ok(match arch.kind {
        ArchKind::Resnet => vec![
            named("avgpool", Layer::GlobalAvgPool),
            named("fc", Layer::Linear { inputs: c, outputs: classes, bias: true }),
        ],
        ArchKind::Vgg => {
            // torchvision's VGG without dropout (as paper 1's last auxiliary problem): the last max-pool,
            // AdaptiveAvgPool2d(7), flatten, two hidden linear layers with ReLU, the linear classifier.
            let pool = last_pool.ok_or_else(|| Error::usage("a VGG ends with a max-pool"))?;
            let f = arch.classifier_width;
            vec![
                pool,
                named("avgpool", Layer::AvgPool { oh: 7, ow: 7 }),
                named("flatten", Layer::Flatten),
                named("classifier.0", Layer::Linear { inputs: 49 * c, outputs: f, bias: true }),
                named("classifier.1", Layer::Relu),
                named("classifier.3", Layer::Linear { inputs: f, outputs: f, bias: true }),
                named("classifier.4", Layer::Relu),
                named("classifier.6", Layer::Linear { inputs: f, outputs: classes, bias: true }),
            ]
        }
    })
}
