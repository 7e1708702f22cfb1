//! Checkpoints: one safetensors file holding every parameter, batchnorm statistic and momentum buffer
//! under the names and layouts a PyTorch user expects (`stages.2.1.weight` as [out, in, kh, kw]), with
//! the training progress as JSON in the header's metadata, so weights and progress can never disagree.
//! Written atomically (temporary file, fsync, rename).

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::gpu::{Gpu, ParamArena};
use crate::model::block::Block;
use crate::model::{BlockSpec, Layer, Model, Shape};
use crate::train::state::Progress;

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

/// Every (PyTorch index, our index) pair of the tensor of layer `li` in `spec` whose shape in our
/// layout is `shape`, when the two layouts differ (conv weights: ours [o, kh, kw, i], PyTorch's
/// [o, i, kh, kw]; a linear layer after a flatten: ours reads (h, w, c), PyTorch (c, h, w)); None when
/// they are the same. Integer indices: exact for tensors of any size.
fn layout_pairs(spec: &BlockSpec, li: usize, shape: &[usize], mut pair: impl FnMut(usize, usize)) -> bool {
    match (spec.layers[li], shape.len()) {
        (Layer::Conv { .. }, 4) => {
            let (o, kh, kw, i) = (shape[0], shape[1], shape[2], shape[3]);
            for a in 0..o {
                for b in 0..kh {
                    for c in 0..kw {
                        for d in 0..i {
                            pair(((a * i + d) * kh + b) * kw + c, ((a * kh + b) * kw + c) * i + d);
                        }
                    }
                }
            }
            true
        }
        (Layer::Linear { .. }, 2) => match flatten_source(spec, li) {
            Some((h, w, c)) => {
                let (o, f) = (shape[0], shape[1]);
                for a in 0..o {
                    for y in 0..h {
                        for x in 0..w {
                            for ch in 0..c {
                                pair(a * f + (ch * h + y) * w + x, a * f + (y * w + x) * c + ch);
                            }
                        }
                    }
                }
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// The PyTorch shape of a tensor of layer `li` whose shape in our layout is `shape`.
fn torch_shape(spec: &BlockSpec, li: usize, shape: &[usize]) -> Vec<usize> {
    match (spec.layers[li], shape.len()) {
        (Layer::Conv { .. }, 4) => vec![shape[0], shape[3], shape[1], shape[2]],
        _ => shape.to_vec(),
    }
}

/// Our layout -> PyTorch's, for the tensor of layer `li` in `spec` (`shape` in our layout): the PyTorch
/// shape and values.
pub fn to_torch(spec: &BlockSpec, li: usize, ours: &[f32], shape: &[usize]) -> (Vec<usize>, Vec<f32>) {
    let mut out = vec![0f32; ours.len()];
    if !layout_pairs(spec, li, shape, |t, o| out[t] = ours[o]) {
        out.copy_from_slice(ours);
    }
    (torch_shape(spec, li, shape), out)
}

/// PyTorch's layout -> ours (the inverse of `to_torch`).
pub fn from_torch(spec: &BlockSpec, li: usize, torch: &[f32], shape: &[usize]) -> Vec<f32> {
    let mut ours = vec![0f32; torch.len()];
    if !layout_pairs(spec, li, shape, |t, o| ours[o] = torch[t]) {
        ours.copy_from_slice(torch);
    }
    ours
}

/// The (h, w, c) map a linear layer's input was flattened from, if it follows a Flatten.
fn flatten_source(spec: &BlockSpec, li: usize) -> Option<(usize, usize, usize)> {
    if li == 0 || spec.layers[li - 1] != Layer::Flatten {
        return None;
    }
    match spec.input_of(li - 1) {
        Shape::Map { h, w, c } => Some((h, w, c)),
        Shape::Flat(_) => None,
    }
}

/// A named tensor in PyTorch's layout: (name, shape, values).
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// Everything a block holds, as (name, PyTorch shape, values).
pub fn block_tensors(gpu: &Gpu, b: &Block, with_momentum: bool) -> Result<Vec<NamedTensor>> {
    let mut out = Vec::new();
    let pspecs = b.spec.param_specs();
    let params = b.params.download(gpu)?;
    let momentum = if with_momentum { Some(b.momentum.download(gpu)?) } else { None };
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

/// Serialise the model and progress (momentum included, so training resumes exactly), and `extra`
/// training state (e.g. the best epoch's weights so far).
pub fn save(path: &Path, gpu: &Gpu, model: &Model, extra: Vec<NamedTensor>, meta: &CheckpointMeta) -> Result<()> {
    let mut tensors = Vec::new();
    for b in model.blocks() {
        tensors.extend(block_tensors(gpu, b, true)?);
    }
    tensors.extend(extra);
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

impl Checkpoint {
    pub fn read(path: &Path) -> Result<Checkpoint> {
        let bytes = std::fs::read(path).at(path)?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| Error::data(path, format!("not a valid safetensors file: {e}")))?;
        let (_, header) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| Error::data(path, e.to_string()))?;
        let raw = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(META_KEY))
            .ok_or_else(|| Error::data(path, "no layerwise metadata: not a layerwise checkpoint"))?;
        check_format(path, raw)?;
        let meta: CheckpointMeta =
            serde_json::from_str(raw).map_err(|e| Error::data(path, format!("bad metadata: {e}")))?;
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(Error::data(path, format!("tensor {name} is {:?}, expected F32", view.dtype())));
            }
            let v: Vec<f32> = view.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
            tensors.insert(name, (view.shape().to_vec(), v));
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

    /// Upload the tensors of `blocks` only.
    pub fn restore_blocks(&self, path: &Path, gpu: &Gpu, blocks: &[&Block]) -> Result<()> {
        for b in blocks.iter().copied() {
            let mut params = Vec::new();
            let mut momentum = Vec::new();
            for (name, shape, li) in b.spec.param_specs() {
                let ts = torch_shape(&b.spec, li, &shape);
                params.push(from_torch(&b.spec, li, self.get(path, &name, &ts)?, &shape));
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
                b.momentum.upload(gpu, &momentum);
            }
            if !state.is_empty() {
                b.state.upload(gpu, &state);
            }
        }
        Ok(())
    }
}
