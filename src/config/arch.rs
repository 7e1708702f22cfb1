//! The `[arch]` table: a deep network (He et al.'s CIFAR ResNets, torchvision's ResNets and VGGs)
//! described by its blocks, widths and resolution changes, cut into `modules` locally trained stages.

use serde::{Deserialize, Serialize};

use super::check::check_head;
use super::*;

/// Which deep network `arch` describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArchKind {
    /// Residual blocks after a stem, then global average pooling and `fc` (He et al.; torchvision).
    Resnet,
    /// Plain conv3x3 + batchnorm + ReLU blocks, 2x2 max-pools, torchvision's VGG classifier.
    Vgg,
}

/// A ResNet's block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResidualBlock {
    /// Two 3x3 convs.
    Basic,
    /// 1x1, 3x3, 1x1 with 4x the planes out.
    Bottleneck,
}

/// A ResNet's stem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stem {
    /// No stem (VGG).
    None,
    /// conv3x3 to `stem_width`, batchnorm, ReLU (He et al.'s CIFAR ResNets).
    Cifar,
    /// conv7x7/2 to `stem_width`, batchnorm, ReLU, max-pool 3x3/2 padding 1 (torchvision's ResNets).
    Imagenet,
}

/// A deep network, cut at block boundaries into `modules` local modules (the config's stages; see
/// `model::arch`). Widths change between groups of blocks; the resolution halves where `downsample_at`
/// says, so the two can be moved apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchConfig {
    pub kind: ArchKind,
    /// ResNet: the residual block.
    #[serde(default = "basic_block")]
    pub block: ResidualBlock,
    #[serde(default = "no_stem")]
    pub stem: Stem,
    /// ResNet: channels out of the stem.
    #[serde(default)]
    pub stem_width: usize,
    /// Width of each group of blocks: a residual block's planes, a VGG conv's channels.
    pub widths: Vec<usize>,
    /// Blocks (VGG: convs) in each group.
    pub blocks: Vec<usize>,
    /// The blocks, counted over the whole network from 0, at which the resolution halves: a residual
    /// block's stride-2 3x3 conv and projection, the 2x2 max-pool before a VGG conv.
    pub downsample_at: Vec<usize>,
    /// Blocks in each module (`modules` entries); empty: as even as possible, earlier modules taking one
    /// more where the blocks do not divide.
    #[serde(default)]
    pub module_blocks: Vec<usize>,
    /// VGG: width of the classifier's two hidden linear layers (torchvision: 4096).
    #[serde(default)]
    pub classifier_width: usize,
    /// Auxiliary head of every module but the last (which ends with the network's own classifier).
    pub head: HeadConfig,
}

fn basic_block() -> ResidualBlock {
    ResidualBlock::Basic
}

fn no_stem() -> Stem {
    Stem::None
}

impl ArchConfig {
    /// Blocks in the whole network.
    pub fn total_blocks(&self) -> usize {
        self.blocks.iter().sum()
    }

    /// Blocks in each of `modules` modules: `module_blocks`, or as even as possible.
    pub fn module_sizes(&self, modules: usize) -> Vec<usize> {
        if !self.module_blocks.is_empty() {
            return self.module_blocks.clone();
        }
        let total = self.total_blocks();
        (0..modules).map(|j| total / modules + usize::from(j < total % modules)).collect()
    }

    /// The values of an [arch] split into `modules` modules.
    pub(super) fn check(&self, modules: usize) -> std::result::Result<(), String> {
        let total = self.total_blocks();
        if self.widths.is_empty() || self.widths.len() != self.blocks.len() {
            return Err(format!(
                "arch.widths ({} groups) and arch.blocks ({} groups) need one entry per group of blocks",
                self.widths.len(),
                self.blocks.len()
            ));
        }
        if self.widths.contains(&0) || self.blocks.contains(&0) {
            return Err("arch.widths and arch.blocks must be at least 1".into());
        }
        if modules == 0 || modules > total {
            return Err(format!("modules must be between 1 and the network's {total} blocks, got {modules}"));
        }
        if !self.module_blocks.is_empty()
            && (self.module_blocks.len() != modules
                || self.module_blocks.contains(&0)
                || self.module_blocks.iter().sum::<usize>() != total)
        {
            return Err(format!(
                "arch.module_blocks {:?} must give each of the {modules} modules at least one block, {total} in all (or be [] to split evenly)",
                self.module_blocks
            ));
        }
        if self.downsample_at.windows(2).any(|w| w[0] >= w[1]) || self.downsample_at.iter().any(|&b| b >= total) {
            return Err(format!(
                "arch.downsample_at {:?} must list distinct block indices in increasing order, each below {total}",
                self.downsample_at
            ));
        }
        let wrong = match self.kind {
            ArchKind::Resnet if self.stem == Stem::None || self.stem_width == 0 => {
                Some("a ResNet needs arch.stem (\"cifar\" or \"imagenet\") and arch.stem_width")
            }
            ArchKind::Vgg if self.stem != Stem::None => Some("a VGG has no stem (arch.stem = \"none\")"),
            ArchKind::Vgg if self.classifier_width == 0 => Some("a VGG needs arch.classifier_width"),
            _ => None,
        };
        match wrong {
            Some(m) => Err(m.to_string()),
            None => check_head(&self.head, "arch.head"),
        }
    }
}
