//! Run configuration: every preset is a TOML file under assets/presets/, `--config FILE` loads another,
//! `--set key=value` overrides any field (dotted paths, array indices: `stages.0.head.k=2`), and the
//! resolved config is saved in the run folder. Validation turns bad values into usage errors.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Presets shipped with the binary: (name, TOML text).
pub const PRESETS: &[(&str, &str)] = &[
    ("fmnist-quick", include_str!("../assets/presets/fmnist-quick.toml")),
    ("fmnist-k2", include_str!("../assets/presets/fmnist-k2.toml")),
    ("paper1-cifar-k1", include_str!("../assets/presets/paper1-cifar-k1.toml")),
    ("paper1-cifar-k2", include_str!("../assets/presets/paper1-cifar-k2.toml")),
    ("paper1-cifar-k3", include_str!("../assets/presets/paper1-cifar-k3.toml")),
    ("paper1-imagenet-k1", include_str!("../assets/presets/paper1-imagenet-k1.toml")),
    ("paper1-imagenet-k2", include_str!("../assets/presets/paper1-imagenet-k2.toml")),
    ("paper1-imagenet-k3", include_str!("../assets/presets/paper1-imagenet-k3.toml")),
    ("dgl-fmnist", include_str!("../assets/presets/dgl-fmnist.toml")),
    ("dgl-cifar-4layer", include_str!("../assets/presets/dgl-cifar-4layer.toml")),
    ("dgl-cifar-6layer", include_str!("../assets/presets/dgl-cifar-6layer.toml")),
    ("dgl-cifar-buffer", include_str!("../assets/presets/dgl-cifar-buffer.toml")),
    ("resnet20-cifar", include_str!("../assets/presets/resnet20-cifar.toml")),
    ("resnet20-cifar-accel", include_str!("../assets/presets/resnet20-cifar-accel.toml")),
    ("resnet32-cifar", include_str!("../assets/presets/resnet32-cifar.toml")),
    ("resnet56-cifar", include_str!("../assets/presets/resnet56-cifar.toml")),
    ("resnet56-cifar-accel", include_str!("../assets/presets/resnet56-cifar-accel.toml")),
    ("resnet110-cifar", include_str!("../assets/presets/resnet110-cifar.toml")),
    ("resnet18-imagenet", include_str!("../assets/presets/resnet18-imagenet.toml")),
    ("resnet34-imagenet", include_str!("../assets/presets/resnet34-imagenet.toml")),
    ("resnet50-imagenet", include_str!("../assets/presets/resnet50-imagenet.toml")),
    ("resnet152-imagenet", include_str!("../assets/presets/resnet152-imagenet.toml")),
    ("vgg11-imagenet", include_str!("../assets/presets/vgg11-imagenet.toml")),
    ("vgg13-imagenet", include_str!("../assets/presets/vgg13-imagenet.toml")),
    ("vgg19-imagenet", include_str!("../assets/presets/vgg19-imagenet.toml")),
];

pub const DEFAULT_PRESET: &str = "fmnist-quick";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Sequential greedy layerwise training (paper 1, Algorithm 1).
    Greedy,
    /// End-to-end backprop through every stage and the last head only.
    E2e,
    /// Decoupled greedy learning: all stages at once, each on its own loss.
    Dgl,
    /// DGL with replay buffers between stages.
    DglAsync,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Downsample {
    None,
    /// The papers' invertible 2x2 space-to-depth (channels x4, spatial /2).
    SpaceToDepth,
    /// 2x2 max-pool, stride 2.
    Maxpool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeadKind {
    /// k-1 x [conv3x3 (no bias), BN, ReLU] at `width`, average to 2x2, [BN], flatten, linear.
    Conv,
    /// DGL's MLP-SR: average to ceil(H/4), `convs` x [1x1 conv, BN, ReLU], average to 2x2, flatten,
    /// `mlp` x [linear (no bias), BN1d, ReLU], linear (the reference's `n_lin` and `mlp_layers`).
    MlpSr,
}

/// What the ensemble of auxiliary heads sums, each head weighted 2^j (normalised).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ensemble {
    /// Softmax probabilities (paper 1's ImageNet code, layerCNN imagenet.py).
    #[default]
    Softmax,
    /// Raw logits (paper 1's CIFAR code, layerCNN cifar.py; DGL's buffer_experiments/cifar_buffer.py).
    Logits,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadConfig {
    pub kind: HeadKind,
    /// Conv head: number of hidden layers + 1 (k = 1: average + linear only).
    #[serde(default = "one")]
    pub k: usize,
    /// Conv head: width of the hidden conv layers (0 = the stage's width).
    #[serde(default)]
    pub width: usize,
    /// Conv head: batchnorm in hidden layers and after the 2x2 average.
    #[serde(default)]
    pub batchnorm: bool,
    /// MLP-SR head: 1x1 conv layers (the reference's `n_lin`).
    #[serde(default = "three")]
    pub convs: usize,
    /// MLP-SR head: hidden linear layers before the output layer (the reference's `mlp_layers`; 0 = the
    /// output layer only).
    #[serde(default = "three")]
    pub mlp: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// Output channels of the stage's 3x3 conv.
    pub width: usize,
    #[serde(default = "no_downsample")]
    pub downsample: Downsample,
    #[serde(default)]
    pub bias: bool,
    #[serde(default)]
    pub batchnorm: bool,
    pub head: HeadConfig,
}

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    #[serde(default)]
    pub nesterov: bool,
    /// The LR is multiplied by `lr_decay` every `lr_step` epochs (of a stage), or at each of
    /// `lr_milestones` when given (He et al.'s ResNets: epochs 82 and 123).
    pub lr_decay: f64,
    pub lr_step: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lr_milestones: Vec<usize>,
    /// A new SGD at every LR step: momentum restarts from zero (paper 1's code builds a new optimizer at
    /// epochs 0, 15, 30 and 45 of every stage); false keeps it across steps (DGL's code).
    #[serde(default)]
    pub restart_momentum: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentConfig {
    /// Random-crop zero padding in pixels (0 = no crop).
    pub pad: u32,
    pub flip: bool,
    /// Per-channel normalisation of pixel/255.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

/// dgl-async: which stages run at each tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AsyncOrder {
    /// One stage per tick, drawn at random (weight 1 - its slowdown), after an in-order warm-up: the
    /// authors' buffer experiment (DGL buffer_experiments/cifar_buffer.py).
    #[default]
    Random,
    /// Every stage at every tick, in stage order, each skipping it with its slowdown probability:
    /// concurrent workers, one tick a unit of wall-clock time.
    Lockstep,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DglConfig {
    /// dgl-async: which stages run at each tick.
    #[serde(default)]
    pub order: AsyncOrder,
    /// Replay-buffer capacity between consecutive stages, in batches (a ring of the most recent ones).
    #[serde(default = "thirty")]
    pub buffer_size: usize,
    /// Times one buffered batch may be read (0 = unlimited). The reference's `--max-buffer-reuse R`
    /// allows R - 1 reads (its use counts start at 1), i.e. `max_reuse = R - 1`.
    #[serde(default)]
    pub max_reuse: usize,
    /// Per-stage slowdown p: stage j runs (1-p) times as often as the others, a slowdown of 1/(1-p)
    /// (random order: drawn with weight 1-p, as the reference's `--noise p --layer_noise j`; lockstep:
    /// skips each tick with probability p); empty = none.
    #[serde(default)]
    pub slowdown: Vec<f64>,
    /// Adapter indices (as `layerwise devices` lists them) to place stages on: stage j runs on
    /// `devices[j % len]`, each entry its own logical device (an index listed twice opens the adapter
    /// twice); empty = every stage on the run's one device.
    #[serde(default)]
    pub devices: Vec<usize>,
}

impl Default for DglConfig {
    fn default() -> Self {
        DglConfig {
            order: AsyncOrder::default(),
            buffer_size: thirty(),
            max_reuse: 0,
            slowdown: Vec::new(),
            devices: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub name: String,
    pub method: Method,
    /// "fashion-mnist", "mnist", "cifar10" or a path to a dataset folder/archive.
    pub dataset: String,
    /// Hold out N training images (a fixed random subset) for validation; 0 = validate on the test split.
    #[serde(default)]
    pub val_split: usize,
    /// With `val_split = 0`, on a dataset without a test split (e.g. a folder of training images only):
    /// hold out this many training images instead, and say so (0 = refuse such a dataset).
    #[serde(default)]
    pub val_fallback: usize,
    /// Train on at most this many training images, a fixed random subset (0 = all): for quick runs.
    #[serde(default)]
    pub max_train_images: usize,
    /// Validate on at most this many images (0 = all), evenly spread over the split.
    #[serde(default)]
    pub max_val_images: usize,
    pub seed: u64,
    /// Images per SGD step (the global batch).
    pub batch_size: usize,
    /// Greedy and e2e: run each step as this many micro-batches of `batch_size / grad_accum` images,
    /// summing their gradients in order before the one SGD update (for stages that do not fit at
    /// `batch_size`). Batchnorm normalises each micro-batch with its own statistics, as PyTorch does
    /// with accumulation.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub grad_accum: usize,
    /// Device memory (MiB) a run may plan for; 0 = what the adapter reports, where it reports any.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub memory_limit_mib: usize,
    /// Epochs per stage (per run for e2e and DGL).
    pub epochs: usize,
    /// With `arch`: K, the local modules (stages) its blocks are cut into.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub modules: usize,
    /// Write a checkpoint at least this often (minutes), besides every epoch end.
    #[serde(default = "five")]
    pub checkpoint_minutes: f64,
    pub optimizer: OptimizerConfig,
    pub augment: AugmentConfig,
    /// The network as a list of one-conv stages; empty when `arch` describes it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<StageConfig>,
    /// Greedy: freeze each stage at its best validation epoch (its head's accuracy; weights and batchnorm
    /// statistics) instead of its last, as paper 1 suggests after Prop. 3.1 ("take the best result along
    /// the optimization trajectory").
    #[serde(default)]
    pub keep_best: bool,
    /// What the evaluation's ensemble of heads sums: "softmax" probabilities or raw "logits".
    #[serde(default)]
    pub ensemble: Ensemble,
    /// A deep network (ResNet, VGG) cut into `modules` stages, instead of `stages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<ArchConfig>,
    #[serde(default)]
    pub dgl: Option<DglConfig>,
    #[serde(default)]
    pub cache: CacheConfig,
}

/// Greedy training's reuse of the frozen prefix: stage j's input (the output of stages 0..j-1, which
/// no longer change) can be computed once per stage and read back instead of recomputed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Evaluate stage j from the cached validation features of its frozen prefix (and the frozen heads'
    /// cached predictions), when they fit in `limit_mib`; otherwise recompute them every epoch.
    #[serde(default = "yes")]
    pub eval: bool,
    /// Train stage j from the cached frozen-prefix output of every training image. Needs augmentation
    /// off (augment.pad = 0, augment.flip = false: augmented images differ every epoch); refused with
    /// the memory it needs when that exceeds `limit_mib`. Greedy training only: the other methods
    /// train every stage at once, so no prefix is frozen, and leave it unused (a preset that sets it
    /// still runs with `--set method=dgl`).
    #[serde(default)]
    pub train: bool,
    /// Device memory the caches may take together, in MiB.
    #[serde(default = "cache_limit")]
    pub limit_mib: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig { eval: true, train: false, limit_mib: cache_limit() }
    }
}

fn yes() -> bool {
    true
}
fn cache_limit() -> usize {
    2048
}

fn one() -> usize {
    1
}
fn is_one(v: &usize) -> bool {
    *v == 1
}
fn is_zero(v: &usize) -> bool {
    *v == 0
}
fn three() -> usize {
    3
}
fn thirty() -> usize {
    30
}
fn five() -> f64 {
    5.0
}
fn no_downsample() -> Downsample {
    Downsample::None
}
fn basic_block() -> ResidualBlock {
    ResidualBlock::Basic
}
fn no_stem() -> Stem {
    Stem::None
}

impl Config {
    /// A shipped preset by name.
    pub fn preset(name: &str) -> Result<Config> {
        let text = PRESETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t).ok_or_else(|| {
            let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
            Error::usage(format!("unknown preset `{name}`; presets: {}", names.join(", ")))
        })?;
        Config::from_toml(text, &format!("preset {name}"))
    }

    pub fn from_toml(text: &str, origin: &str) -> Result<Config> {
        let cfg: Config = toml::from_str(text).map_err(|e| Error::usage(format!("{origin}: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn load(path: &std::path::Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Config::from_toml(&text, &path.display().to_string())
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises")
    }

    /// Apply `key=value` overrides (value parsed as TOML, else taken as a string), then re-validate.
    pub fn with_overrides(&self, sets: &[String]) -> Result<Config> {
        if sets.is_empty() {
            return Ok(self.clone());
        }
        let mut value = toml::Value::try_from(self).expect("config serialises");
        for s in sets {
            let (key, raw) =
                s.split_once('=').ok_or_else(|| Error::usage(format!("--set `{s}`: expected key=value")))?;
            let parsed = parse_value(raw.trim());
            set_path(&mut value, key.trim(), parsed).map_err(|e| Error::usage(format!("--set `{s}`: {e}")))?;
        }
        let cfg: Config = value.try_into().map_err(|e: toml::de::Error| Error::usage(format!("--set: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reject values that cannot train: every message says which field and why.
    pub fn validate(&self) -> Result<()> {
        self.check().map_err(|m| Error::usage(format!("invalid config `{}`: {m}", self.name)))
    }

    fn check(&self) -> std::result::Result<(), String> {
        match (&self.arch, self.stages.is_empty()) {
            (None, true) => return Err("no stages (give [[stages]] or an [arch])".into()),
            (Some(_), false) => return Err("give either [[stages]] or an [arch], not both".into()),
            (Some(a), true) => a.check(self.modules)?,
            (None, false) if self.modules != 0 => {
                return Err(format!(
                    "modules = {} applies to an [arch] network; with [[stages]] every stage is a module",
                    self.modules
                ))
            }
            (None, false) => {}
        }
        if self.batch_size == 0 {
            return Err("batch_size must be at least 1".into());
        }
        if self.epochs == 0 {
            return Err("epochs must be at least 1".into());
        }
        self.check_grad_accum()?;
        self.optimizer.check()?;
        self.augment.check()?;
        if self.checkpoint_minutes.is_nan() || self.checkpoint_minutes <= 0.0 {
            return Err("checkpoint_minutes must be positive".into());
        }
        for (j, s) in self.stages.iter().enumerate() {
            s.check(j)?;
        }
        if self.cache.train {
            let a = &self.augment;
            if a.pad != 0 || a.flip {
                return Err(format!(
                    "cache.train needs augmentation off (augment.pad = 0 and augment.flip = false, got pad {} and flip {}): augmented images change every epoch, so their features cannot be cached",
                    a.pad, a.flip
                ));
            }
        }
        if self.keep_best && self.method != Method::Greedy {
            return Err("keep_best applies to method = \"greedy\" only (the other methods train every stage to the end together)".into());
        }
        match &self.dgl {
            Some(d) => d.check(self.stage_count()),
            None => Ok(()),
        }
    }

    /// How many stages (local modules) the network has.
    pub fn stage_count(&self) -> usize {
        if self.arch.is_some() {
            self.modules
        } else {
            self.stages.len()
        }
    }

    /// The same config with every width divided by `div` (at least 4): a quick copy of a preset for tests
    /// and `bench --quick`.
    pub fn with_widths_divided(&self, div: usize) -> Config {
        let shrink = |w: &mut usize| {
            if *w > 0 {
                *w = (*w / div).max(4);
            }
        };
        let mut cfg = self.clone();
        for s in &mut cfg.stages {
            shrink(&mut s.width);
            shrink(&mut s.head.width);
        }
        if let Some(a) = &mut cfg.arch {
            a.widths.iter_mut().for_each(shrink);
            shrink(&mut a.stem_width);
            shrink(&mut a.classifier_width);
            shrink(&mut a.head.width);
        }
        cfg
    }

    /// `grad_accum` divides the batch, and only greedy and e2e steps accumulate.
    fn check_grad_accum(&self) -> std::result::Result<(), String> {
        let m = self.grad_accum;
        if m == 0 || self.batch_size % m != 0 {
            return Err(format!(
                "grad_accum must divide batch_size ({}) into equal micro-batches, got {m}",
                self.batch_size
            ));
        }
        if m > 1 && !matches!(self.method, Method::Greedy | Method::E2e) {
            return Err("grad_accum applies to method = \"greedy\" and \"e2e\" only".into());
        }
        if m > 1 && self.arch.is_some() {
            return Err("grad_accum > 1 is not supported yet for [arch] networks (residual blocks' micro-batch passes are untested); use a smaller batch_size".into());
        }
        if m > 1 && self.cache.train {
            return Err(
                "grad_accum > 1 and cache.train cannot be combined (the cached step reads whole batches)".into()
            );
        }
        Ok(())
    }

    /// Images per micro-batch: what one forward and backward pass holds (`batch_size / grad_accum`).
    pub fn micro_batch(&self) -> usize {
        self.batch_size / self.grad_accum.max(1)
    }

    /// Learning rate during `epoch` (0-based) of a stage.
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let o = &self.optimizer;
        let decays = if o.lr_milestones.is_empty() {
            epoch / o.lr_step
        } else {
            o.lr_milestones.iter().filter(|&&m| m <= epoch).count()
        };
        o.lr * o.lr_decay.powi(decays as i32)
    }

    /// The epochs (of a stage, within `epochs`) at which the LR decays.
    pub fn lr_decay_epochs(&self) -> Vec<usize> {
        let o = &self.optimizer;
        let all: Vec<usize> = if o.lr_milestones.is_empty() {
            (1..).map(|k| k * o.lr_step).take_while(|&e| e < self.epochs).collect()
        } else {
            o.lr_milestones.clone()
        };
        all.into_iter().filter(|&e| e < self.epochs).collect()
    }

    /// Whether momentum restarts from zero when `epoch` (0-based, of a stage) begins: at every LR step
    /// with `optimizer.restart_momentum` (epoch 0 starts from zero anyway).
    pub fn restarts_momentum(&self, epoch: usize) -> bool {
        self.optimizer.restart_momentum && epoch > 0 && epoch % self.optimizer.lr_step == 0
    }
}

impl OptimizerConfig {
    fn check(&self) -> std::result::Result<(), String> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(format!("optimizer.lr must be a positive number, got {}", self.lr));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(format!("optimizer.momentum must be in [0, 1), got {}", self.momentum));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(format!("optimizer.weight_decay must be >= 0, got {}", self.weight_decay));
        }
        if !(self.lr_decay.is_finite() && self.lr_decay > 0.0) || self.lr_step == 0 {
            return Err("optimizer.lr_decay must be > 0 and optimizer.lr_step >= 1".into());
        }
        if self.lr_milestones.contains(&0) || self.lr_milestones.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!("optimizer.lr_milestones {:?} must be increasing epochs from 1", self.lr_milestones));
        }
        if self.nesterov && self.momentum == 0.0 {
            return Err("nesterov needs momentum > 0".into());
        }
        Ok(())
    }
}

impl AugmentConfig {
    fn check(&self) -> std::result::Result<(), String> {
        if self.mean.len() != self.std.len() || self.mean.is_empty() || self.mean.len() > 4 {
            return Err("augment.mean and augment.std need the same length, 1 to 4 channels".into());
        }
        if self.std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err("augment.std values must be positive".into());
        }
        Ok(())
    }
}

impl StageConfig {
    /// Stage `j`'s values.
    fn check(&self, j: usize) -> std::result::Result<(), String> {
        if self.width == 0 {
            return Err(format!("stages.{j}.width must be at least 1"));
        }
        check_head(&self.head, &format!("stages.{j}.head"))
    }
}

/// The values of the head at `path`.
fn check_head(h: &HeadConfig, path: &str) -> std::result::Result<(), String> {
    if h.kind == HeadKind::Conv && h.k == 0 {
        return Err(format!("{path}.k must be at least 1 (k = 1 is a linear head), got 0"));
    }
    Ok(())
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
    fn check(&self, modules: usize) -> std::result::Result<(), String> {
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

impl DglConfig {
    /// The DGL values for a network of `stages` stages.
    fn check(&self, stages: usize) -> std::result::Result<(), String> {
        if self.buffer_size == 0 {
            return Err("dgl.buffer_size must be at least 1".into());
        }
        if self.slowdown.iter().any(|p| !(0.0..1.0).contains(p)) {
            return Err("dgl.slowdown probabilities must be in [0, 1)".into());
        }
        if self.slowdown.len() > stages {
            return Err(format!("dgl.slowdown has {} entries but there are {stages} stages", self.slowdown.len()));
        }
        Ok(())
    }
}

fn parse_value(raw: &str) -> toml::Value {
    // Parse as the right-hand side of a TOML assignment; bare words become strings.
    match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn set_path(root: &mut toml::Value, key: &str, value: toml::Value) -> std::result::Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = root;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        cur = match cur {
            toml::Value::Table(t) => {
                if last {
                    t.insert(part.to_string(), value);
                    return Ok(());
                }
                t.entry(part.to_string()).or_insert_with(|| toml::Value::Table(Default::default()))
            }
            toml::Value::Array(a) => {
                let idx: usize = part.parse().map_err(|_| format!("`{part}` is not an index"))?;
                let len = a.len();
                let slot = a.get_mut(idx).ok_or_else(|| format!("index {idx} out of range (length {len})"))?;
                if last {
                    *slot = value;
                    return Ok(());
                }
                slot
            }
            _ => return Err(format!("`{}` is not a table", parts[..i].join("."))),
        };
    }
    Ok(())
}
