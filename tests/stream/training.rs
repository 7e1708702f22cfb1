//! The trainer reading the streaming pipeline: a tiny ImageNet-style folder (`train/<class>/`,
//! `val/<class>/`, photos of assorted sizes) trained greedily, end to end and with DGL through `[stream]`,
//! a greedy run killed mid-epoch that resumes to the uninterrupted result bit for bit, a streamed batch
//! split over two devices (data parallel) as into two micro-batches, and an epoch read
//! through the trainer's feed with the pipeline's memory bounded by its queue, not the dataset.

use std::path::{Path, PathBuf};
use std::time::Duration;

use layerwise::data::stream::{EpochPlan, ImageList, ListOptions, PipelineOptions};
use layerwise::train::feed::Feed;
use layerwise::train::source::{stream_split, Split};

use crate::{common, support};
use crate::{pattern, save, small_eval, small_train};

/// `root/train/<class>/*` (3 classes x 12 images) and `root/val/<class>/*` (3 x 3), JPEG and PNG, every
/// size and aspect ratio different; each class its own colour pattern so a tiny net can learn something.
fn imagenet_tree(root: &Path) {
    let sizes = [(40, 30), (23, 57), (64, 64), (17, 9), (50, 21), (33, 33), (90, 40), (12, 80), (31, 29)];
    let mut k = 0;
    for (split, n) in [("train", 12), ("val", 3)] {
        for (c, class) in ["n01", "n02", "n03"].iter().enumerate() {
            for i in 0..n {
                let (w, h) = sizes[k % sizes.len()];
                let ext = if k % 4 == 3 { "png" } else { "JPEG" };
                save(&root.join(split).join(class).join(format!("{i}.{ext}")), &pattern((c * 80 + i) as u8, w, h));
                k += 1;
            }
        }
    }
}

/// A two-stage greedy net on the tree at `data`: 12x12 crops (resize 14 for evaluation), batch 6 (6 steps
/// an epoch), 2 epochs per stage, a checkpoint at every step so that a kill lands mid-epoch.
fn stream_config(dir: &Path, data: &Path, method: &str) -> PathBuf {
    let toml = format!(
        r#"name = "streamed"
method = "{method}"
dataset = "{}"
seed = 3
batch_size = 6
epochs = 2
checkpoint_minutes = 0.000001

[optimizer]
lr = 0.05
momentum = 0.9
weight_decay = 5e-4
lr_decay = 0.2
lr_step = 1

[augment]
pad = 0
flip = false
mean = [0.485, 0.456, 0.406]
std = [0.229, 0.224, 0.225]

[stream]
size = 12
resize = 14
workers = 2
prefetch = 2

[[stages]]
width = 4
batchnorm = true
head = {{ kind = "conv", k = 1, batchnorm = true }}

[[stages]]
width = 8
downsample = "space-to-depth"
batchnorm = true
head = {{ kind = "conv", k = 2, width = 8, batchnorm = true }}
{}"#,
        data.display(),
        if method.starts_with("dgl") { "\n[dgl]\n" } else { "" }
    );
    support::write_config(dir, method, &toml)
}

fn setup() -> Option<(tempfile::TempDir, PathBuf)> {
    common::gpu(false)?;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("tree");
    imagenet_tree(&data);
    Some((tmp, data))
}

#[test]
fn a_streamed_greedy_run_killed_mid_epoch_resumes_exactly() {
    let Some((tmp, data)) = setup() else { return };
    let cfg = stream_config(tmp.path(), &data, "greedy");
    let reference = tmp.path().join("reference");
    support::train(&cfg, &reference, &[]);
    let records = support::records(&reference);
    assert_eq!(records.len(), 4, "2 stages x 2 epochs");
    for r in &records {
        let wait = r.data_wait.expect("a streamed epoch records its wait for data");
        assert!(wait >= 0.0 && wait <= r.seconds + 1e-6, "waited {wait} s of a {} s epoch", r.seconds);
        assert_eq!(r.val_acc.len(), r.stage + 1);
    }
    // The data record fingerprints the listing, never a copy of the pixels.
    let record = std::fs::read_to_string(reference.join("data.json")).unwrap();
    assert!(record.contains("\"image-stream\"") && record.contains("\"train_images\": 36"), "{record}");

    // Killed after a checkpoint in the middle of stage 0's first epoch, then resumed: the pipeline
    // starts that epoch again at the next batch, with the same crops, so the run ends bitwise equal.
    let killed = tmp.path().join("killed");
    let at = support::kill_and_resume(&cfg, &killed, Duration::from_secs(300), |p| p.stage == 0 && p.step >= 2);
    assert!(at.stage == 0 && at.epoch == 0 && at.step >= 2 && at.step < 6, "killed at {at:?}, not mid-epoch");
    support::assert_same_results(&reference, &killed, "a streamed run killed mid-epoch and resumed");
    // The resumed epoch's wait for data counts the wait before the kill too; the CSV carries it.
    let wait = support::records(&killed)[0].data_wait.unwrap();
    assert!(wait >= at.epoch_data_wait, "resumed epoch waited {wait} s, {} s before the kill", at.epoch_data_wait);
    let csv = std::fs::read_to_string(killed.join("metrics.csv")).unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().ends_with(",data_wait"), "{csv}");
    assert!(lines.all(|l| l.rsplit(',').next().unwrap().parse::<f64>().is_ok()), "{csv}");
}

#[test]
fn every_method_trains_from_a_stream_and_reports_it() {
    let Some((tmp, data)) = setup() else { return };
    for method in ["e2e", "dgl", "dgl-async"] {
        let cfg = stream_config(tmp.path(), &data, method);
        let out = tmp.path().join(method);
        support::train(&cfg, &out, &["--set", "epochs=1"]);
        let records = support::records(&out);
        assert!(!records.is_empty(), "{method}: no epoch recorded");
        assert!(records.iter().any(|r| r.data_wait.is_some()), "{method}: no data wait recorded");
        assert!(records.iter().all(|r| r.train_loss.is_finite()), "{method}: {records:?}");
        if method == "dgl" {
            // Stage 0's lane on a second logical device reads the same batches: the same run.
            let two = tmp.path().join("dgl-two-devices");
            support::train(&cfg, &two, &["--set", "epochs=1", "--set", "dgl.devices=[0, 0]"]);
            support::assert_same_results(&out, &two, "streamed DGL on two devices vs one");
        }
    }
    // The report reads a few validation images through the pipeline's evaluation transform.
    let run = tmp.path().join("e2e");
    let o = support::run(&["viz", run.to_str().unwrap()]);
    assert!(o.status.success(), "{}", support::text(&o));
    assert!(run.join("report.html").is_file());
    // So does evaluation, on the run's own streamed validation split.
    let o = support::run(&["eval", run.to_str().unwrap()]);
    assert!(o.status.success() && support::text(&o).contains("9 images"), "{}", support::text(&o));
}

#[test]
fn a_streamed_batch_splits_over_two_devices_as_into_two_micro_batches() {
    let Some((tmp, data)) = setup() else { return };
    let cfg = stream_config(tmp.path(), &data, "greedy");
    let two = tmp.path().join("two");
    support::train(&cfg, &two, &["--set", "epochs=1", "--devices", "0,0"]);
    let accum = tmp.path().join("accum");
    support::train(&cfg, &accum, &["--set", "epochs=1", "--set", "grad_accum=2"]);
    // Device d gets the streamed batch's rows 3d..3d+3, as micro-batch d does, each normalised with its
    // own statistics: stage 0 and its head end bitwise alike (the running statistics are device 0's).
    let (a, b) = (support::checkpoint(&two), support::checkpoint(&accum));
    let stage0 = |n: &String| (n.starts_with("stages.0.") || n.starts_with("heads.0.")) && !n.contains("running_");
    let names: Vec<String> = a.names().into_iter().filter(stage0).collect();
    assert!(names.len() >= 4, "{names:?}");
    for n in &names {
        assert!(a.tensor(n) == b.tensor(n), "{n}: two devices vs two micro-batches of a streamed batch");
    }
}

#[test]
fn bad_stream_configs_are_refused_before_training() {
    let Some((tmp, data)) = setup() else { return };
    let cfg = stream_config(tmp.path(), &data, "greedy");
    let out = tmp.path().join("refused");
    let (c, o) = (cfg.to_str().unwrap(), out.to_str().unwrap());
    let cases = [
        ("stream.resize=10", "stream.resize (10) must be at least stream.size (12)"),
        ("stream.scale=[0.5, 0.2]", "stream.scale must satisfy"),
        ("cache.train=true", "cache.train cannot be used with [stream]"),
        ("batch_size=64", "batch_size 64 is larger than the 36 training images"),
    ];
    for (set, needle) in cases {
        let r = support::run(&["train", "--quiet", "--no-report", "--config", c, "--out", o, "--set", set]);
        support::expect_fail(&r, 2, needle);
        assert!(!out.exists(), "a refused run left {o} behind");
    }
    let missing = tmp.path().join("nowhere");
    let cfg = stream_config(tmp.path(), &missing, "greedy");
    let r = support::run(&["train", "--quiet", "--no-report", "--config", cfg.to_str().unwrap(), "--out", o]);
    support::expect_fail(&r, 2, "no such folder or file");
}

#[test]
fn a_streamed_epoch_through_the_feed_holds_a_bounded_number_of_batches() {
    let Some((tmp, data)) = setup() else { return };
    let gpu = common::gpu(false).unwrap();
    let opts = ListOptions { split: Some("train".into()), ..Default::default() };
    let list = ImageList::open(&[data], &opts).unwrap();
    let labels: Vec<u32> = list.entries.iter().map(|e| e.label).collect();
    // 36 images in batches of 2: 18 batches through a queue of 2.
    let options = PipelineOptions { batch: 2, workers: 2, prefetch: 2, transform: small_train() };
    let split = stream_split(list, options).unwrap();
    assert!(matches!(split, Split::Stream(_)) && split.len() == 36);
    let mut feed = Feed::new(gpu, 2, 16 * 16 * 3).unwrap();
    let plan = EpochPlan::shuffled(36, 11);
    let order = plan.order.clone();
    let mut batches = split.epoch(plan, 2).unwrap();
    for b in 0..18 {
        batches.load(gpu, &mut feed, b).unwrap();
        let (l, ids) = feed.loaded();
        assert_eq!(ids, &order[2 * b..2 * b + 2], "batch {b}: the epoch's order");
        assert_eq!(l, [labels[ids[0] as usize], labels[ids[1] as usize]], "batch {b}: labels follow the images");
    }
    let stats = batches.stats().expect("a streamed epoch has pipeline statistics");
    assert!(stats.allocated <= 2 + 1, "{} batch buffers for a queue of 2 and one held", stats.allocated);
    // Skipping ahead (a resumed epoch) reads on from there; the evaluation transform gives a sample.
    let mut batches = split.epoch(EpochPlan::shuffled(36, 11).from_batch(5), 2).unwrap();
    batches.load(gpu, &mut feed, 7).unwrap();
    assert_eq!(feed.loaded().1, &order[14..16]);
    let eval_list =
        ImageList::open(&[tmp.path().join("tree")], &ListOptions { split: Some("val".into()), ..Default::default() });
    let eval = stream_split(
        eval_list.unwrap(),
        PipelineOptions { batch: 4, workers: 1, prefetch: 1, transform: small_eval() },
    );
    let sample = eval.unwrap().sample(&[8, 0, 3]).unwrap();
    assert_eq!((sample.len(), sample.images.len(), sample.labels.clone()), (3, 3 * 16 * 16 * 3, vec![2, 0, 1]));
}
