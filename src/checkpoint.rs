//! Checkpoints: one safetensors file holding every parameter and batchnorm statistic, and the momentum
//! of the blocks still training, under the names and layouts a PyTorch user expects (`stages.2.1.weight` as [out, in, kh, kw]; a deep
//! network's stages and classifier under torchvision's, `layer2.0.conv1.weight`, `fc.weight`), with
//! the training progress as JSON in the header's metadata, so weights and progress can never disagree.
//! Written atomically (temporary file, fsync, rename).

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{Error, IoContext, Result};
use crate::gpu::{Gpu, ParamArena};
use crate::model::block::Block;
use crate::model::{BlockSpec, Model};
use crate::train::state::{method_name, Progress};

mod layout;

use layout::torch_shape;
pub use layout::{from_torch, to_torch};

/// The checkpoint layout this build writes, and the only one it reads: a newer layout may hold state
/// this build would silently drop.
pub const FORMAT: u32 = 1;

/// The JSON a checkpoint carries in its header besides the tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// `FORMAT` of the build that wrote it.
    pub format: u32,
    pub config_name: String,
    pub adapter: String,
    pub progress: Progress,
}

const META_KEY: &str = "layerwise";

impl CheckpointMeta {
    /// Refuse progress that a run of `cfg` with `steps` steps per epoch can never reach (a damaged or
    /// edited checkpoint, or one from another run): continuing from it would skip or repeat training.
    pub fn check_progress(&self, path: &Path, cfg: &Config, steps: usize) -> Result<()> {
        let (p, stages, method) = (&self.progress, cfg.stage_count(), method_name(cfg.method));
        let problem = if p.method != method {
            Some(format!("it was written by a {} run, and this config trains with {method}", p.method))
        } else if p.stage > stages {
            Some(format!("it is at stage {}, and the config has {stages} stage(s)", p.stage))
        } else if p.epoch > cfg.epochs {
            Some(format!("it is at epoch {}, and the config trains {} epoch(s)", p.epoch, cfg.epochs))
        } else if p.step > 0 && (p.step >= steps || p.epoch >= cfg.epochs || p.stage >= stages) {
            Some(format!(
                "it is at step {} of epoch {} of stage {}, which an epoch of {steps} steps never reaches",
                p.step, p.epoch, p.stage
            ))
        } else if p.records > stages * cfg.epochs {
            Some(format!(
                "it counts {} epoch records, more than {stages} stage(s) x {} epoch(s)",
                p.records, cfg.epochs
            ))
        } else if p.dgl.as_ref().is_some_and(|d| ![0, stages].contains(&d.batches.len())) {
            Some(format!("it holds running sums for a network of another depth than {stages} stage(s)"))
        } else {
            None
        };
        match problem {
            Some(what) => Err(Error::data(path, format!("impossible training progress for this run: {what}"))),
            None => Ok(()),
        }
    }
}

/// A named tensor in PyTorch's layout: (name, shape, values).
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// Everything a block holds, as (name, PyTorch shape, values): its momentum too when `with_momentum`
/// and the block trains (frozen and untrained blocks hold none).
pub fn block_tensors(gpu: &Gpu, b: &Block, with_momentum: bool) -> Result<Vec<NamedTensor>> {
    let mut out = Vec::new();
    let pspecs = b.spec.param_specs();
    let params = b.params.download(gpu)?;
    let momentum = match b.training() {
        Some(t) if with_momentum => Some(t.momentum.download(gpu)?),
        _ => None,
    };
    for (k, (name, shape, li)) in pspecs.iter().enumerate() {
        let (ts, v) = to_torch(&b.spec, *li, &params[k], shape);
        out.push((name.clone(), ts.clone(), v));
        if let Some(m) = &momentum {
            let (_, mv) = to_torch(&b.spec, *li, &m[k], shape);
            out.push((format!("momentum.{name}"), ts, mv));
        }
    }
    let state = b.state.download(gpu)?;
    for (k, (name, shape, _)) in b.spec.state_specs().iter().enumerate() {
        out.push((name.clone(), shape.clone(), state[k].clone()));
    }
    Ok(out)
}

/// The parameters and batchnorm statistics held in `params` and `state`, arenas of `spec`'s layout (a
/// copy of a block's own), named `{prefix}{name}` in PyTorch's layout.
pub fn arena_tensors(
    gpu: &Gpu,
    spec: &BlockSpec,
    params: &ParamArena,
    state: &ParamArena,
    prefix: &str,
) -> Result<Vec<NamedTensor>> {
    let mut out = Vec::new();
    let values = params.download(gpu)?;
    for (k, (name, shape, li)) in spec.param_specs().iter().enumerate() {
        let (ts, v) = to_torch(spec, *li, &values[k], shape);
        out.push((format!("{prefix}{name}"), ts, v));
    }
    let values = state.download(gpu)?;
    for (k, (name, shape, _)) in spec.state_specs().iter().enumerate() {
        out.push((format!("{prefix}{name}"), shape.clone(), values[k].clone()));
    }
    Ok(out)
}

/// Serialise the model and progress (the training blocks' momentum included, so training resumes
/// exactly), and `extra` training state (e.g. the best epoch's weights so far). Weights that are not
/// all finite are refused with `Error::NonFinite` (naming the first such tensor): a checkpoint always
/// holds weights training can continue from, and the previous one stays in place.
pub fn save(path: &Path, gpu: &Gpu, model: &Model, extra: Vec<NamedTensor>, meta: &CheckpointMeta) -> Result<()> {
    let mut tensors = Vec::new();
    for b in model.blocks() {
        tensors.extend(block_tensors(gpu, b, true)?);
    }
    tensors.extend(extra);
    if let Some((name, bad)) = first_non_finite(tensors.iter().map(|(n, _, v)| (n.as_str(), v.as_slice()))) {
        return Err(Error::NonFinite(format!("{name} holds {bad} NaN or infinite value(s)")));
    }
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> =
        tensors.into_iter().map(|(n, s, v)| (n, s, bytemuck::cast_slice::<f32, u8>(&v).to_vec())).collect();
    let views = bytes
        .iter()
        .map(|(n, s, b)| {
            Ok((
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .map_err(|e| Error::gpu(e.to_string()))?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut info = HashMap::new();
    info.insert(META_KEY.to_string(), serde_json::to_string(meta).expect("metadata serialises"));
    info.insert("format".to_string(), "pt".to_string());
    let data = safetensors::serialize(views, Some(info)).map_err(|e| Error::data(path, format!("serialising: {e}")))?;
    crate::fsutil::atomic_write(path, &data)
}

/// Refuse a layout this build does not know before reading the rest of the metadata, which a newer
/// layout may have changed.
fn check_format(path: &Path, raw: &str) -> Result<()> {
    #[derive(Deserialize)]
    struct Format {
        format: Option<u32>,
    }
    let format =
        serde_json::from_str::<Format>(raw).map_err(|e| Error::data(path, format!("bad metadata: {e}")))?.format;
    match format {
        Some(FORMAT) => Ok(()),
        Some(f) if f > FORMAT => Err(Error::data(
            path,
            format!("checkpoint format {f} was written by a newer layerwise; this one reads format {FORMAT}: update layerwise to use it"),
        )),
        Some(f) => Err(Error::data(path, format!("unknown checkpoint format {f}; this layerwise reads format {FORMAT}"))),
        None => Err(Error::data(path, format!("no checkpoint format in the metadata; this layerwise reads format {FORMAT}"))),
    }
}

/// A checkpoint read from disk: tensors by name (PyTorch layout) and the progress metadata.
pub struct Checkpoint {
    pub meta: CheckpointMeta,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

/// The largest header a checkpoint may declare (safetensors' own limit): the names, shapes and offsets
/// of thousands of tensors and the progress take a small fraction of it.
const MAX_HEADER: u64 = 100_000_000;

/// The first tensor of `tensors` holding a NaN or an infinity, with how many such values it holds.
fn first_non_finite<'a>(tensors: impl Iterator<Item = (&'a str, &'a [f32])>) -> Option<(&'a str, usize)> {
    tensors.map(|(n, v)| (n, v.iter().filter(|x| !x.is_finite()).count())).find(|&(_, bad)| bad > 0)
}

/// The header of a checkpoint file (its tensors' names, types, shapes and offsets, and the metadata),
/// read and checked against the file's size before any tensor is read: a damaged header that declares
/// a huge size is refused at once, not after reading (or allocating) that much.
fn read_header(path: &Path, file: &mut std::fs::File) -> Result<safetensors::tensor::Metadata> {
    use std::io::Read;
    let size = file.metadata().at(path)?.len();
    let mut len = [0u8; 8];
    if size < 8 {
        return Err(Error::data(path, format!("{size} bytes: too short to be a checkpoint")));
    }
    file.read_exact(&mut len).at(path)?;
    let n = u64::from_le_bytes(len);
    if n > MAX_HEADER || n > size - 8 {
        return Err(Error::data(
            path,
            format!("not a valid checkpoint: its header declares {n} bytes, but the file holds {size} in all"),
        ));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header).at(path)?;
    let meta: safetensors::tensor::Metadata = serde_json::from_slice(&header)
        .map_err(|e| Error::data(path, format!("not a valid safetensors file: bad header: {e}")))?;
    let declared = 8 + n + meta.data_len() as u64;
    if declared != size {
        return Err(Error::data(
            path,
            format!("not a valid checkpoint: its header declares {declared} bytes in all, but the file holds {size} (truncated or damaged)"),
        ));
    }
    Ok(meta)
}

impl Checkpoint {
    /// Read and check a checkpoint: the header first (sizes, types, format), then every tensor, which
    /// must be finite (a checkpoint of diverged weights cannot be resumed, and is never written).
    pub fn read(path: &Path) -> Result<Checkpoint> {
        use std::io::Read;
        let mut file = std::fs::File::open(path).at(path)?;
        let header = read_header(path, &mut file)?;
        let raw = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(META_KEY))
            .ok_or_else(|| Error::data(path, "no layerwise metadata: not a layerwise checkpoint"))?;
        check_format(path, raw)?;
        let meta: CheckpointMeta =
            serde_json::from_str(raw).map_err(|e| Error::data(path, format!("bad metadata: {e}")))?;
        let infos = header.tensors();
        for (name, info) in &infos {
            if info.dtype != safetensors::Dtype::F32 {
                return Err(Error::data(path, format!("tensor {name} is {:?}, expected F32", info.dtype)));
            }
        }
        // In file order: the data follows the header, tensor after tensor.
        let mut tensors = HashMap::new();
        for name in header.offset_keys() {
            let info = infos[&name];
            let (start, end) = info.data_offsets;
            let mut v = vec![0f32; (end - start) / 4];
            file.read_exact(bytemuck::cast_slice_mut(&mut v)).at(path)?;
            for x in &mut v {
                *x = f32::from_le_bytes(x.to_ne_bytes());
            }
            tensors.insert(name, (info.shape.clone(), v));
        }
        if let Some((name, bad)) = first_non_finite(tensors.iter().map(|(n, (_, v))| (n.as_str(), v.as_slice()))) {
            return Err(Error::data(
                path,
                format!("tensor {name} holds {bad} NaN or infinite value(s): these weights diverged and cannot be trained on"),
            ));
        }
        Ok(Checkpoint { meta, tensors })
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut n: Vec<String> = self.tensors.keys().cloned().collect();
        n.sort();
        n
    }

    /// A tensor by name: (PyTorch shape, values).
    pub fn tensor(&self, name: &str) -> Option<&(Vec<usize>, Vec<f32>)> {
        self.tensors.get(name)
    }

    fn get(&self, path: &Path, name: &str, want: &[usize]) -> Result<&[f32]> {
        let (shape, v) = self.tensors.get(name).ok_or_else(|| Error::data(path, format!("missing tensor {name}")))?;
        if shape != want {
            return Err(Error::data(path, format!("tensor {name} has shape {shape:?}, the model needs {want:?}")));
        }
        Ok(v)
    }

    /// A checkpoint from tensors already in memory (PyTorch names and layouts).
    pub fn from_tensors(meta: CheckpointMeta, tensors: HashMap<String, (Vec<usize>, Vec<f32>)>) -> Checkpoint {
        Checkpoint { meta, tensors }
    }

    /// Upload every tensor into the model (momentum too when present).
    pub fn restore(&self, path: &Path, gpu: &Gpu, model: &Model) -> Result<()> {
        self.restore_blocks(path, gpu, &model.blocks().collect::<Vec<_>>())
    }

    /// Upload the tensors named `{prefix}{name}` of `spec`'s layout into `params` and `state` (arenas
    /// of that layout), as `arena_tensors` saved them.
    pub fn restore_arenas(
        &self,
        path: &Path,
        gpu: &Gpu,
        spec: &BlockSpec,
        prefix: &str,
        params: &ParamArena,
        state: &ParamArena,
    ) -> Result<()> {
        let mut values = Vec::new();
        for (name, shape, li) in spec.param_specs() {
            let ts = torch_shape(spec, li, &shape);
            values.push(from_torch(spec, li, self.get(path, &format!("{prefix}{name}"), &ts)?, &shape));
        }
        if !values.is_empty() {
            params.upload(gpu, &values);
        }
        let mut values = Vec::new();
        for (name, shape, _) in spec.state_specs() {
            values.push(self.get(path, &format!("{prefix}{name}"), &shape)?.to_vec());
        }
        if !values.is_empty() {
            state.upload(gpu, &values);
        }
        Ok(())
    }

    /// Upload the tensors of `blocks` only (momentum into those that train; zero where the file has
    /// none, as for a block that had not started training).
    pub fn restore_blocks(&self, path: &Path, gpu: &Gpu, blocks: &[&Block]) -> Result<()> {
        for b in blocks.iter().copied() {
            let mut params = Vec::new();
            let mut momentum = Vec::new();
            for (name, shape, li) in b.spec.param_specs() {
                let ts = torch_shape(&b.spec, li, &shape);
                params.push(from_torch(&b.spec, li, self.get(path, &name, &ts)?, &shape));
                if b.training().is_none() {
                    continue;
                }
                let m = match self.tensors.get(&format!("momentum.{name}")) {
                    Some(_) => from_torch(&b.spec, li, self.get(path, &format!("momentum.{name}"), &ts)?, &shape),
                    None => vec![0.0; shape.iter().product()],
                };
                momentum.push(m);
            }
            let mut state = Vec::new();
            for (name, shape, _) in b.spec.state_specs() {
                state.push(self.get(path, &name, &shape)?.to_vec());
            }
            if !params.is_empty() {
                b.params.upload(gpu, &params);
                if let Some(t) = b.training() {
                    t.momentum.upload(gpu, &momentum);
                }
            }
            if !state.is_empty() {
                b.state.upload(gpu, &state);
            }
        }
        Ok(())
    }
}
