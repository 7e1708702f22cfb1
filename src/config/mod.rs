//! Run configuration: every preset is a TOML file under assets/presets/, `--config FILE` loads another,
//! `--set key=value` overrides any field (dotted paths, array indices: `stages.0.head.k=2`), and the
//! resolved config is saved in the run folder. Validation turns bad values into usage errors.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

mod arch;
mod check;
mod dgl;
mod overrides;
mod stream;
pub use arch::*;
pub use dgl::*;
pub use stream::*;

/// Presets shipped with the binary: (name, TOML text).
pub const PRESETS: &[(&str, &str)] = &[
    ("fmnist-quick", include_str!("../../assets/presets/fmnist-quick.toml")),
    ("fmnist-k2", include_str!("../../assets/presets/fmnist-k2.toml")),
    ("paper1-cifar-k1", include_str!("../../assets/presets/paper1-cifar-k1.toml")),
    ("paper1-cifar-k2", include_str!("../../assets/presets/paper1-cifar-k2.toml")),
    ("paper1-cifar-k3", include_str!("../../assets/presets/paper1-cifar-k3.toml")),
    ("paper1-imagenet-k1", include_str!("../../assets/presets/paper1-imagenet-k1.toml")),
    ("paper1-imagenet-k2", include_str!("../../assets/presets/paper1-imagenet-k2.toml")),
    ("paper1-imagenet-k3", include_str!("../../assets/presets/paper1-imagenet-k3.toml")),
    ("dgl-fmnist", include_str!("../../assets/presets/dgl-fmnist.toml")),
    ("dgl-cifar-4layer", include_str!("../../assets/presets/dgl-cifar-4layer.toml")),
    ("dgl-cifar-6layer", include_str!("../../assets/presets/dgl-cifar-6layer.toml")),
    ("dgl-cifar-buffer", include_str!("../../assets/presets/dgl-cifar-buffer.toml")),
    ("resnet20-cifar", include_str!("../../assets/presets/resnet20-cifar.toml")),
    ("resnet20-cifar-accel", include_str!("../../assets/presets/resnet20-cifar-accel.toml")),
    ("resnet32-cifar", include_str!("../../assets/presets/resnet32-cifar.toml")),
    ("resnet56-cifar", include_str!("../../assets/presets/resnet56-cifar.toml")),
    ("resnet56-cifar-accel", include_str!("../../assets/presets/resnet56-cifar-accel.toml")),
    ("resnet110-cifar", include_str!("../../assets/presets/resnet110-cifar.toml")),
    ("resnet18-imagenet", include_str!("../../assets/presets/resnet18-imagenet.toml")),
    ("resnet34-imagenet", include_str!("../../assets/presets/resnet34-imagenet.toml")),
    ("resnet50-imagenet", include_str!("../../assets/presets/resnet50-imagenet.toml")),
    ("resnet152-imagenet", include_str!("../../assets/presets/resnet152-imagenet.toml")),
    ("vgg11-imagenet", include_str!("../../assets/presets/vgg11-imagenet.toml")),
    ("vgg13-imagenet", include_str!("../../assets/presets/vgg13-imagenet.toml")),
    ("vgg19-imagenet", include_str!("../../assets/presets/vgg19-imagenet.toml")),
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
    /// Adapter indices (as `layerwise devices` lists them; an index listed twice opens the adapter
    /// twice). Greedy and e2e: data parallel, each step's batch split into equal slices, one per
    /// device, their gradients summed in device order before the same update on every device. DGL:
    /// stage j runs on `devices[j % len]` (as `dgl.devices`). Empty = the run's one device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<usize>,
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
    /// Stream the dataset from files with ImageNet's transforms instead of loading it into memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamConfig>,
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

    /// Devices a greedy or e2e step's batch is split over (1 without data parallelism).
    pub fn data_parallel(&self) -> usize {
        match self.method {
            Method::Greedy | Method::E2e => self.devices.len().max(1),
            Method::Dgl | Method::DglAsync => 1,
        }
    }

    /// The adapters a run trains on, the run's own first (empty: the default adapter): `devices`, for
    /// DGL also `dgl.devices`.
    pub fn run_devices(&self) -> &[usize] {
        match self.method {
            Method::Dgl | Method::DglAsync => self.dgl_devices(),
            Method::Greedy | Method::E2e => &self.devices,
        }
    }

    /// DGL's stage placement: `devices`, else `dgl.devices`.
    pub fn dgl_devices(&self) -> &[usize] {
        match (&self.devices, &self.dgl) {
            (d, _) if !d.is_empty() => d,
            (_, Some(dgl)) => &dgl.devices,
            _ => &[],
        }
    }

    /// Images one device holds per step: its slice of the batch (`batch_size / devices`).
    pub fn device_batch(&self) -> usize {
        self.batch_size / self.data_parallel()
    }

    /// Images per micro-batch: what one forward and backward pass on one device holds (its slice of
    /// the batch divided by `grad_accum`).
    pub fn micro_batch(&self) -> usize {
        self.device_batch() / self.grad_accum.max(1)
    }

    /// The config one device of a data-parallel run trains with: its slice as the batch, no devices.
    /// What memory planning and fit checks look at (the same config without data parallelism).
    pub fn per_device(&self) -> Config {
        Config { batch_size: self.device_batch(), devices: Vec::new(), ..self.clone() }
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
