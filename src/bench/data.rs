//! `layerwise bench data`: images/s of the streaming input pipeline (read + decode, + the ImageNet
//! training or evaluation transform), on 1..N worker threads, side by side with Pillow decoding and
//! transforming the same files on the same machine (`scripts/bench_data_pillow.py`, run with a Python
//! that has Pillow; torchvision's transforms when it is installed).

use std::fmt::Write;
use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::stream::{
    decode_rgb, default_index_cache, EpochPlan, ImageList, ListOptions, Location, Pipeline, PipelineOptions, Pixels,
    Reader, Transform,
};
use crate::error::{Error, IoContext, Result};

/// The Pillow side, embedded so the binary can run it anywhere.
const PILLOW_SCRIPT: &str = include_str!("../../scripts/bench_data_pillow.py");

#[derive(Debug, Clone)]
pub struct DataBenchOptions {
    /// Folders, `.tar` shards or a packed copy.
    pub inputs: Vec<PathBuf>,
    /// Only images below a folder of this name (e.g. "train").
    pub split: Option<String>,
    /// Images measured (the first ones listed).
    pub images: usize,
    /// Worker counts to measure.
    pub workers: Vec<usize>,
    pub batch: usize,
    /// Python interpreter for the Pillow side (None: skip it).
    pub python: Option<String>,
}

impl DataBenchOptions {
    pub fn new(inputs: Vec<PathBuf>) -> DataBenchOptions {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut workers: Vec<usize> = (0..).map(|i| 1 << i).take_while(|&w| w < cores).collect();
        workers.push(cores);
        DataBenchOptions { inputs, split: None, images: 1024, workers, batch: 64, python: None }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataBenchRow {
    /// "layerwise" or "pillow".
    #[serde(default)]
    pub side: String,
    /// "decode", "decode+train" (RandomResizedCrop 224 + flip) or "decode+eval" (Resize 256 + CenterCrop 224).
    pub what: String,
    pub workers: usize,
    pub img_per_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataBenchReport {
    pub source: String,
    pub images: usize,
    /// Mean width x height of the images measured.
    pub mean_width: f64,
    pub mean_height: f64,
    pub cores: usize,
    pub rows: Vec<DataBenchRow>,
    /// What ran the Pillow side ("Pillow 9.4.0, torchvision transforms"), or why it did not.
    pub pillow: String,
}

pub fn bench_data(opts: &DataBenchOptions) -> Result<DataBenchReport> {
    let list_opts = ListOptions { split: opts.split.clone(), index_cache: default_index_cache(), ..Default::default() };
    let list = ImageList::open(&opts.inputs, &list_opts)?.truncated(opts.images.max(1));
    let (mean_width, mean_height) = decode_pass(&list, 0, 1)?; // also warms the page cache
    let mut rows = Vec::new();
    for &workers in &opts.workers {
        let t0 = Instant::now();
        let list = &list;
        std::thread::scope(|s| {
            let threads: Vec<_> = (0..workers).map(|k| s.spawn(move || decode_pass(list, k, workers))).collect();
            threads.into_iter().try_for_each(|t| t.join().expect("decoding thread").map(|_| ()))
        })?;
        rows.push(row("layerwise", "decode", workers, list.len() as f64 / t0.elapsed().as_secs_f64()));
    }
    for (what, transform) in
        [("decode+train", Transform::imagenet_train()), ("decode+eval", Transform::imagenet_eval())]
    {
        for &workers in &opts.workers {
            let pipeline_opts = PipelineOptions { batch: opts.batch, workers, prefetch: 2 * workers, transform };
            let pipeline = Pipeline::new(list.clone(), pipeline_opts)?;
            let t0 = Instant::now();
            for batch in pipeline.epoch(&EpochPlan::in_order(list.len(), 1))? {
                batch?;
            }
            rows.push(row("layerwise", what, workers, list.len() as f64 / t0.elapsed().as_secs_f64()));
        }
    }
    let pillow = match &opts.python {
        Some(python) => match pillow_rows(python, &list, &opts.workers) {
            Ok((what, r)) => {
                rows.extend(r);
                what
            }
            Err(e) => format!("not run: {e}"),
        },
        None => "not run (--pillow runs it)".into(),
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(DataBenchReport {
        source: list.source.clone(),
        images: list.len(),
        mean_width,
        mean_height,
        cores,
        rows,
        pillow,
    })
}

fn row(side: &str, what: &str, workers: usize, img_per_s: f64) -> DataBenchRow {
    DataBenchRow { side: side.into(), what: what.into(), workers, img_per_s }
}

/// Read and decode images `part`, `part + parts`, ... on this thread; returns their mean width and height.
fn decode_pass(list: &ImageList, part: usize, parts: usize) -> Result<(f64, f64)> {
    let (mut reader, mut rgb) = (Reader::default(), Vec::new());
    let (mut w_sum, mut h_sum) = (0usize, 0usize);
    for i in (part..list.len()).step_by(parts) {
        let (w, h) = match reader.read(list, i)? {
            Pixels::Encoded => decode_rgb(&reader.bytes, &list.name(i), &mut rgb)?,
            Pixels::Rgb { width, height } => (width as usize, height as usize),
        };
        (w_sum, h_sum) = (w_sum + w, h_sum + h);
    }
    let n = list.len().max(1) as f64;
    Ok((w_sum as f64 / n, h_sum as f64 / n))
}

/// Run the Pillow script on the same images; returns (what ran, its rows).
fn pillow_rows(python: &str, list: &ImageList, workers: &[usize]) -> Result<(String, Vec<DataBenchRow>)> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("temporary folder", e))?;
    let mut manifest = Vec::with_capacity(list.len());
    for e in &list.entries {
        manifest.push(match &e.location {
            Location::File(p) => serde_json::json!([p, 0, std::fs::metadata(p).at(p)?.len()]),
            Location::Member { container, offset, len, pixels: Pixels::Encoded, .. } => {
                serde_json::json!([list.containers[*container as usize], offset, len])
            }
            Location::Member { .. } => return Err(Error::usage("Pillow cannot read a raw packed copy")),
        });
    }
    let (script, manifest_path) = (dir.path().join("bench_data_pillow.py"), dir.path().join("manifest.json"));
    std::fs::write(&script, PILLOW_SCRIPT).at(&script)?;
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).expect("serialisable")).at(&manifest_path)?;
    let list_arg = workers.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(",");
    let out = std::process::Command::new(python)
        .arg(&script)
        .arg(&manifest_path)
        .arg(list_arg)
        .output()
        .map_err(|e| Error::usage(format!("cannot run {python}: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Error::usage(format!("{python} failed: {}", err.lines().last().unwrap_or(""))));
    }
    #[derive(Deserialize)]
    struct Out {
        torchvision: bool,
        pillow: String,
        rows: Vec<DataBenchRow>,
    }
    let parsed: Out = serde_json::from_slice(&out.stdout)
        .map_err(|e| Error::usage(format!("unexpected output from the Pillow script: {e}")))?;
    let how = if parsed.torchvision { "torchvision transforms" } else { "the same transforms in plain Python" };
    let rows = parsed.rows.into_iter().map(|r| DataBenchRow { side: "pillow".into(), ..r }).collect();
    Ok((format!("Pillow {} ({python}), {how}, worker processes", parsed.pillow), rows))
}

impl DataBenchReport {
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "### Input pipeline: {} images of {} (mean {:.0}x{:.0}), {} cores\n",
            self.images, self.source, self.mean_width, self.mean_height, self.cores
        );
        let _ = writeln!(s, "| what | workers | layerwise img/s | per worker | Pillow img/s | per worker | ratio |");
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
        let find = |side: &str, what: &str, w: usize| {
            self.rows.iter().find(|r| r.side == side && r.what == what && r.workers == w).map(|r| r.img_per_s)
        };
        let mut keys: Vec<(String, usize)> = self.rows.iter().map(|r| (r.what.clone(), r.workers)).collect();
        keys.dedup();
        keys.sort_by_key(|(what, w)| (["decode", "decode+train", "decode+eval"].iter().position(|x| x == what), *w));
        keys.dedup();
        let cell = |v: Option<f64>, w: usize| {
            v.map_or(("-".into(), "-".into()), |v| (format!("{v:.0}"), format!("{:.0}", v / w as f64)))
        };
        for (what, w) in keys {
            let (ours, theirs) = (find("layerwise", &what, w), find("pillow", &what, w));
            let ((a, a1), (b, b1)) = (cell(ours, w), cell(theirs, w));
            let ratio = ours.zip(theirs).map_or("-".into(), |(o, t)| format!("{:.2}x", o / t));
            let _ = writeln!(s, "| {what} | {w} | {a} | {a1} | {b} | {b1} | {ratio} |");
        }
        let _ = writeln!(s, "\nPillow side: {}", self.pillow);
        s
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("serialisable")
    }
}
