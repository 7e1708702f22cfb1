//! Gathering what the report shows from a model on the GPU: each stage's conv filters, its feature maps
//! on a fixed handful of validation images, and its 2x2-pooled features on ~1000 validation images
//! (whose 2-D projection shows how separable the classes become with depth).

use std::path::{Path, PathBuf};

use super::feed::Feed;
use super::plans::{augment_config, StepIo};
use super::source::{Sample, Split};
use crate::config::Config;
use crate::error::Result;
use crate::gpu::{Gpu, Plan, PlanBuilder, Tensor};
use crate::metrics::{EpochRecord, StageSummary};
use crate::model::block::Scratch;
use crate::model::{BlockSpec, Layer, Model, Shape};
use crate::ops;
use crate::viz::{self, FeatureSample, ReportInput, StageWeights};

/// Images whose feature maps are drawn (the same ones at every stage and in every report of a run).
const FEATURE_IMAGES: usize = 8;
/// Images whose pooled features are projected.
const POOLED_IMAGES: usize = 1000;

/// Evenly spaced validation indices: deterministic, and spread over the classes.
fn pick(n: usize, k: usize) -> Vec<u32> {
    let k = k.min(n);
    (0..k).map(|i| (i * n / k) as u32).collect()
}

fn stage_weights(gpu: &Gpu, model: &Model, j: usize) -> Result<StageWeights> {
    let b = &model.stages[j];
    let k = b.spec.first_conv_weight().expect("every stage has a conv");
    let params = b.params.download(gpu)?;
    let s = &b.params.tensors[k];
    let shape = [s.shape()[0], s.shape()[1], s.shape()[2], s.shape()[3]];
    Ok(StageWeights {
        stage: j,
        shape,
        weights: params[k].clone(),
        space_to_depth: b.spec.layers[0] == Layer::SpaceToDepth,
    })
}

/// Everything `viz::write_report` needs for stages 0..=upto.
pub fn report_input(
    gpu: &Gpu,
    cfg: &Config,
    model: &Model,
    val: &Split,
    upto: usize,
    records: &[EpochRecord],
    summaries: &[StageSummary],
) -> Result<ReportInput> {
    let batch = cfg.batch_size.max(FEATURE_IMAGES);
    let (h, w, c) = val.image_shape();
    let mut feed = Feed::new(gpu, batch, h * w * c)?;
    let io = StepIo::new(gpu)?;
    let pass = FeaturePass::record(gpu, cfg, model, upto, &feed, &io)?;
    // The few images shown and measured, decoded into memory (a streamed split holds none).
    let shown = val.sample(&pick(val.len(), FEATURE_IMAGES))?;
    let features = pass.feature_maps(gpu, model, &mut feed, &shown)?;
    let chosen = val.sample(&pick(val.len(), POOLED_IMAGES))?;
    let pooled = pass.pooled(gpu, &mut feed, &chosen)?;
    let (input_images, pooled_labels) = (shown.images, chosen.labels);
    let filters = (0..=upto).map(|j| stage_weights(gpu, model, j)).collect::<Result<Vec<_>>>()?;
    let lr_steps = cfg.lr_decay_epochs();
    Ok(ReportInput {
        title: cfg.name.clone(),
        config_toml: cfg.to_toml(),
        adapter: format!("{} ({}, {})", gpu.summary.name, gpu.summary.backend, gpu.summary.device_type),
        records: records.to_vec(),
        summaries: summaries.to_vec(),
        lr_steps,
        filters,
        input_images,
        input_shape: [h, w, c],
        features,
        pooled,
        pooled_labels,
        class_names: val.classes().to_vec(),
    })
}

/// One plan: normalise a batch, run stages 0..=upto in evaluation mode keeping every output, pool each
/// to 2x2.
struct FeaturePass {
    plan: Plan,
    batch: usize,
    /// Per stage: its output, and that output pooled.
    outs: Vec<Tensor>,
    pooled: Vec<Tensor>,
}

impl FeaturePass {
    fn record(gpu: &Gpu, cfg: &Config, model: &Model, upto: usize, feed: &Feed, io: &StepIo) -> Result<FeaturePass> {
        let batch = feed.batch;
        let specs: Vec<&BlockSpec> = model.stages[..=upto].iter().map(|b| &b.spec).collect();
        let scratch = Scratch::new(gpu, &specs, batch)?;
        let x0 = gpu.tensor(&model.spec.input.batched(batch), "report input")?;
        let mut p = PlanBuilder::new(gpu, "report features");
        ops::augment_batch(&mut p, &feed.images, &feed.ids, &io.rng, &x0, &augment_config(cfg, false))?;
        let mut x = x0;
        let (mut outs, mut pooled) = (Vec::new(), Vec::new());
        for s in &model.stages[..=upto] {
            let shape = s.spec.output();
            let out = gpu.tensor(&shape.batched(batch), "report stage output")?;
            x = s.forward_eval(&mut p, &x, &scratch, Some(&out))?;
            let Shape::Map { h, w, c } = shape else { unreachable!("stages output maps") };
            let pool = gpu.tensor(&[batch, h.min(2), w.min(2), c], "report pooled")?;
            ops::avgpool2d_forward(&mut p, &out, &pool)?;
            outs.push(out);
            pooled.push(pool);
        }
        Ok(FeaturePass { plan: p.finish()?, batch, outs, pooled })
    }

    /// Every stage's feature maps of the images `shown` (at most one batch).
    fn feature_maps(&self, gpu: &Gpu, model: &Model, feed: &mut Feed, shown: &Sample) -> Result<Vec<FeatureSample>> {
        shown.load(gpu, feed, 0..shown.len());
        gpu.run(&[&self.plan])?;
        let mut features = Vec::new();
        for (j, o) in self.outs.iter().enumerate() {
            let Shape::Map { h, w, c } = model.stages[j].spec.output() else { unreachable!() };
            let all = gpu.download(o)?;
            let maps = all[..shown.len() * h * w * c].to_vec();
            features.push(FeatureSample { stage: j, height: h, width: w, channels: c, maps });
        }
        Ok(features)
    }

    /// Every stage's pooled features of the images `chosen`: (stage, rows, floats per row).
    fn pooled(&self, gpu: &Gpu, feed: &mut Feed, chosen: &Sample) -> Result<Vec<(usize, Vec<f32>, usize)>> {
        let mut host: Vec<Vec<f32>> = vec![Vec::new(); self.pooled.len()];
        for start in (0..chosen.len()).step_by(self.batch) {
            let rows = start..(start + self.batch).min(chosen.len());
            chosen.load(gpu, feed, rows.clone());
            gpu.run(&[&self.plan])?;
            for (j, t) in self.pooled.iter().enumerate() {
                let d = t.len() / self.batch;
                host[j].extend_from_slice(&gpu.download(t)?[..rows.len() * d]);
            }
        }
        Ok(host.into_iter().enumerate().map(|(j, v)| (j, v, self.pooled[j].len() / self.batch)).collect())
    }
}

/// Write the report into `dir`; returns the files written (report.html last).
pub fn write(dir: &Path, input: &ReportInput) -> Result<Vec<PathBuf>> {
    viz::write_report(dir, input)
}
