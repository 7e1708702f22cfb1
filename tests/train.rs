//! The trainer on the GPU: one whole greedy step against PyTorch, and short real training runs.

mod common;
mod support;

use std::collections::HashMap;
use std::path::Path;

use common::*;
use layerwise::checkpoint::{block_tensors, Checkpoint, CheckpointMeta, FORMAT};
use layerwise::config::Config;
use layerwise::gpu::PlanBuilder;
use layerwise::model::block::Scratch;
use layerwise::model::{BlockSpec, Model, ModelSpec, Shape};
use layerwise::train::plans::{record_train_body, StepIo, Trains};
use layerwise::train::state::Progress;

/// The PyTorch oracle's `greedy_step`: frozen stage 0 (conv 3->4, BN eval, ReLU) -> space-to-depth ->
/// stage 1 (conv 16->8, BN, ReLU, training) -> k = 3 head (2 x [conv3x3, BN, ReLU] width 6, average to
/// 2x2, BN, linear 24->10) -> cross-entropy; one SGD(0.1, 0.9, 5e-4) step on stage 1 and its head.
/// Every parameter and running statistic after the step must match PyTorch's.
#[test]
fn one_greedy_step_matches_pytorch() {
    let top = "name = \"greedy-step-oracle\"\nmethod = \"greedy\"\nseed = 0\nbatch_size = 4";
    let stages = r#"[[stages]]
width = 4
batchnorm = true
head = { kind = "conv", k = 1 }
[[stages]]
width = 8
downsample = "space-to-depth"
batchnorm = true
head = { kind = "conv", k = 3, width = 6, batchnorm = true }
"#;
    let cfg = Config::from_toml(&support::step_config(top, stages), "test").unwrap();
    let spec = ModelSpec::new(&cfg, Shape::Map { h: 8, w: 8, c: 3 }, 10).unwrap();
    // Our names -> the oracle's: stage 1 has the space-to-depth at index 0, PyTorch's module has none.
    let rename = |ours: &str| -> String {
        ours.replace("stages.0.", "frozen.")
            .replace("stages.1.1.", "stage.0.")
            .replace("stages.1.2.", "stage.1.")
            .replace("heads.1.", "head.")
    };
    both_modes(|g| {
        let mut model = Model::new(g, spec.clone(), 0).unwrap();
        model.train_only(g, 1..2, 1..2).unwrap();
        let blocks = [&model.stages[0], &model.stages[1], &model.heads[1]];
        let mut tensors = HashMap::new();
        for b in blocks {
            for (name, _, _) in b.spec.param_specs().into_iter().chain(b.spec.state_specs()) {
                let (v, shape) = torch(&format!("greedy_step.before.{}", rename(&name)));
                tensors.insert(name, (shape, v.iter().map(|&x| x as f32).collect()));
            }
        }
        let meta = CheckpointMeta {
            format: FORMAT,
            config_name: "oracle".into(),
            adapter: String::new(),
            progress: Progress::default(),
        };
        Checkpoint::from_tensors(meta, tensors).restore_blocks(Path::new("torch vectors"), g, &blocks).unwrap();

        let (x, xs) = torch("greedy_step.x");
        let (labels, _) = torch("greedy_step.labels");
        let x0 = g.tensor_from(&[4, 8, 8, 3], &to_f32(&nchw_to_nhwc(&x, &xs)), "x").unwrap();
        let lab = g.tensor_u32(&[4], "labels").unwrap();
        g.upload_u32(&lab, &labels.iter().map(|&l| l as u32).collect::<Vec<_>>());
        let io = StepIo::new(g).unwrap();
        io.set_lr(g, &cfg, 0.1);
        g.fill(&io.stats, 0.0);
        let specs: Vec<&BlockSpec> = blocks.iter().map(|b| &b.spec).collect();
        let scratch = Scratch::new(g, &specs, 4).unwrap();
        let mut p = PlanBuilder::new(g, "oracle step");
        record_train_body(&mut p, &model, Trains::Stage(1), &x0, &lab, &io, &scratch).unwrap();
        g.run(&[&p.finish().unwrap()]).unwrap();

        let loss = g.download(&io.stats).unwrap()[0];
        assert_close("greedy step loss", &[loss], &torch("greedy_step.loss").0);
        for b in &blocks[1..] {
            for (name, _, v) in block_tensors(g, b, false).unwrap() {
                let (want, _) = torch(&format!("greedy_step.after.{}", rename(&name)));
                assert_close(&format!("{name} after one step (checks={})", g.runtime_checks), &v, &want);
            }
        }
        // The frozen stage is untouched, running statistics included.
        for (name, _, v) in block_tensors(g, &model.stages[0], false).unwrap() {
            let (want, _) = torch(&format!("greedy_step.before.{}", rename(&name)));
            assert_eq!(to_f32(&want), v, "{name} changed though frozen");
        }
    });
}

/// `val_split` holds out a fixed random subset, so a folder dataset sorted by class still validates
/// on every class (holding out the last N would keep only the last classes).
#[test]
fn validation_hold_out_covers_every_class() {
    let tmp = tempfile::tempdir().unwrap();
    for (c, name) in ["apple", "banana", "cherry"].iter().enumerate() {
        let dir = tmp.path().join("train").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..40 {
            let img = image::GrayImage::from_fn(6, 6, |x, y| image::Luma([((x + y) as usize * 7 + i + c * 50) as u8]));
            img.save(dir.join(format!("{i:03}.png"))).unwrap();
        }
    }
    let mut cfg = Config::preset("fmnist-quick").unwrap();
    cfg.dataset = tmp.path().to_str().unwrap().to_string();
    cfg.val_split = 30;
    cfg.batch_size = 8;
    let d = layerwise::train::load_data(&cfg, None).unwrap();
    assert_eq!((d.train.len(), d.val.len()), (90, 30));
    for c in 0..3u8 {
        let n = d.val.in_memory().unwrap().labels.iter().filter(|&&l| l == c).count();
        assert!((5..=15).contains(&n), "class {c} has {n} of the 30 held-out images");
    }
    // A training subset is spread over the classes too.
    let mut small = cfg.clone();
    small.max_train_images = 30;
    let s = layerwise::train::load_data(&small, None).unwrap();
    assert_eq!(s.train.len(), 30);
    assert!(
        (0..3u8).all(|c| s.train.in_memory().unwrap().labels.contains(&c)),
        "{:?}",
        s.train.in_memory().unwrap().labels
    );
    // Fixed: the same split every time, whatever the training seed.
    cfg.seed = 99;
    let again = layerwise::train::load_data(&cfg, None).unwrap();
    assert_eq!(again.val.in_memory().unwrap().labels, d.val.in_memory().unwrap().labels);
    assert_eq!(again.val.in_memory().unwrap().images, d.val.in_memory().unwrap().images);
    // The paper presets' protocol: the test split where there is one, else the same hold-out, said.
    (cfg.val_split, cfg.val_fallback) = (0, 30);
    let fallback = layerwise::train::load_data(&cfg, None).unwrap();
    assert_eq!(
        (fallback.val.in_memory().unwrap().images.clone(), fallback.train.len()),
        (d.val.in_memory().unwrap().images.clone(), 90)
    );
    assert_eq!(fallback.val_name, "30 training images held out at random, as the dataset has no test split");
    cfg.val_fallback = 0;
    let e = layerwise::train::load_data(&cfg, None).err().expect("no test split and no fallback");
    assert!(e.to_string().contains("has no test split"), "{e}");
    std::fs::create_dir_all(tmp.path().join("test").join("apple")).unwrap();
    std::fs::copy(tmp.path().join("train/apple/000.png"), tmp.path().join("test/apple/000.png")).unwrap();
    cfg.val_fallback = 30;
    let test = layerwise::train::load_data(&cfg, None).unwrap();
    assert_eq!((test.train.len(), test.val.len(), test.val_name.as_str()), (120, 1, "test split"));
}

/// Every shipped preset builds its model for its dataset's images (ImageNet-sized ones on 64x64 images),
/// records its training and evaluation steps, and runs a step to a finite loss (widths shrunk 16x so this is
/// quick anywhere).
#[test]
fn every_preset_records_and_runs_a_step() {
    use layerwise::config::{Method, PRESETS};
    use layerwise::train::feed::Feed;
    use layerwise::train::plans::{eval_step, scratch_for, train_step, StepContext};
    let Some(g) = gpu(false) else { return };
    for (name, _) in PRESETS {
        let cfg = Config::preset(name).unwrap().with_widths_divided(16);
        // ImageNet-sized presets on 64x64 images: every resolution change still leaves a map.
        let input = match (cfg.dataset.as_str(), cfg.augment.mean.len()) {
            ("cifar10", _) => Shape::Map { h: 32, w: 32, c: 3 },
            (_, 3) => Shape::Map { h: 64, w: 64, c: 3 },
            _ => Shape::Map { h: 28, w: 28, c: 1 },
        };
        assert_eq!(cfg.augment.mean.len(), input.channels(), "{name}: normalisation channels");
        let mut model = Model::new(g, ModelSpec::new(&cfg, input, 10).unwrap(), 0).unwrap();
        let batch = 4;
        let mut feed = Feed::new(g, batch, input.len()).unwrap();
        let data = layerwise::data::Dataset {
            images: (0..batch * input.len()).map(|i| (i * 7 % 251) as u8).collect(),
            labels: vec![1, 2, 3, 4],
            height: if let Shape::Map { h, .. } = input { h } else { 0 },
            width: if let Shape::Map { w, .. } = input { w } else { 0 },
            channels: input.channels(),
            classes: (0..10).map(|i| i.to_string()).collect(),
            source: "synthetic".into(),
        };
        feed.load(g, &data, &[0, 1, 2, 3]);
        let io = StepIo::new(g).unwrap();
        io.set_lr(g, &cfg, 0.01);
        let last = model.stages.len() - 1;
        let scratch = scratch_for(g, &model, last, batch).unwrap();
        let trains = if cfg.method == Method::E2e { Trains::All } else { Trains::Stage(last) };
        match trains {
            Trains::All => model.train_only(g, 0..last + 1, last..last + 1).unwrap(),
            _ => model.train_only(g, last..last + 1, last..last + 1).unwrap(),
        }
        let ctx = StepContext { gpu: g, cfg: &cfg, model: &model, io: &io, scratch: &scratch };
        // The deepest greedy step exercises every frozen stage in evaluation mode.
        let plan = train_step(&ctx, &feed, trains).unwrap();
        g.fill(&io.stats, 0.0);
        g.run(&[&plan]).unwrap();
        let loss = g.download(&io.stats).unwrap()[0];
        assert!(loss.is_finite() && loss > 0.0, "{name}: loss {loss}");
        let heads: Vec<usize> = (0..=last).collect();
        let eval = eval_step(&ctx, &feed, last, &heads).unwrap();
        g.run(&[&eval.plan]).unwrap();
        g.wait().unwrap();
    }
}

/// A row cache split into chunks (as caches larger than one storage binding are) stores batches at
/// their dataset indices and gives back exactly those rows, for batches that straddle chunks.
#[test]
fn row_cache_round_trips_across_chunks() {
    use layerwise::train::prefix_cache::RowCache;
    both_modes(|g| {
        let mut rng = Rng::new(5);
        let (rows, row, batch) = (37, [3usize, 5], 16);
        let len = 15;
        let data = rng.normals(rows * len);
        let cache = RowCache::with_chunk_rows(g, rows, &row, 8, "test cache").unwrap();
        let ids = g.tensor_u32(&[batch], "ids").unwrap();
        let valid = g.tensor_u32(&[1], "valid").unwrap();
        let src = g.tensor(&[batch, 3, 5], "src").unwrap();
        let dst = g.tensor(&[batch, 3, 5], "dst").unwrap();
        // Fill the cache in dataset order, a short last batch included.
        let mut store = PlanBuilder::new(g, "store");
        cache.record_scatter(&mut store, &src, &ids, &valid).unwrap();
        let store = store.finish().unwrap();
        for start in (0..rows).step_by(batch) {
            let n = batch.min(rows - start);
            let mut block = to_f32(&data[start * len..(start + n) * len]);
            block.resize(batch * len, f32::NAN);
            g.upload(&src, &block);
            let mut id: Vec<u32> = (start as u32..(start + n) as u32).collect();
            id.resize(batch, 0);
            g.upload_u32(&ids, &id);
            g.upload_u32(&valid, &[n as u32]);
            g.run(&[&store]).unwrap();
        }
        // Read a shuffled batch back: rows below `valid` are the stored rows, the rest stay poisoned.
        let mut load = PlanBuilder::new(g, "load");
        cache.record_gather(&mut load, &ids, &valid, &dst).unwrap();
        let load = load.finish().unwrap();
        let mut perm: Vec<u32> = (0..rows as u32).collect();
        for i in (1..rows).rev() {
            perm.swap(i, rng.range(0, i));
        }
        let (pick, n_valid) = (&perm[..batch], 13);
        g.upload_u32(&ids, pick);
        g.upload_u32(&valid, &[n_valid as u32]);
        g.fill(&dst, f32::NAN);
        g.run(&[&load]).unwrap();
        let got = g.download(&dst).unwrap();
        for (r, &i) in pick.iter().enumerate() {
            let row_got = &got[r * len..(r + 1) * len];
            if r < n_valid {
                assert_eq!(
                    row_got,
                    &to_f32(&data[i as usize * len..(i as usize + 1) * len])[..],
                    "row {r} (dataset row {i})"
                );
            } else {
                assert!(row_got.iter().all(|v| v.is_nan()), "padding row {r} was written");
            }
        }
    });
}

/// A checkpoint's format is checked before anything else is read from it: a newer or unknown one is a
/// clear error naming the file, never a half-read run.
#[test]
fn checkpoint_of_another_format_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, meta: &str| {
        let path = tmp.path().join(name);
        let bytes = 0f32.to_le_bytes();
        let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1], &bytes).unwrap();
        let info = HashMap::from([("layerwise".to_string(), meta.to_string())]);
        std::fs::write(&path, safetensors::serialize([("x", view)], Some(info)).unwrap()).unwrap();
        path
    };
    let progress = serde_json::to_string(&Progress::default()).unwrap();
    let meta = |format: &str| format!(r#"{{{format}"config_name":"c","adapter":"a","progress":{progress}}}"#);
    let ok = write("ok.safetensors", &meta(&format!(r#""format":{FORMAT},"#)));
    assert_eq!(Checkpoint::read(&ok).unwrap().meta.format, FORMAT);
    for (name, format, needle) in [
        ("newer.safetensors", format!(r#""format":{},"#, FORMAT + 1), "was written by a newer layerwise"),
        ("zero.safetensors", r#""format":0,"#.to_string(), "unknown checkpoint format 0"),
        ("none.safetensors", String::new(), "no checkpoint format"),
    ] {
        let path = write(name, &meta(&format));
        let e = Checkpoint::read(&path).err().expect("refused").to_string();
        assert!(e.contains(needle) && e.contains(name), "{name}: {e}");
    }
    // A newer format is refused even when the rest of its metadata no longer parses.
    let path = write("changed.safetensors", &format!(r#"{{"format":{},"progress":"elsewhere"}}"#, FORMAT + 1));
    assert!(Checkpoint::read(&path).err().unwrap().to_string().contains("newer layerwise"));
}

/// Checkpoints convert layouts by integer index, exact for any size: a conv weight of 2048 -> 1024
/// channels (18.9M elements) and a linear layer after a flatten (32.8M), both past 2^24 (where an f32
/// index stops being exact), go to PyTorch's layout with every element where PyTorch keeps it, and
/// back unchanged, bit for bit. CPU only.
#[test]
fn checkpoint_layouts_round_trip_tensors_past_2_pow_24() {
    use layerwise::checkpoint::{from_torch, to_torch};
    use layerwise::model::Layer;
    let conv = BlockSpec::new(
        "stages.3".into(),
        Shape::Map { h: 8, w: 8, c: 2048 },
        vec![Layer::Conv { cin: 2048, cout: 1024, k: 3, bias: false }],
    )
    .unwrap();
    let (c, h, w) = (8192, 2, 2);
    let linear = BlockSpec::new(
        "heads.3".into(),
        Shape::Map { h, w, c },
        vec![Layer::Flatten, Layer::Linear { inputs: h * w * c, outputs: 1000, bias: true }],
    )
    .unwrap();
    for (spec, li, shape, want_shape) in [
        (&conv, 0, vec![1024, 3, 3, 2048], vec![1024, 2048, 3, 3]),
        (&linear, 1, vec![1000, h * w * c], vec![1000, h * w * c]),
    ] {
        let len: usize = shape.iter().product();
        assert!(len > 1 << 24, "{len} elements");
        // Distinct values: element k holds the float whose bits are k.
        let ours: Vec<f32> = (0..len as u32).map(f32::from_bits).collect();
        let (ts, torch) = to_torch(spec, li, &ours, &shape);
        assert_eq!(ts, want_shape);
        let at = |v: &[f32], k: usize| v[k].to_bits() as usize;
        if li == 0 {
            // PyTorch's [o][i][kh][kw] holds our [o][kh][kw][i].
            for (o, i, y, x) in [(0, 0, 0, 0), (1023, 2047, 2, 2), (517, 1999, 1, 2), (1023, 0, 2, 1)] {
                assert_eq!(at(&torch, ((o * 2048 + i) * 3 + y) * 3 + x), ((o * 3 + y) * 3 + x) * 2048 + i);
            }
        } else {
            // PyTorch flattens (c, h, w), we flatten (h, w, c).
            let f = h * w * c;
            for (o, ch, y, x) in [(0, 0, 0, 0), (999, 8191, 1, 1), (613, 4097, 0, 1), (999, 0, 1, 0)] {
                assert_eq!(at(&torch, o * f + (ch * h + y) * w + x), o * f + (y * w + x) * c + ch);
            }
        }
        let back = from_torch(spec, li, &torch, &shape);
        assert!(back.iter().zip(&ours).all(|(a, b)| a.to_bits() == b.to_bits()), "round trip of {}", spec.name);
    }
}

/// The ensemble sums what `ensemble` says, each head weighted 2^j / (sum of 2^i): softmax probabilities
/// ("softmax", paper 1's ImageNet code) or raw logits ("logits", its CIFAR code). The evaluation's
/// scores for two heads against the CPU references fed with each head's own logits.
#[test]
fn ensemble_sums_probabilities_or_logits_as_configured() {
    use layerwise::reference;
    use layerwise::train::feed::Feed;
    use layerwise::train::plans::{record_eval_stages, scratch_for, EvalHeads, StepContext};
    let Some(g) = gpu(false) else { return };
    let stages = r#"[[stages]]
width = 4
batchnorm = true
head = { kind = "conv", k = 1, batchnorm = true }
[[stages]]
width = 6
downsample = "space-to-depth"
batchnorm = true
head = { kind = "conv", k = 2, width = 5, batchnorm = true }
"#;
    let (n, k, input) = (5, 10, Shape::Map { h: 8, w: 8, c: 3 });
    let data = layerwise::data::Dataset {
        images: (0..n * input.len()).map(|i| (i * 37 % 253) as u8).collect(),
        labels: vec![0, 3, 5, 7, 9],
        height: 8,
        width: 8,
        channels: 3,
        classes: (0..k).map(|i| i.to_string()).collect(),
        source: "synthetic".into(),
    };
    let mut all = Vec::new();
    for mode in ["softmax", "logits"] {
        let top =
            format!("name = \"ensemble\"\nmethod = \"greedy\"\nseed = 2\nbatch_size = {n}\nensemble = \"{mode}\"");
        let cfg = Config::from_toml(&support::step_config(&top, stages), "test").unwrap();
        let model = Model::new(g, ModelSpec::new(&cfg, input, k).unwrap(), cfg.seed).unwrap();
        let mut feed = Feed::new(g, n, input.len()).unwrap();
        feed.load(g, &data, &(0..n as u32).collect::<Vec<_>>());
        let io = StepIo::new(g).unwrap();
        let scratch = scratch_for(g, &model, 1, n).unwrap();
        let ctx = StepContext { gpu: g, cfg: &cfg, model: &model, io: &io, scratch: &scratch };
        // Each head's logits on its own.
        let logits: Vec<_> = (0..2).map(|_| g.tensor(&[n, k], "head logits").unwrap()).collect();
        let mut p = PlanBuilder::new(g, "heads");
        for (j, l) in logits.iter().enumerate() {
            let x = record_eval_stages(&mut p, &ctx, &feed, j + 1, None).unwrap();
            model.heads[j].forward_eval(&mut p, &x, &scratch, Some(l)).unwrap();
        }
        // The evaluation's ensemble of both.
        let scores = g.tensor(&[n, k], "scores").unwrap();
        let counts: Vec<_> = (0..2).map(|_| g.tensor(&[2], "count").unwrap()).collect();
        let heads = EvalHeads { heads: &[0, 1], ensemble: &[0, 1], scores: &scores, counts: &counts, prefixes: false };
        record_eval_stages(&mut p, &ctx, &feed, 2, Some(&heads)).unwrap();
        g.run(&[&p.finish().unwrap()]).unwrap();
        let mut want = vec![0.0; n * k];
        for (j, l) in logits.iter().enumerate() {
            let l: Vec<f64> = g.download(l).unwrap().iter().map(|&v| v as f64).collect();
            let w = [1.0 / 3.0, 2.0 / 3.0][j];
            match mode {
                "softmax" => reference::softmax_accumulate(&l, &mut want, w, n, k),
                _ => reference::logits_accumulate(&l, &mut want, w, n, k),
            }
        }
        let got = g.download(&scores).unwrap();
        assert_close(&format!("{mode} ensemble"), &got, &want);
        all.push(got);
    }
    assert!(all[0].iter().sum::<f32>() > 0.99 * n as f32, "softmax scores of each row sum to 1");
    assert_ne!(all[0], all[1]);
}

/// `optimizer.restart_momentum`: a new SGD at every LR step. With one step per epoch and a step every
/// epoch, every update then starts from zero momentum, which makes momentum 0.9 train exactly as
/// momentum 0 does (PyTorch's first step sets the buffer to the gradient); without the restart it
/// differs. Greedy, end to end and synchronous DGL, through the binary.
#[test]
fn momentum_restarts_at_every_lr_step() {
    if gpu(false).is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let stages = r#"[[stages]]
width = 4
downsample = "maxpool"
batchnorm = true
head = { kind = "mlp-sr", convs = 1, mlp = 1 }

[[stages]]
width = 6
downsample = "maxpool"
batchnorm = true
head = { kind = "conv", k = 2, width = 4, batchnorm = true }
"#;
    // Every parameter and running statistic, momentum buffers left out.
    let params = |dir: &Path| -> Vec<Vec<f32>> {
        let c = support::checkpoint(dir);
        c.names().iter().filter(|n| !n.starts_with("momentum.")).map(|n| c.tensor(n).unwrap().1.clone()).collect()
    };
    for method in ["greedy", "e2e", "dgl"] {
        let run = |name: &str, momentum: f64, restart: bool| {
            let top = format!(
                "name = \"{name}\"\nmethod = \"{method}\"\nmax_train_images = 32\nmax_val_images = 50\nbatch_size = 32"
            );
            let sgd = format!(
                "[optimizer]\nlr = 0.05\nmomentum = {momentum:?}\nweight_decay = 5e-4\nlr_decay = 0.5\nlr_step = 1\nrestart_momentum = {restart}\n"
            );
            let cfg = support::write_config(tmp.path(), name, &support::fmnist_config(&top, &sgd, stages));
            let out = tmp.path().join(format!("{method}-{name}"));
            support::train(&cfg, &out, &["--set", "epochs=3"]);
            out
        };
        let restarted = run("restarted", 0.9, true);
        let plain = run("plain", 0.0, false);
        let kept = run("kept", 0.9, false);
        assert_eq!(
            support::timeless(support::records(&restarted)),
            support::timeless(support::records(&plain)),
            "{method}"
        );
        assert!(params(&restarted) == params(&plain), "{method}: restarted momentum 0.9 differs from momentum 0");
        assert!(params(&restarted) != params(&kept), "{method}: restarting momentum changed nothing");
    }
}

/// The default preset trains greedy stages from cached features; the other methods, which freeze no
/// prefix, run it unchanged instead of refusing `cache.train`.
#[test]
fn default_preset_runs_with_every_method() {
    use layerwise::config::Method;
    let base = Config::preset("fmnist-quick").unwrap();
    assert!(base.cache.train && base.augment.pad == 0 && !base.augment.flip);
    for m in [Method::Greedy, Method::E2e, Method::Dgl, Method::DglAsync] {
        let cfg = Config { method: m, ..base.clone() };
        cfg.validate().unwrap_or_else(|e| panic!("{m:?}: {e}"));
    }
    let augmented = Config { augment: Config::preset("dgl-fmnist").unwrap().augment, ..base };
    assert!(augmented.validate().unwrap_err().to_string().contains("cache.train needs augmentation off"));
}
