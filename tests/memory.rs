//! Memory: gradient accumulation (`grad_accum`) against whole batches, and the memory planner's
//! numbers and errors.

mod common;
mod support;

use std::path::{Path, PathBuf};

use layerwise::config::Config;
use layerwise::gpu::{Gpu, GpuOptions};
use layerwise::model::{Model, ModelSpec, Shape};
use layerwise::train::feed::Feed;
use layerwise::train::memory::plan_stage;
use layerwise::train::plans::{eval_step, scratch_for, train_step, StepContext, StepIo, Trains};
use support::{assert_close_weights, checkpoint, fmnist_config, records, sgd, train};

/// A short run on 320 Fashion-MNIST images, batches of 16, 2 stages and k = 1 heads without batchnorm
/// (so that micro-batches compute the same gradients as whole batches), `extra` lines appended to the top.
fn config(dir: &Path, name: &str, method: &str, extra: &str) -> PathBuf {
    let top = format!(
        "name = \"tiny-accum\"\nmethod = \"{method}\"\nmax_train_images = 320\nmax_val_images = 100\nbatch_size = 16\n{extra}"
    );
    let rest = r#"[[stages]]
width = 8
head = { kind = "conv", k = 1 }

[[stages]]
width = 8
downsample = "maxpool"
head = { kind = "conv", k = 1 }
"#;
    support::write_config(dir, name, &fmnist_config(&top, &sgd(0.05, 0.5, 1), rest))
}

fn gpu_available() -> bool {
    common::gpu(false).is_some()
}

#[test]
fn grad_accum_equals_whole_batches_without_batchnorm() {
    if !gpu_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let run = |name: &str, method: &str, extra: &str| {
        let out = tmp.path().join(name);
        train(&config(tmp.path(), name, method, extra), &out, &[]);
        out
    };
    let whole = run("whole", "greedy", "");
    // A finished run trains nothing: its checkpoint keeps no momentum (frozen stages hold none).
    assert!(!checkpoint(&whole).names().iter().any(|n| n.starts_with("momentum.")), "momentum of frozen stages");
    for m in [2, 4] {
        let out = run(&format!("accum{m}"), "greedy", &format!("grad_accum = {m}"));
        assert_close_weights(&whole, &out, &format!("grad_accum = {m} vs whole batches"), |_| true);
        // The same epochs, losses (a mean of micro-batch means) and accuracies, up to rounding.
        let (ra, rb) = (records(&whole), records(&out));
        assert_eq!(ra.len(), rb.len());
        for (x, y) in ra.iter().zip(&rb) {
            assert!((x.train_loss - y.train_loss).abs() < 1e-3, "loss {} vs {}", x.train_loss, y.train_loss);
            assert!((x.train_acc - y.train_acc).abs() < 0.5, "train accuracy {} vs {}", x.train_acc, y.train_acc);
            assert!((x.head_acc() - y.head_acc()).abs() < 1.5, "val {} vs {}", x.head_acc(), y.head_acc());
        }
    }
    // End to end through the same net: gradients also flow through stage 0 from stage 1's head.
    let (e2e, e2e_accum) = (run("e2e", "e2e", ""), run("e2e-accum", "e2e", "grad_accum = 2"));
    assert_close_weights(&e2e, &e2e_accum, "e2e, grad_accum = 2 vs whole batches", |_| true);
}

#[test]
fn grad_accum_must_divide_the_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "bad", "greedy", "grad_accum = 3");
    let o = support::run(&["train", "--quiet", "--config", cfg.to_str().unwrap(), "--out", "unused"]);
    support::expect_fail(&o, 2, "grad_accum must divide batch_size (16) into equal micro-batches, got 3");
}

// ---------------------------------------------------------------- the memory planner

/// Only the trained stage and head hold gradients and momentum: a new model holds parameters and
/// statistics only; each stage's turn adds its own two copies and frees the previous stage's.
#[test]
fn only_the_trained_stage_holds_gradients_and_momentum() {
    if !gpu_available() {
        return;
    }
    let gpu = Gpu::new(&GpuOptions::from_env().unwrap()).unwrap();
    let cfg = small_config(16, 1, true);
    let before = gpu.memory().0;
    let mut model = Model::new(&gpu, small_spec(&cfg), 1).unwrap();
    let bytes = |t: &layerwise::gpu::Tensor| (t.len() as u64 * 4).max(4);
    let weights: u64 = model.blocks().map(|b| bytes(&b.params.all) + bytes(&b.state.all)).sum();
    assert_eq!(gpu.memory().0 - before, weights, "a new model holds parameters and statistics only");
    for j in 0..2 {
        model.train_only(&gpu, j..j + 1, j..j + 1).unwrap();
        let trained = bytes(&model.stages[j].params.all) + bytes(&model.heads[j].params.all);
        assert_eq!(gpu.memory().0 - before, weights + 2 * trained, "stage {j} trains");
        let holding: Vec<&str> =
            model.blocks().filter(|b| b.training().is_some()).map(|b| b.spec.name.as_str()).collect();
        assert_eq!(holding, [format!("stages.{j}"), format!("heads.{j}")]);
    }
    model.train_only(&gpu, 0..0, 0..0).unwrap();
    assert_eq!(gpu.memory().0 - before, weights, "every stage frozen");
}

/// The config of a small net on 4x4x1 images: a stage of `width` (batchnorm as asked), a conv head
/// with k = 1 (average to 2x2, linear).
fn small_config(batch: usize, accum: usize, batchnorm: bool) -> Config {
    let text = format!(
        "name = \"small\"\nmethod = \"greedy\"\ndataset = \"none\"\nseed = 1\nbatch_size = {batch}\ngrad_accum = {accum}\nepochs = 1\n{}[augment]\npad = 0\nflip = false\nmean = [0.0]\nstd = [1.0]\n\n[[stages]]\nwidth = 2\nbatchnorm = {batchnorm}\nhead = {{ kind = \"conv\", k = 1 }}\n\n[[stages]]\nwidth = 4\ndownsample = \"maxpool\"\nbatchnorm = {batchnorm}\nhead = {{ kind = \"conv\", k = 2, width = 4 }}\n",
        sgd(0.1, 0.2, 15)
    );
    Config::from_toml(&text, "small").unwrap()
}

fn small_spec(cfg: &Config) -> ModelSpec {
    ModelSpec::new(cfg, Shape::Map { h: 4, w: 4, c: 1 }, 2).unwrap()
}

#[test]
fn planner_counts_a_small_net_by_hand() {
    // Stage 0: conv 1->2 (18 weights), its ReLU fused. Head 0: average to 2x2, flatten, linear 8->2
    // (16 weights, 2 biases). With 64-element alignment every tensor takes 64 floats (256 bytes); a
    // block without batchnorm has an empty statistics arena (one 4-byte word).
    let cfg = small_config(8, 1, false);
    let m = plan_stage(&cfg, &small_spec(&cfg), Trains::Stage(0), 64);
    // Stage 1 (maxpool, conv 2->4: 72 weights, 128 floats) and head 1 (conv 4->4: 144 weights, 192
    // floats; batchnorm's 2 x 4 parameters and 2 x 4 statistics; linear 16->2 and its bias) exist from
    // the start too.
    let (s0, h0, s1, h1) = (256, 512, 512, 4 * (192 + 64 + 64 + 64 + 64));
    let stats = 4 + 4 + 4 + 512;
    assert_eq!(m.weights, s0 + h0 + s1 + h1 + stats);
    // Only stage 0 and head 0 train: only they hold gradients and momentum.
    assert_eq!((m.grads, m.momentum, m.extra), (s0 + h0, s0 + h0, 0));
    let later = plan_stage(&cfg, &small_spec(&cfg), Trains::Stage(1), 64);
    assert_eq!((later.weights, later.grads, later.momentum), (m.weights, s1 + h1, s1 + h1));
    let all = plan_stage(&cfg, &small_spec(&cfg), Trains::All, 64);
    assert_eq!((all.grads, all.momentum), (s0 + s1 + h1, s0 + s1 + h1));
    // The batch's input (8 x 16 floats), stage 0's conv output (8 x 32), the head's 2x2 average (8 x 8)
    // and logits (8 x 2), the conv's placeholder bias gradient (one word), the loss gradient (8 x 2).
    assert_eq!(m.activations, 4 * (8 * 16 + 8 * 32 + 8 * 8 + 8 * 2 + 1 + 8 * 2));
    // Two micro-batches of 4: the batch's input, a micro-batch's input and labels, activations of 4
    // images, the placeholder once per micro-batch, the gradient sums of stage 0 and head 0.
    let cfg = small_config(8, 2, false);
    let a = plan_stage(&cfg, &small_spec(&cfg), Trains::Stage(0), 64);
    assert_eq!(a.activations, 4 * (8 * 16 + 4 * 16 + 4 + 4 * 32 + 4 * 8 + 4 * 2 + 2 + 4 * 2));
    assert_eq!((a.extra, a.micro), (s0 + h0, 4));
}

/// The planner's bytes equal what the trainer allocates for the same stage (`Gpu::memory`'s count of
/// its buffers): the model, both feeds, the step values, the scratch, a training and an evaluation step.
#[test]
fn planner_matches_the_allocations_of_training() {
    if !gpu_available() {
        return;
    }
    // A device of its own: other tests' buffers do not count.
    let gpu = Gpu::new(&GpuOptions::from_env().unwrap()).unwrap();
    let align = (gpu.storage_alignment() / 4).max(1) as usize;
    for (accum, batchnorm, trains) in
        [(1, true, Trains::Stage(1)), (2, true, Trains::Stage(1)), (4, false, Trains::Stage(0)), (2, true, Trains::All)]
    {
        let cfg = small_config(16, accum, batchnorm);
        let spec = small_spec(&cfg);
        let plan = plan_stage(&cfg, &spec, trains, align);
        let before = gpu.memory().0;
        let mut model = Model::new(&gpu, spec.clone(), 1).unwrap();
        let feed = Feed::new(&gpu, cfg.batch_size, spec.input.len()).unwrap();
        let eval_feed = Feed::new(&gpu, cfg.micro_batch(), spec.input.len()).unwrap();
        let io = StepIo::new(&gpu).unwrap();
        let j = match trains {
            Trains::Stage(j) => j,
            Trains::All => spec.stages.len() - 1,
        };
        match trains {
            Trains::Stage(j) => model.train_only(&gpu, j..j + 1, j..j + 1).unwrap(),
            Trains::All => model.train_only(&gpu, 0..j + 1, j..j + 1).unwrap(),
        }
        let scratch = scratch_for(&gpu, &model, j, cfg.micro_batch()).unwrap();
        let ctx = StepContext { gpu: &gpu, cfg: &cfg, model: &model, io: &io, scratch: &scratch };
        let heads: Vec<usize> = if trains == Trains::All { vec![j] } else { (0..=j).collect() };
        let (step, eval) = (train_step(&ctx, &feed, trains).unwrap(), eval_step(&ctx, &eval_feed, j, &heads).unwrap());
        let held = gpu.memory().0 - before;
        assert_eq!(held, plan.total(), "{trains:?}, grad_accum {accum}: {plan:?}");
        drop((step, eval));
    }
}

#[test]
fn a_batch_that_cannot_fit_names_the_accumulation_that_does() {
    if !gpu_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let top = "name = \"big-batch\"\nmethod = \"greedy\"\nmax_train_images = 512\nmax_val_images = 100\nbatch_size = 512\nmemory_limit_mib = 24";
    let rest = "[[stages]]\nwidth = 16\nhead = { kind = \"conv\", k = 1 }\n\n[cache]\neval = false\n";
    let cfg = support::write_config(tmp.path(), "big", &fmnist_config(top, &sgd(0.05, 0.5, 1), rest));
    let out = tmp.path().join("run");
    let o = support::run(&[
        "train",
        "--quiet",
        "--no-report",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    support::expect_fail(&o, 1, "stage 0 at batch 512 (weights and statistics");
    let t = support::text(&o);
    assert!(t.contains("but memory_limit_mib allows 24.0 MiB. Try --set grad_accum="), "{t}");
    assert!(t.contains("try --set batch_size="), "{t}");
    assert!(!out.exists(), "a refused run leaves nothing");
    // The accumulation it names trains within the limit.
    let accum: usize = t.split("--set grad_accum=").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    train(&cfg, &out, &["--set", &format!("grad_accum={accum}")]);
    let summary: Vec<layerwise::metrics::StageSummary> =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert!(summary[0].peak_mib <= 24.0, "peak {} MiB", summary[0].peak_mib);
}
