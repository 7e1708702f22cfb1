//! Decoupled greedy learning: the replay buffer's sampling and the async schedule (host logic), one
//! DGL step against greedy steps of each stage (no gradient crosses stages), and short real runs on
//! Fashion-MNIST through the binary: learning, kill -9 and resume, seeded async runs, and stages
//! spread over two logical devices (lavapipe opened twice).

mod common;
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use layerwise::checkpoint::block_tensors;
use layerwise::config::{Config, DglConfig};
use layerwise::gpu::{Gpu, PlanBuilder};
use layerwise::metrics::EpochRecord;
use layerwise::model::block::Scratch;
use layerwise::model::{BlockSpec, Layer, Model, ModelSpec, Shape};
use layerwise::train::plans::{record_dgl_body, record_train_body, StepIo, Trains};
use layerwise::train::replay::{ReplayBuffer, Schedule, Store};
use layerwise::train::state::Progress;
use support::{bin, checkpoint, fmnist_config, sgd, text, timeless, train};

// ---------------------------------------------------------------- host logic

#[test]
fn replay_buffer_samples_priority_lifo() {
    let mut b = ReplayBuffer::new(3, 0);
    assert_eq!(b.sample(), None, "empty buffer");
    assert_eq!((b.insert(), b.insert()), (0, 1));
    // Both unused: the newest first, then the other one (now the only unused entry).
    assert_eq!(b.sample(), Some(1));
    assert_eq!(b.sample(), Some(0));
    // Both used once: the newest again.
    assert_eq!(b.sample(), Some(1));
    assert_eq!((b.uses(0), b.uses(1), b.uses(2)), (Some(1), Some(2), None));
    // A fresh entry beats every used one.
    assert_eq!(b.insert(), 2);
    assert_eq!(b.sample(), Some(2));
    assert!(b.is_full());
    // Full: the oldest entry (slot 0) is overwritten, whatever its use count.
    assert_eq!(b.insert(), 0);
    assert_eq!(b.uses(0), Some(0));
    assert_eq!(b.sample(), Some(0));
    assert_eq!(b.len(), 3);

    // max_reuse = 2: an entry leaves after its second use and its slot is the next one filled.
    let mut b = ReplayBuffer::new(2, 2);
    b.insert();
    b.insert();
    assert_eq!([b.sample(), b.sample(), b.sample()], [Some(1), Some(0), Some(1)]);
    assert_eq!((b.len(), b.uses(1)), (1, None), "slot 1 used twice and dropped");
    assert_eq!(b.sample(), Some(0));
    assert!(b.is_empty());
    assert_eq!(b.sample(), None);
    assert_eq!(b.insert(), 0);
}

fn dgl_cfg(buffer: usize, reuse: usize, slowdown: &[f64]) -> DglConfig {
    DglConfig { buffer_size: buffer, max_reuse: reuse, slowdown: slowdown.to_vec(), devices: Vec::new() }
}

#[test]
fn async_schedule_warms_up_slows_down_and_is_seeded() {
    // Three stages, buffers of 4, stage 2 skipping half its ticks.
    let cfg = dgl_cfg(4, 0, &[0.0, 0.0, 0.5]);
    let run = |seed: u64| {
        let mut s = Schedule::new(3, &cfg, seed, 0);
        let mut ticks = Vec::new();
        let mut batch = 0;
        for _ in 0..400 {
            let t = s.next_tick(batch);
            batch += t.iter().filter(|a| a.stage == 0).count();
            ticks.push(t);
        }
        (ticks, s)
    };
    let (a, s) = run(7);
    assert_eq!(a, run(7).0, "same seed, same schedule");
    assert_ne!(a, run(8).0, "another seed, another schedule");
    let runs = |j: usize| a.iter().flatten().filter(|x| x.stage == j).count();
    // Stage 0 and 1 run every tick once started; stage 1 waits for its buffer of 4 to fill.
    assert_eq!(runs(0), 400);
    assert!(a[..3].iter().all(|t| t.len() == 1), "warm-up: only stage 0 for the first 3 ticks");
    assert_eq!(a[3].iter().map(|x| x.stage).collect::<Vec<_>>(), vec![0, 1], "stage 1 starts once 4 batches wait");
    assert_eq!(runs(1), 397);
    // Stage 2 starts once stage 1 has filled its buffer, then runs about half the time.
    let first2 = a.iter().position(|t| t.iter().any(|x| x.stage == 2)).unwrap();
    assert!(first2 >= 6, "stage 2 ran at tick {first2}, before its buffer could fill");
    let r2 = runs(2) as f64 / (400 - first2) as f64;
    assert!((0.4..0.6).contains(&r2), "stage 2 ran {r2:.2} of its ticks, slowdown 0.5");
    // Without slowdown, stage 1 trains on what stage 0 produced in the same tick (LIFO).
    for t in &a[3..] {
        if let (Some(Store::Slot(k)), Some(x1)) = (t[0].store, t.iter().find(|x| x.stage == 1)) {
            assert_eq!(x1.load, Some(k), "tick {}", x1.tick);
        }
    }
    assert!(!s.warming_up(2) && s.buffer(1).is_full() && s.tick() == 400);
    // Stage 0's batches are handed out in order, one per tick it runs.
    let batches: Vec<usize> = a.iter().flatten().filter_map(|x| x.batch).collect();
    assert_eq!(batches, (0..400).collect::<Vec<_>>());
    // Continuing from a saved state gives the same ticks (with emptied buffers: a new warm-up).
    let mut again = Schedule::new(3, &cfg, s.rng_state(), s.tick());
    assert!(again.warming_up(1) && again.buffer(1).is_empty());
    assert_eq!(again.next_tick(400)[0].tick, 400);

    // max_reuse = 1 with a slowed producer: the consumer idles rather than reuse a batch.
    let mut s = Schedule::new(2, &dgl_cfg(2, 1, &[0.7, 0.0]), 1, 0);
    let (mut made, mut used, mut batch) = (0, 0, 0);
    for _ in 0..500 {
        for x in s.next_tick(batch) {
            if x.stage == 0 {
                made += 1;
                batch += 1;
            } else {
                used += 1;
            }
        }
    }
    assert!(used <= made && used + 2 >= made, "each batch used at most once: made {made}, used {used}");
    assert!((100..200).contains(&made), "stage 0 ran {made} of 500 ticks at slowdown 0.7");
}

// ---------------------------------------------------------------- one step on the GPU

/// Stage 0 without batchnorm (so the greedy step's frozen evaluation-mode forward equals DGL's
/// training-mode one), stage 1 with a max-pool, batchnorm and an MLP-SR head that averages its 4x4 map
/// to 1x1 and back up to 2x2.
fn step_cfg() -> Config {
    let top = "name = \"dgl-step\"\nmethod = \"dgl\"\nseed = 5\nbatch_size = 6";
    let stages = r#"[[stages]]
width = 5
batchnorm = false
head = { kind = "mlp-sr", convs = 1, mlp = 1 }
[[stages]]
width = 7
downsample = "maxpool"
batchnorm = true
head = { kind = "mlp-sr", convs = 1, mlp = 2 }
"#;
    Config::from_toml(&support::step_config(top, stages), "test").unwrap()
}

fn tensors_of(g: &Gpu, blocks: &[&layerwise::model::block::Block]) -> Vec<(String, Vec<f32>)> {
    blocks.iter().flat_map(|b| block_tensors(g, b, true).unwrap()).map(|(n, _, v)| (n, v)).collect()
}

/// One synchronous DGL step over two stages must update stage 0 + head 0 exactly as a greedy step of
/// stage 0 does, and stage 1 + head 1 exactly as a greedy step of stage 1 on the (not yet updated)
/// stage 0 does: bitwise, running statistics and momentum included. Any gradient crossing from stage
/// 1 into stage 0 would change stage 0's result.
#[test]
fn dgl_step_equals_a_greedy_step_of_each_stage() {
    let cfg = step_cfg();
    let spec = ModelSpec::new(&cfg, Shape::Map { h: 8, w: 8, c: 3 }, 10).unwrap();
    assert_eq!(spec.heads[1].layers[0], Layer::AvgPool { oh: 1, ow: 1 });
    let n = cfg.batch_size;
    let mut rng = Rng::new(11);
    let x = to_f32(&rng.normals(n * 8 * 8 * 3));
    let labels: Vec<u32> = (0..n).map(|_| rng.range(0, 9) as u32).collect();
    both_modes(|g| {
        let greedy = Model::new(g, spec.clone(), cfg.seed).unwrap();
        let dgl = Model::new(g, spec.clone(), cfg.seed).unwrap();
        let initial = Model::new(g, spec.clone(), cfg.seed).unwrap();
        let x0 = g.tensor_from(&[n, 8, 8, 3], &x, "x0").unwrap();
        let lab = g.tensor_u32(&[n], "labels").unwrap();
        g.upload_u32(&lab, &labels);
        let specs: Vec<&BlockSpec> = spec.stages.iter().chain(&spec.heads).collect();
        let scratch = Scratch::new(g, &specs, n).unwrap();
        // Each greedy step and each DGL stage with step values of its own (SGD hyper-parameters, loss sums).
        let io: Vec<StepIo> = (0..2).map(|_| StepIo::new(g).unwrap()).collect();
        let dgl_io: Vec<StepIo> = (0..2).map(|_| StepIo::new(g).unwrap()).collect();
        for i in io.iter().chain(&dgl_io) {
            i.set_lr(g, &cfg, 0.1);
            g.fill(&i.stats, 0.0);
        }

        // Greedy: stage 1 on the frozen, initial stage 0; then stage 0 with its own head.
        for j in [1, 0] {
            let mut p = PlanBuilder::new(g, format!("greedy stage {j}"));
            record_train_body(&mut p, &greedy, Trains::Stage(j), &x0, &lab, &io[j], &scratch).unwrap();
            g.run(&[&p.finish().unwrap()]).unwrap();
        }
        let mut p = PlanBuilder::new(g, "dgl step");
        record_dgl_body(&mut p, &dgl, &x0, &lab, &dgl_io, &scratch).unwrap();
        g.run(&[&p.finish().unwrap()]).unwrap();

        for j in 0..2 {
            let want = tensors_of(g, &[&greedy.stages[j], &greedy.heads[j]]);
            let got = tensors_of(g, &[&dgl.stages[j], &dgl.heads[j]]);
            let before = tensors_of(g, &[&initial.stages[j], &initial.heads[j]]);
            for (((name, w), (_, v)), (_, b)) in want.iter().zip(&got).zip(&before) {
                assert!(
                    w == v,
                    "{name} after one DGL step differs from the greedy step of stage {j} (checks={})",
                    g.runtime_checks
                );
                if !name.contains("running_var") {
                    assert!(w != b, "{name} did not change in one step");
                }
            }
            assert_eq!(
                g.download(&dgl_io[j].stats).unwrap(),
                g.download(&io[j].stats).unwrap(),
                "stage {j} loss and accuracy"
            );
        }
    });
}

// ---------------------------------------------------------------- real runs through the binary

/// Two DGL stages on Fashion-MNIST, each after a max-pool, with small MLP-SR heads; the replay
/// buffers and slowdown only count for dgl-async. `sets` replaces whole lines `KEY = ...`.
fn config(dir: &Path, name: &str, sets: &[(&str, &str)]) -> PathBuf {
    let top = "name = \"tiny-dgl\"\nmethod = \"dgl\"\nmax_train_images = 320\nmax_val_images = 200\nbatch_size = 16";
    let rest = r#"[[stages]]
width = 4
downsample = "maxpool"
batchnorm = true
head = { kind = "mlp-sr", convs = 1, mlp = 1 }

[[stages]]
width = 8
downsample = "maxpool"
batchnorm = true
head = { kind = "mlp-sr", convs = 0, mlp = 1 }

[dgl]
buffer_size = 3
max_reuse = 2
slowdown = [0.0, 0.3]
"#;
    let mut t = fmnist_config(top, &sgd(0.05, 0.5, 1), rest);
    for (k, v) in sets {
        t = t
            .lines()
            .map(|l| if l.starts_with(&format!("{k} =")) { format!("{k} = {v}") } else { l.to_string() })
            .collect::<Vec<_>>()
            .join("\n");
    }
    support::write_config(dir, name, &t)
}

/// Records without the wall-clock fields, which differ between any two runs.
fn records(dir: &Path) -> Vec<EpochRecord> {
    timeless(support::records(dir))
}

/// Kill a run once a checkpoint shows progress, and resume it to the end.
fn kill_and_resume(cfg: &Path, out: &Path) -> Progress {
    let at = support::kill_and_resume(cfg, out, Duration::from_secs(120), |p| p.epoch > 0 || p.step > 3);
    assert!(at.epoch < 2, "killed after the end: {at:?}");
    at
}

fn gpu_available() -> bool {
    common::gpu(false).is_some()
}

#[test]
fn sync_dgl_learns_resumes_exactly_and_runs_on_two_devices() {
    if !gpu_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "sync", &[("checkpoint_minutes", "0.000001")]);
    let (a, b, c) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("c"));
    let o = bin()
        .args(["train", "--no-report", "--config", cfg.to_str().unwrap(), "--out", a.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("stage 1: head"), "{}", text(&o));
    let ra = records(&a);
    assert_eq!(ra.len(), 4, "2 epochs x 2 stages: {ra:?}");
    for j in 0..2 {
        let (e1, e2) = (&ra[j], &ra[2 + j]);
        assert_eq!((e1.stage, e1.epoch, e2.stage, e2.epoch, e1.method.as_str()), (j, 1, j, 2, "dgl"));
        assert_eq!(e2.val_acc.len(), j + 1, "heads 0..={j}");
        assert!(e2.train_loss < e1.train_loss, "stage {j}'s loss did not fall: {ra:?}");
        // Fashion-MNIST's 10 classes are balanced: chance is 10%.
        assert!(
            e2.head_acc() > 25.0 && e2.train_acc > 25.0,
            "stage {j}'s head at {:.1}% (train {:.1}%)",
            e2.head_acc(),
            e2.train_acc
        );
    }
    let summary: Vec<layerwise::metrics::StageSummary> =
        serde_json::from_str(&std::fs::read_to_string(a.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary.len(), 2);
    let e = bin().args(["eval", a.to_str().unwrap()]).output().unwrap();
    assert!(text(&e).contains(&format!("head 1: {:.2}%", ra[3].head_acc())), "{}", text(&e));

    // kill -9 mid-run and resume: the same records and bitwise the same checkpoint.
    let at = kill_and_resume(&cfg, &b);
    assert_eq!(ra, records(&b), "killed at {at:?}");
    support::assert_same_weights(&a, &b, &format!("resumed after a kill at {at:?}"));

    // Stage 1 on a second logical device (the same adapter opened again): identical results.
    train(&cfg, &c, &["--set", "dgl.devices=[0, 0]"]);
    assert_eq!(ra, records(&c), "two devices vs one");
    support::assert_same_weights(&a, &c, "two devices vs one");
}

#[test]
fn async_dgl_is_seeded_resumes_and_runs_on_two_devices() {
    if !gpu_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "async", &[("method", "\"dgl-async\""), ("checkpoint_minutes", "0.000001")]);
    let d = |n: &str| tmp.path().join(n);
    train(&cfg, &d("a"), &[]);
    train(&cfg, &d("b"), &[]);
    let ra = records(&d("a"));
    assert_eq!(ra.len(), 4);
    assert!(ra.iter().all(|r| r.method == "dgl-async" && r.train_loss.is_finite()), "{ra:?}");
    assert!(ra[2..].iter().all(|r| r.head_acc() > 20.0), "learns: {ra:?}");
    assert_eq!(ra, records(&d("b")), "same seed, same run");
    support::assert_same_weights(&d("a"), &d("b"), "same seed");
    let s = checkpoint(&d("a")).meta.progress.dgl.expect("DGL progress in the metadata");
    // Stage 0 is not slowed down: one tick per batch, 2 epochs of 20.
    assert!(s.tick == 40 && s.buffers.contains("not saved"), "{s:?}");

    // Another seed schedules differently.
    train(&cfg, &d("c"), &["--set", "seed=4"]);
    assert_ne!(ra, records(&d("c")));

    // kill -9 and resume: completes every epoch; the buffers start empty again, as the metadata says.
    let at = kill_and_resume(&cfg, &d("k"));
    let rk = records(&d("k"));
    assert_eq!(rk.len(), 4, "killed at {at:?}");
    assert!(rk.iter().all(|r| r.train_loss.is_finite()) && rk[2..].iter().all(|r| r.head_acc() > 20.0), "{rk:?}");
    assert_eq!(rk[..2 * at.epoch], ra[..2 * at.epoch], "epochs finished before the kill are kept as they were");

    // Buffers the warm-up could never fill are refused before a run folder exists.
    let o = bin()
        .args([
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            d("big").to_str().unwrap(),
            "--set",
            "dgl.buffer_size=40",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("dgl.buffer_size 40 is too large"), "{}", text(&o));
    assert!(!d("big").exists());

    // Two logical devices follow the same schedule: the same run as on one.
    train(&cfg, &d("two"), &["--set", "dgl.devices=[0,0]"]);
    assert_eq!(ra, records(&d("two")), "two devices vs one");
    support::assert_same_weights(&d("a"), &d("two"), "two devices vs one");
}

// ---------------------------------------------------------------- presets

#[test]
fn dgl_presets_mirror_the_reference_networks() {
    let cifar = Shape::Map { h: 32, w: 32, c: 3 };
    let cfg = Config::preset("dgl-cifar-4layer").unwrap();
    assert_eq!(cfg.method, layerwise::config::Method::Dgl);
    assert_eq!(
        (cfg.batch_size, cfg.epochs, cfg.val_split, cfg.val_fallback, cfg.augment.pad, cfg.augment.flip),
        (128, 50, 0, 10000, 4, true)
    );
    let o = &cfg.optimizer;
    assert_eq!((o.lr, o.momentum, o.weight_decay, o.lr_decay, o.lr_step, o.nesterov), (0.1, 0.9, 5e-4, 0.2, 15, false));
    let spec = ModelSpec::new(&cfg, cifar, 10).unwrap();
    use Layer::*;
    let conv = |cin, cout, k| Conv { cin, cout, k, bias: false };
    let block = |pool: bool, cin, cout| {
        let mut v = if pool { vec![MaxPool] } else { vec![] };
        v.extend([conv(cin, cout, 3), BatchNorm { c: cout }, Relu]);
        v
    };
    // The reference's 4-layer net (DGL learning_curves/models.py): blocks, and auxillary_classifier2 with
    // n_lin = 3, mlp_layers = 3 on every block but the last (n_lin = 0, mlp_layers = 2), i.e. that many
    // hidden [linear, BN1d, ReLU] layers before the output layer (parallel.log prints them).
    let stages = [block(false, 3, 64), block(true, 64, 128), block(false, 128, 128), block(true, 128, 256)];
    let mlp_sr = |c: usize, h: usize, convs: usize, mlp: usize| {
        let p = h.div_ceil(4);
        let mut v = vec![AvgPool { oh: p, ow: p }];
        for _ in 0..convs {
            v.extend([conv(c, c, 1), BatchNorm { c }, Relu]);
        }
        v.extend([AvgPool { oh: 2, ow: 2 }, Flatten]);
        for _ in 0..mlp {
            v.extend([Linear { inputs: 4 * c, outputs: 4 * c, bias: false }, BatchNorm { c: 4 * c }, Relu]);
        }
        v.push(Linear { inputs: 4 * c, outputs: 10, bias: true });
        v
    };
    let heads = [mlp_sr(64, 32, 3, 3), mlp_sr(128, 16, 3, 3), mlp_sr(128, 16, 3, 3), mlp_sr(256, 8, 0, 2)];
    for j in 0..4 {
        assert_eq!(spec.stages[j].layers, stages[j], "stage {j}");
        assert_eq!(spec.heads[j].layers, heads[j], "head {j}");
    }
    // The last head: average to 2x2, flatten, 2 x [linear 1024->1024 (no bias), BN1d, ReLU], linear 1024->10.
    assert_eq!(spec.heads[3].param_count(), 2 * (1024 * 1024 + 2 * 1024) + 1024 * 10 + 10);
    // The first: 3 x [1x1 conv 64->64, BN], 3 x [linear 256->256, BN1d], linear 256->10.
    assert_eq!(spec.heads[0].param_count(), 3 * (64 * 64 + 2 * 64) + 3 * (256 * 256 + 2 * 256) + 256 * 10 + 10);

    let six = ModelSpec::new(&Config::preset("dgl-cifar-6layer").unwrap(), cifar, 10).unwrap();
    let widths: Vec<(usize, String)> = six.stages.iter().map(|s| (s.output().channels(), s.describe())).collect();
    assert_eq!(widths.iter().map(|w| w.0).collect::<Vec<_>>(), [128, 256, 256, 512, 512, 512]);
    assert!(
        widths[1].1.starts_with("maxpool2") && widths[3].1.starts_with("maxpool2") && widths[5].1.ends_with("@8x8"),
        "{widths:?}"
    );
    assert!(six.heads.iter().all(|h| matches!(h.layers.last(), Some(Linear { outputs: 10, .. }))));

    let fm = Config::preset("dgl-fmnist").unwrap();
    ModelSpec::new(&fm, Shape::Map { h: 28, w: 28, c: 1 }, 10).unwrap();
    // Every DGL preset also runs asynchronously and on several devices by --set.
    for p in ["dgl-fmnist", "dgl-cifar-4layer", "dgl-cifar-6layer"] {
        let c = Config::preset(p)
            .unwrap()
            .with_overrides(&["method=dgl-async".into(), "dgl.devices=[0,1]".into(), "dgl.slowdown=[0.0,0.5]".into()])
            .unwrap();
        assert_eq!(c.dgl.unwrap().devices, [0, 1]);
    }
}
