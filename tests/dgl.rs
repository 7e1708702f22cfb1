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
use layerwise::config::AsyncOrder;
use layerwise::config::Config;
use layerwise::gpu::{Gpu, PlanBuilder};
use layerwise::metrics::EpochRecord;
use layerwise::model::block::Scratch;
use layerwise::model::{BlockSpec, Layer, Model, ModelSpec, Shape};
use layerwise::train::plans::{record_dgl_body, record_train_body, StepIo, Trains};
use layerwise::train::replay::{Action, Mode, ReplayBuffer, Sampled, Schedule, ScheduleSpec, Store};
use layerwise::train::state::Progress;
use support::{bin, checkpoint, fmnist_config, sgd, text, timeless, train};

// ---------------------------------------------------------------- host logic

#[test]
fn replay_buffer_samples_priority_lifo() {
    let slot = |x: Option<Sampled>| x.map(|s| s.slot);
    let mut b = ReplayBuffer::new(3, 0);
    assert_eq!(b.sample(), None, "empty buffer");
    assert_eq!((b.insert(10), b.insert(11)), (0, 1));
    // Both unused: the newest first (made at tick 11), then the other one (the only unused entry).
    assert_eq!(b.sample(), Some(Sampled { slot: 1, tick: 11 }));
    assert_eq!(b.sample(), Some(Sampled { slot: 0, tick: 10 }));
    // Both used once: the newest again.
    assert_eq!(slot(b.sample()), Some(1));
    assert_eq!((b.uses(0), b.uses(1), b.uses(2)), (Some(1), Some(2), None));
    // A fresh entry beats every used one.
    assert_eq!(b.insert(12), 2);
    assert_eq!(slot(b.sample()), Some(2));
    assert!(b.is_full());
    // Full: a ring, the oldest entry (slot 0) is overwritten, whatever its use count.
    assert_eq!(b.insert(13), 0);
    assert_eq!(b.uses(0), Some(0));
    assert_eq!(b.sample(), Some(Sampled { slot: 0, tick: 13 }));
    assert_eq!((b.insert(14), b.insert(15)), (1, 2), "the ring goes on in order");
    assert_eq!(b.len(), 3);

    // max_reuse = 2: an entry is read at most twice; it stays in the ring (unread) until overwritten.
    let mut b = ReplayBuffer::new(2, 2);
    b.insert(0);
    b.insert(1);
    assert_eq!([slot(b.sample()), slot(b.sample()), slot(b.sample())], [Some(1), Some(0), Some(1)]);
    assert_eq!((b.len(), b.uses(1)), (2, Some(2)), "slot 1 read twice, still held");
    assert_eq!(slot(b.sample()), Some(0));
    assert_eq!(b.sample(), None, "every entry read twice");
    assert_eq!(b.insert(2), 0, "the oldest is overwritten");
    assert_eq!(slot(b.sample()), Some(0));
}

/// A schedule of `stages` stages, `steps` steps per epoch, 3 epochs, an LR step every 2.
fn spec(order: AsyncOrder, stages: usize, steps: usize, slowdown: &[f64], buffer: usize, reuse: usize) -> ScheduleSpec {
    let mut slowdown = slowdown.to_vec();
    slowdown.resize(stages, 0.0);
    ScheduleSpec { order, stages, steps, epochs: 3, lr_step: 2, slowdown, buffer_size: buffer, max_reuse: reuse }
}

/// Every tick of a schedule until it is done (at most `limit` ticks).
fn run_schedule(s: &mut Schedule, limit: usize) -> Vec<Vec<Action>> {
    let mut ticks = Vec::new();
    while !s.done() {
        assert!(ticks.len() < limit, "not done after {limit} ticks");
        ticks.push(s.next_tick());
    }
    ticks
}

/// The reference's schedule (DGL buffer_experiments/cifar_buffer.py): one stage per tick, drawn at
/// random after a warm-up 0, 0, 1, 1, ...; each stage trains its own epochs on its own clock (a new
/// epoch's LR announced on the step that starts it; an LR step takes a tick and restarts the warm-up);
/// a finished stage only forwards; the run ends when every stage has finished.
#[test]
fn random_schedule_follows_the_reference() {
    let (stages, steps) = (3, 100);
    let sp = spec(AsyncOrder::Random, stages, steps, &[], 4, 0);
    let mut s = Schedule::new(sp.clone(), None, 7);
    let ticks = run_schedule(&mut s, 10_000);
    let all: Vec<Action> = ticks.iter().flatten().copied().collect();
    assert!(ticks.iter().all(|t| t.len() <= 1), "one stage per tick");
    // Warm-up: 0, 0, 1, 1, 2, 2, stage j reading what stage j-1 made at the two ticks before.
    let first: Vec<(usize, Option<usize>)> = ticks[..6].iter().map(|t| (t[0].stage, t[0].batch)).collect();
    assert_eq!(first, [(0, Some(0)), (0, Some(1)), (1, None), (1, None), (2, None), (2, None)]);
    assert_eq!(
        ticks[2][0].load,
        match ticks[1][0].store {
            Some(Store::Slot(k)) => Some(k),
            _ => None,
        },
        "newest"
    );
    // Every stage trains exactly its 3 epochs, then only forwards.
    for j in 0..stages {
        let mine: Vec<&Action> = all.iter().filter(|a| a.stage == j).collect();
        let trained = mine.iter().take_while(|a| a.mode == Mode::Train).count();
        assert_eq!(trained, 3 * steps, "stage {j}");
        assert!(mine[trained..].iter().all(|a| a.mode == Mode::Forward), "stage {j} trained after finishing");
        // Its own epochs 1 and 2 start at its steps 100 and 200, announced on those steps.
        let starts: Vec<(usize, usize)> =
            mine.iter().enumerate().filter_map(|(i, a)| a.epoch.map(|e| (i, e))).collect();
        assert_eq!(starts, [(steps, 1), (2 * steps, 2)], "stage {j}");
        assert_eq!((s.epochs_done(j), s.lr_epoch(j)), (3, 2));
    }
    // Stage 0 reads the data in order, one batch per step, on past the end of its own training.
    let batches: Vec<usize> = all.iter().filter_map(|a| a.batch).collect();
    assert_eq!(batches, (0..batches.len()).map(|i| i % steps).collect::<Vec<_>>());
    assert_eq!(s.runs(0) as usize, batches.len());
    // The LR step at epoch 2 of each stage takes the tick it is drawn at (nothing runs) and restarts
    // the warm-up: buffers never run dry here, so those are the only empty ticks.
    let empty: Vec<usize> = (0..ticks.len()).filter(|&t| ticks[t].is_empty()).collect();
    assert_eq!(empty.len(), stages, "{empty:?}");
    for t in empty {
        // The warm-up starts again with stage 0 (or another stage's LR step, when the warm-up draws it).
        assert!(ticks[t + 1].first().is_none_or(|a| a.stage == 0), "tick {}: {:?}", t + 1, ticks[t + 1]);
    }
    // Random order draws every stage about equally often.
    let n0 = all.iter().filter(|a| a.stage == 0).count() as f64;
    for j in 1..stages {
        let r = all.iter().filter(|a| a.stage == j).count() as f64 / n0;
        assert!((0.85..1.18).contains(&r), "stage {j} ran {r:.2} times as often as stage 0");
    }
    // Seeded: the same schedule again; another seed gives another.
    let again = run_schedule(&mut Schedule::new(sp.clone(), None, 7), 10_000);
    assert_eq!(again, ticks);
    assert_ne!(run_schedule(&mut Schedule::new(sp, None, 8), 10_000), ticks);
}

/// Stage j's mean batch age is the mean, over the buffered batches it read, of the ticks since the
/// batch was made; with random order the reads lag (the reference's staleness), with lockstep and no
/// slowdown stage j reads what stage j-1 made in the same tick (age 0: synchronous DGL).
#[test]
fn schedules_measure_batch_ages() {
    for order in [AsyncOrder::Random, AsyncOrder::Lockstep] {
        let mut s = Schedule::new(spec(order, 3, 10, &[], 5, 0), None, 3);
        let mut made: Vec<Vec<u64>> = vec![vec![0; 5]; 3];
        let mut ages: Vec<Vec<u64>> = vec![Vec::new(); 3];
        for a in run_schedule(&mut s, 10_000).iter().flatten() {
            if let Some(k) = a.load {
                ages[a.stage].push(a.tick - made[a.stage][k]);
            }
            if let Some(Store::Slot(k)) = a.store {
                made[a.stage + 1][k] = a.tick;
            }
        }
        assert_eq!(s.mean_age(0), None, "stage 0 reads fresh images");
        for (j, read) in ages.iter().enumerate().skip(1) {
            let mean = read.iter().sum::<u64>() as f64 / read.len() as f64;
            assert_eq!(s.mean_age(j), Some(mean), "{order:?} stage {j}");
            match order {
                AsyncOrder::Lockstep => assert_eq!(mean, 0.0),
                AsyncOrder::Random => assert!(mean >= 1.0, "stage {j}: {mean}"),
            }
        }
        // Ages since a mark cover the reads after it only.
        s.mark();
        assert_eq!(s.mean_age_since_mark(1), None);
    }
}

/// A slowed stage (random order: drawn with weight 1-p, as the reference's --noise p) runs less often
/// but still trains all its epochs, finishing last; the stages before it keep forwarding fresh batches
/// until then. Lockstep: a slowed stage skips ticks; max_reuse = 1 makes the consumer idle rather than
/// read a batch twice.
#[test]
fn slowed_stages_finish_later_with_all_their_steps() {
    let mut s = Schedule::new(spec(AsyncOrder::Random, 3, 300, &[0.0, 0.5, 0.0], 6, 0), None, 11);
    let all: Vec<Action> = run_schedule(&mut s, 20_000).into_iter().flatten().collect();
    let count = |j: usize, m: Mode| all.iter().filter(|a| a.stage == j && a.mode == m).count();
    assert!((0..3).all(|j| count(j, Mode::Train) == 900), "every stage trains 3 epochs of 300 steps");
    let last_train = |j: usize| all.iter().rposition(|a| a.stage == j && a.mode == Mode::Train).unwrap();
    assert!(last_train(1) > last_train(0) && last_train(1) > last_train(2), "the slowed stage finishes last");
    let r = (count(1, Mode::Train) + count(1, Mode::Forward)) as f64
        / (count(0, Mode::Train) + count(0, Mode::Forward)) as f64;
    assert!((0.4..0.62).contains(&r), "stage 1 ran {r:.2} times as often as stage 0 at slowdown 0.5");
    assert!(count(0, Mode::Forward) > 0, "stage 0 forwards while stage 1 catches up");

    let mut s = Schedule::new(spec(AsyncOrder::Lockstep, 2, 100, &[0.7, 0.0], 2, 1), None, 1);
    let (mut made, mut used) = (0, 0);
    for _ in 0..500 {
        for x in s.next_tick() {
            match x.stage {
                0 => made += 1,
                _ => used += 1,
            }
        }
    }
    assert!(used <= made && used + 2 >= made, "each batch read at most once: made {made}, read {used}");
    assert!((100..200).contains(&made), "stage 0 ran {made} of 500 ticks at slowdown 0.7");
}

/// A schedule continued from its saved state (as after a resume) keeps every stage's clock (and its
/// random stream: the state holds the generator); its buffers start empty, so the random order warms
/// up again; every stage still trains exactly its epochs.
#[test]
fn schedule_continues_from_its_saved_state() {
    let sp = spec(AsyncOrder::Random, 3, 10, &[0.0, 0.0, 0.3], 4, 0);
    let mut s = Schedule::new(sp.clone(), None, 5);
    let mut before: Vec<Action> = Vec::new();
    for _ in 0..57 {
        before.extend(s.next_tick());
    }
    let saved = s.state();
    let mut resumed = Schedule::new(sp, Some(saved.clone()), 0);
    assert_eq!((resumed.tick(), resumed.runs(2)), (57, s.runs(2)));
    assert!(resumed.buffer(1).is_empty() && resumed.buffer(2).is_empty());
    let mut after: Vec<Action> = (0..6).flat_map(|_| resumed.next_tick()).collect();
    assert_eq!(after.iter().map(|a| a.stage).collect::<Vec<_>>(), [0, 0, 1, 1, 2, 2], "the warm-up again");
    after.extend(run_schedule(&mut resumed, 10_000).into_iter().flatten());
    for j in 0..3 {
        let trained = before.iter().chain(&after).filter(|a| a.stage == j && a.mode == Mode::Train).count();
        assert_eq!(trained, 30, "stage {j}");
    }
    // The state round-trips through the checkpoint's JSON.
    let json = serde_json::to_string(&saved).unwrap();
    assert_eq!(serde_json::from_str::<layerwise::train::state::ScheduleState>(&json).unwrap(), saved);
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
        let mut greedy = Model::new(g, spec.clone(), cfg.seed).unwrap();
        let mut dgl = Model::new(g, spec.clone(), cfg.seed).unwrap();
        for m in [&mut greedy, &mut dgl] {
            m.train_only(g, 0..2, 0..2).unwrap();
        }
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

/// Our MLP-SR head, built from a config, against the reference's `auxillary_classifier2` in PyTorch
/// float64 (the torch vectors' `dgl_head` cases: n_lin 3 / mlp_layers 3 on 4 channels at 14x14, the
/// last head's 0 / 2 on 8 channels at 7x7, batchnorm in training mode): the logits, the input gradient,
/// every parameter gradient and the running statistics after the pass, from the same parameters.
#[test]
fn mlp_sr_head_matches_the_reference_head() {
    for (case, c, h, convs, mlp) in [("dgl_head", 4, 14, 3, 3), ("dgl_head_last", 8, 7, 0, 2)] {
        let top = "name = \"dgl-head\"\nmethod = \"dgl\"\nseed = 1\nbatch_size = 6";
        let stage = format!(
            "[[stages]]\nwidth = {c}\nbatchnorm = true\nhead = {{ kind = \"mlp-sr\", convs = {convs}, mlp = {mlp} }}\n"
        );
        let cfg = Config::from_toml(&support::step_config(top, &stage), "test").unwrap();
        let spec = ModelSpec::new(&cfg, Shape::Map { h, w: h, c: 3 }, 10).unwrap();
        let head = &spec.heads[0];
        let linears = head.layers.iter().filter(|l| matches!(l, Layer::Linear { .. })).count();
        assert_eq!(linears, mlp + 1, "{case}: {mlp} hidden linear layers and the output layer");
        // The reference's nn.Sequential indices are ours: its `before.3.weight` is our `heads.0.3.weight`.
        let ours = |name: &str, what: &str| format!("{case}.{what}.{}", name.trim_start_matches("heads.0."));
        let (x, xs) = torch(&format!("{case}.x"));
        let (d_y, _) = torch(&format!("{case}.d_y"));
        let n = xs[0];
        both_modes(|g| {
            let mut model = Model::new(g, spec.clone(), cfg.seed).unwrap();
            model.train_only(g, 0..0, 0..1).unwrap();
            let block = &model.heads[0];
            let mut tensors = std::collections::HashMap::new();
            for (name, _, _) in head.param_specs().into_iter().chain(head.state_specs()) {
                let (v, shape) = torch(&ours(&name, "before"));
                tensors.insert(name, (shape, v.iter().map(|&x| x as f32).collect()));
            }
            let meta = layerwise::checkpoint::CheckpointMeta {
                format: layerwise::checkpoint::FORMAT,
                config_name: case.into(),
                adapter: String::new(),
                progress: Progress::default(),
            };
            let ckpt = layerwise::checkpoint::Checkpoint::from_tensors(meta, tensors);
            ckpt.restore_blocks(Path::new("torch vectors"), g, &[block]).unwrap();
            let tx = g.tensor_from(&head.input.batched(n), &to_f32(&nchw_to_nhwc(&x, &xs)), "x").unwrap();
            let td_y = g.tensor_from(&[n, 10], &to_f32(&d_y), "d_y").unwrap();
            let scratch = Scratch::new(g, &[head], n).unwrap();
            let mut p = PlanBuilder::new(g, case);
            let trace = block.forward_train(&mut p, &tx, &scratch).unwrap();
            let d_x = block.backward(&mut p, &trace, &td_y, true, &scratch).unwrap().unwrap();
            g.run(&[&p.finish().unwrap()]).unwrap();
            let checks = g.runtime_checks;
            assert_close(
                &format!("{case} logits ({checks})"),
                &g.download(trace.output()).unwrap(),
                &torch(&format!("{case}.y")).0,
            );
            let (want, ds) = torch(&format!("{case}.d_x"));
            assert_close(&format!("{case} d_x ({checks})"), &g.download(&d_x).unwrap(), &nchw_to_nhwc(&want, &ds));
            // Gradients (in PyTorch's layout) and the running statistics after the training-mode pass.
            let grads = &block.training().unwrap().grads;
            let after = layerwise::checkpoint::arena_tensors(g, head, grads, &block.state, "").unwrap();
            for (name, _, v) in after {
                let what = if name.contains("running_") { "after" } else { "grad" };
                assert_close(&format!("{name} ({what}, {checks})"), &v, &torch(&ours(&name, what)).0);
            }
        });
    }
}

// ---------------------------------------------------------------- real runs through the binary

/// Two DGL stages on Fashion-MNIST, each after a max-pool, with small MLP-SR heads, momentum restarted
/// at every LR step; the replay buffers and slowdown only count for dgl-async. `sets` replaces whole
/// lines `KEY = ...`.
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
    // A new SGD at every LR step (every epoch here), so resuming and several devices cover its restarts.
    let optimizer = format!("{}restart_momentum = true\n", sgd(0.05, 0.5, 1));
    let mut t = fmnist_config(top, &optimizer, rest);
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

/// dgl-async through the binary: seeded, every stage trains its own 2 epochs (the last records say so)
/// and reports the mean age of the batches it read; kill -9 and resume continues the schedule (the
/// buffers refill) and still trains every stage its epochs; two logical devices follow the same
/// schedule, bit for bit; the lockstep order runs too.
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
    assert!(ra.iter().all(|r| r.method == "dgl-async" && r.train_loss.is_finite()), "{ra:?}");
    assert_eq!(ra, records(&d("b")), "same seed, same run");
    support::assert_same_weights(&d("a"), &d("b"), "same seed");
    let finished = |rs: &[EpochRecord]| {
        let last = &rs[rs.len() - 2..];
        assert!(last.iter().all(|r| r.stage_epochs == Some(2)), "every stage trained its 2 epochs: {rs:?}");
        assert!(last.iter().all(|r| r.head_acc() > 20.0), "learns: {rs:?}");
    };
    finished(&ra);
    // Stage 1 is slowed down (0.3): it finishes after stage 0, which keeps forwarding batches for it.
    assert!(ra.len() > 4, "more data epochs than stage 0's own 2: {ra:?}");
    assert!(ra.iter().all(|r| (r.stage == 0) == r.batch_age.is_none()), "stage 1 reports its batches' age");
    let summary: Vec<layerwise::metrics::StageSummary> =
        serde_json::from_str(&std::fs::read_to_string(d("a").join("summary.json")).unwrap()).unwrap();
    assert!(summary[0].batch_age.is_none() && summary[1].batch_age.is_some_and(|a| a >= 1.0), "{summary:?}");
    let p = checkpoint(&d("a")).meta.progress.dgl.expect("DGL progress in the metadata");
    assert!(p.schedule.is_some() && p.buffers.contains("not saved"), "{p:?}");

    // Another seed schedules differently.
    train(&cfg, &d("c"), &["--set", "seed=4"]);
    assert_ne!(ra, records(&d("c")));

    // kill -9 and resume: completes every stage's epochs; the data epochs finished before the kill are
    // kept as they were.
    let at = kill_and_resume(&cfg, &d("k"));
    let rk = records(&d("k"));
    finished(&rk);
    assert_eq!(rk[..2 * at.epoch], ra[..2 * at.epoch], "killed at {at:?}");

    // Two logical devices follow the same schedule: the same run as on one.
    train(&cfg, &d("two"), &["--set", "dgl.devices=[0,0]"]);
    assert_eq!(ra, records(&d("two")), "two devices vs one");
    support::assert_same_weights(&d("a"), &d("two"), "two devices vs one");

    // Lockstep order: every stage each tick; stage 1 reads batches at most a tick or so old.
    train(&cfg, &d("lockstep"), &["--set", "dgl.order=\"lockstep\""]);
    let rl = records(&d("lockstep"));
    finished(&rl);
    assert!(rl.iter().filter_map(|r| r.batch_age).all(|a| a < 1.0), "{rl:?}");
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

    // The buffer experiment's network (buffer_experiments/cifar_buffer.py, its README's command).
    let buffer = Config::preset("dgl-cifar-buffer").unwrap();
    assert_eq!(buffer.method, layerwise::config::Method::DglAsync);
    let d = buffer.dgl.clone().unwrap();
    assert_eq!(
        (d.order, d.buffer_size, d.max_reuse, d.slowdown),
        (AsyncOrder::Random, 30, 0, vec![0.0, 0.0, 0.0, 0.1, 0.0, 0.0])
    );
    assert!(buffer.optimizer.restart_momentum && buffer.ensemble == layerwise::config::Ensemble::Logits);
    let spec = ModelSpec::new(&buffer, cifar, 10).unwrap();
    let stages = [
        block(false, 3, 128),
        block(false, 128, 128),
        block(true, 128, 256),
        block(false, 256, 256),
        block(true, 256, 512),
        block(false, 512, 512),
    ];
    for (j, (c, h)) in [(128, 32), (128, 32), (256, 16), (256, 16), (512, 8), (512, 8)].into_iter().enumerate() {
        assert_eq!(spec.stages[j].layers, stages[j], "stage {j}");
        assert_eq!(spec.heads[j].layers, mlp_sr(c, h, 0, 3), "head {j}");
    }

    let fm = Config::preset("dgl-fmnist").unwrap();
    ModelSpec::new(&fm, Shape::Map { h: 28, w: 28, c: 1 }, 10).unwrap();
    // Every DGL preset also runs asynchronously and on several devices by --set.
    for p in ["dgl-fmnist", "dgl-cifar-4layer", "dgl-cifar-6layer", "dgl-cifar-buffer"] {
        let c = Config::preset(p)
            .unwrap()
            .with_overrides(&["method=dgl-async".into(), "dgl.devices=[0,1]".into(), "dgl.slowdown=[0.0,0.5]".into()])
            .unwrap();
        assert_eq!(c.dgl.unwrap().devices, [0, 1]);
    }
}
