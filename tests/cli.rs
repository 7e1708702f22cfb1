//! The `layerwise` binary end to end on real Fashion-MNIST (the Debian package): a short greedy run,
//! eval and viz on it, kill -9 and resume, and every kind of bad input the trainer must refuse with a
//! clear message and exit code, without touching an existing run folder.

mod common;
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{assert_same_results, bin, expect_fail, fmnist_config, records, run, sgd, text, timeless};

/// Two stages on Fashion-MNIST, the second after a space-to-depth with a k = 2 head, and `extra`.
fn tiny_config(dir: &Path, extra: &str) -> PathBuf {
    let top = "name = \"tiny\"\nmethod = \"greedy\"\nmax_train_images = 640\nmax_val_images = 300\nbatch_size = 64";
    let stages = r#"[[stages]]
width = 4
batchnorm = true
head = { kind = "conv", k = 1, batchnorm = true }

[[stages]]
width = 8
downsample = "space-to-depth"
batchnorm = true
head = { kind = "conv", k = 2, width = 8, batchnorm = true }
"#;
    support::write_config(dir, "tiny", &fmnist_config(top, &sgd(0.05, 0.2, 1), &format!("{stages}\n{extra}")))
}

fn gpu_available() -> bool {
    common::gpu(false).is_some()
}

#[test]
fn short_greedy_run_then_eval_and_viz() {
    if !gpu_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_config(tmp.path(), "");
    let out = tmp.path().join("run");
    let o = run(&["train", "--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("per-stage validation accuracy") && t.contains("stage 1: head"), "{t}");
    for f in [
        "config.toml",
        "metrics.jsonl",
        "metrics.csv",
        "summary.json",
        "checkpoint.safetensors",
        "report.html",
        "filters_stage1.png",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let recs = records(&out);
    assert_eq!(recs.len(), 4, "2 stages x 2 epochs");
    let last = recs.last().unwrap();
    assert_eq!(last.val_acc.len(), 2, "both heads evaluated at stage 1");
    // Fashion-MNIST has 10 balanced classes (chance: 10%): even this little training learns, and the
    // loss falls from the first epoch of a stage to the second.
    assert!(
        last.head_acc() > 25.0 && recs[1].head_acc() > 25.0,
        "heads at {:.1}% / {:.1}%",
        recs[1].head_acc(),
        last.head_acc()
    );
    assert!(recs[1].train_loss < recs[0].train_loss && recs[3].train_loss < recs[2].train_loss, "{recs:?}");
    // Top 5 of 10 classes, every head and the ensemble: at least top 1.
    assert_eq!(last.val_top5.len(), 2, "{last:?}");
    for (a1, a5) in last.val_acc.iter().chain([&last.ensemble_acc]).zip(last.val_top5.iter().chain(&last.ensemble_top5))
    {
        assert!(a5 >= a1 && *a5 <= 100.0, "top-5 {a5} against top-1 {a1}");
    }
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "header + 4 rows");
    // Then the wait for data, empty for data in memory.
    let ends = format!(",{:.2},{:.2},", last.val_top5[1], last.ensemble_top5.unwrap());
    assert!(csv.lines().last().unwrap().ends_with(&ends), "the CSV's last columns are top 5: {csv}");

    // eval reproduces the last recorded accuracies from the checkpoint.
    let e = run(&["eval", out.to_str().unwrap()]);
    assert!(e.status.success(), "{}", text(&e));
    let et = text(&e);
    for (h, a) in last.val_acc.iter().enumerate() {
        assert!(et.contains(&format!("head {h}: {a:.2}%")), "eval output {et} lacks head {h} at {a:.2}%");
    }
    assert!(et.contains(&format!("ensemble: {:.2}%", last.ensemble_acc)), "{et}");
    let top5 = format!("ensemble: {:.2}% (top-5 {:.2}%)", last.ensemble_acc, last.ensemble_top5.unwrap());
    assert!(et.contains(&top5), "{et}");

    // viz redraws the report from the checkpoint, stage 0 only on request.
    std::fs::remove_file(out.join("report.html")).unwrap();
    let v = run(&["viz", out.to_str().unwrap(), "--stage", "0"]);
    assert!(v.status.success(), "{}", text(&v));
    assert!(out.join("report.html").exists());
    expect_fail(&run(&["viz", out.to_str().unwrap(), "--stage", "5"]), 2, "not trained");
}

#[test]
fn killed_run_resumes_to_the_same_result() {
    if !gpu_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // Checkpoint at every progress read, so the kill lands mid-epoch after some checkpoint.
    let cfg = tiny_config(tmp.path(), "");
    let text_cfg =
        std::fs::read_to_string(&cfg).unwrap().replace("checkpoint_minutes = 5.0", "checkpoint_minutes = 0.000001");
    std::fs::write(&cfg, text_cfg).unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    support::train(&cfg, &a, &[]);

    // Kill (SIGKILL) once some training progress is on disk, before the run can finish.
    let killed_at =
        support::kill_and_resume(&cfg, &b, Duration::from_secs(300), |p| p.stage > 0 || p.epoch > 0 || p.step > 2);
    assert!(killed_at.stage < 2, "killed after the end");

    assert_same_results(&a, &b, &format!("resumed after a kill at {killed_at:?}"));

    // The same with the paper options that add training state: each stage kept at its best epoch (a
    // copy of its weights in the checkpoint), momentum restarted at every LR step. Killed after the
    // first stage's first epoch, so its best copy is in the checkpoint.
    let plain = std::fs::read_to_string(&cfg).unwrap();
    let options =
        format!("keep_best = true\n{}", plain.replace("lr_step = 1\n", "lr_step = 1\nrestart_momentum = true\n"));
    let cfg_options = support::write_config(tmp.path(), "options", &options);
    let (c, d) = (tmp.path().join("c"), tmp.path().join("d"));
    support::train(&cfg_options, &c, &[]);
    let killed_at = support::kill_and_resume(&cfg_options, &d, Duration::from_secs(300), |p| p.best.is_some());
    assert!(killed_at.stage < 2, "killed after the end");
    assert_same_results(&c, &d, &format!("keep_best and restart_momentum, resumed after a kill at {killed_at:?}"));

    // And the report drawn from the resumed run equals the uninterrupted run's, file for file, once
    // the wall-clock numbers (which differ between any two runs) are set aside.
    for dir in [&a, &b] {
        let recs = timeless(records(dir));
        let lines: Vec<String> = recs.iter().map(|r| serde_json::to_string(r).unwrap()).collect();
        std::fs::write(dir.join("metrics.jsonl"), lines.join("\n") + "\n").unwrap();
        let mut sums: Vec<layerwise::metrics::StageSummary> =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
        for s in &mut sums {
            (s.seconds, s.img_per_s, s.peak_mib) = (0.0, 0.0, 0.0);
        }
        std::fs::write(dir.join("summary.json"), serde_json::to_string(&sums).unwrap()).unwrap();
        let v = run(&["viz", dir.to_str().unwrap()]);
        assert!(v.status.success(), "{}", text(&v));
    }
    let report_files: Vec<String> = std::fs::read_dir(&a)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".png") || n.ends_with(".html"))
        .collect();
    assert!(report_files.len() >= 6, "{report_files:?}");
    for f in &report_files {
        assert!(
            std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(),
            "{f} differs between the resumed and the uninterrupted run"
        );
    }
}

/// `keep_best`: every stage is frozen at its best validation epoch (the earliest best), which the
/// summary names, and the checkpoint holds those weights and statistics: `eval` reproduces each head's
/// accuracy of that epoch, not of the last one. A high LR without decay makes the accuracy wander.
#[test]
fn keep_best_freezes_each_stage_at_its_best_epoch() {
    if !gpu_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_config(tmp.path(), "");
    let out = tmp.path().join("best");
    let sets = ["keep_best=true", "epochs=4", "optimizer.lr=0.4", "optimizer.lr_decay=1.0"];
    support::train(&cfg, &out, &sets.iter().flat_map(|s| ["--set", s]).collect::<Vec<_>>());
    let recs = records(&out);
    let summary: Vec<layerwise::metrics::StageSummary> =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let e = run(&["eval", out.to_str().unwrap()]);
    assert!(e.status.success(), "{}", text(&e));
    let mut frozen_before_the_end = 0;
    for s in &summary {
        let stage: Vec<_> = recs.iter().filter(|r| r.stage == s.stage).collect();
        let best = stage.iter().fold(stage[0], |b, r| if r.head_acc() > b.head_acc() { r } else { b });
        assert_eq!(s.best_epoch, Some(best.epoch), "stage {}: {stage:?}", s.stage);
        assert_eq!((s.head_acc, s.ensemble_acc), (best.head_acc(), best.ensemble_acc), "stage {}", s.stage);
        assert_eq!(stage.last().unwrap().best_epoch, Some(best.epoch), "the last record names the best epoch");
        assert!(text(&e).contains(&format!("head {}: {:.2}%", s.stage, best.head_acc())), "{}", text(&e));
        frozen_before_the_end += usize::from(best.epoch < 4);
    }
    assert!(frozen_before_the_end > 0, "every stage was best at its last epoch, so nothing was tested: {recs:?}");
    expect_fail(
        &run(&[
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            tmp.path().join("e2e").to_str().unwrap(),
            "--set",
            "keep_best=true",
            "--method",
            "e2e",
        ]),
        2,
        "keep_best applies to method = \"greedy\" only",
    );
}

/// The frozen-prefix caches (evaluation by default, training with `cache.train` when augmentation is
/// off) only save work: every record and every weight equals the recomputing run's, bit for bit. And
/// what they cannot do is said: a cache past the memory limit, or of augmented images.
#[test]
fn frozen_prefix_caches_change_no_result() {
    if !gpu_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // A third stage, whose frozen prefix (convs from 1 and 16 channels) is worth caching; stage 1's
    // (one conv from 1 channel, 18 FLOPs per output) is not.
    let third = "[[stages]]\nwidth = 8\ndownsample = \"space-to-depth\"\nbatchnorm = true\nhead = { kind = \"conv\", k = 1, batchnorm = true }\n";
    let cfg = tiny_config(tmp.path(), third);
    let c = cfg.to_str().unwrap();
    let train = |name: &str, sets: &[&str]| -> (PathBuf, String) {
        let out = tmp.path().join(name);
        let mut args = vec!["train", "--no-report", "--config", c, "--out", out.to_str().unwrap()];
        for s in sets {
            args.extend(["--set", s]);
        }
        let o = run(&args);
        assert!(o.status.success(), "{name}: {}", text(&o));
        (out, text(&o))
    };
    // With augmentation: cached evaluation against a limit too small for any cache.
    let (cached, log) = train("eval-cached", &[]);
    assert!(log.contains("stage 1: evaluation runs stages 0..0 every epoch (at 18 FLOPs per float"), "{log}");
    assert!(
        log.contains(
            "stage 2: caching the frozen stages' output (2 MiB) and their heads' predictions for 300 validation images"
        ),
        "{log}"
    );
    let (recomputed, log) = train("eval-recomputed", &["cache.limit_mib=0"]);
    assert!(log.contains("evaluation recomputes the frozen prefix every epoch"), "{log}");
    assert_same_results(&cached, &recomputed, "evaluation cache");
    // A limit that holds the frozen heads' predictions but not stage 2's input (1.8 MiB here).
    let (heads_only, log) = train("eval-heads-cached", &["cache.limit_mib=1"]);
    assert!(log.contains("stage 2: evaluation runs stages 0..1 every epoch (their validation output would take 2 MiB, past cache.limit_mib = 1)"), "{log}");
    assert_same_results(&cached, &heads_only, "evaluation cache of the frozen heads only");
    assert_eq!(records(&cached).last().unwrap().val_acc.len(), 3, "every head reported");
    // Without augmentation: the training cache too, against neither cache.
    let plain = ["augment.pad=0", "augment.flip=false"];
    let (both, log) = train("train-cached", &[plain[0], plain[1], "cache.train=true"]);
    assert!(log.contains("stage 1: training recomputes stages 0..0 every step (at 18 FLOPs per float"), "{log}");
    assert!(log.contains("stage 2: caching its input for 640 training images (4 MiB)"), "{log}");
    let (neither, _) = train("train-recomputed", &[plain[0], plain[1], "cache.eval=false"]);
    assert_same_results(&both, &neither, "training cache");

    let o = tmp.path().join("refused");
    let o = o.to_str().unwrap();
    expect_fail(
        &run(&["train", "--config", c, "--out", o, "--set", "cache.train=true"]),
        2,
        "cache.train needs augmentation off",
    );
    let r = run(&[
        "train",
        "--config",
        c,
        "--out",
        o,
        "--set",
        "cache.train=true",
        "--set",
        plain[0],
        "--set",
        plain[1],
        "--set",
        "cache.limit_mib=1",
    ]);
    expect_fail(&r, 2, "stage 2's input for 640 training images takes 4 MiB, more than cache.limit_mib = 1");
    assert!(!Path::new(o).exists(), "a refused run must not create its folder");
}

#[test]
fn existing_run_folder_is_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_config(tmp.path(), "");
    let out = tmp.path().join("run");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("config.toml"), "precious").unwrap();
    std::fs::write(out.join("metrics.jsonl"), "{}\n").unwrap();
    let o = run(&["train", "--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    expect_fail(&o, 2, "already holds a run");
    assert_eq!(std::fs::read_to_string(out.join("config.toml")).unwrap(), "precious");
    assert_eq!(std::fs::read_to_string(out.join("metrics.jsonl")).unwrap(), "{}\n");
    expect_fail(&run(&["train", "--resume", tmp.path().to_str().unwrap()]), 2, "not a run folder");
}

#[test]
fn invalid_configs_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_config(tmp.path(), "");
    let c = cfg.to_str().unwrap();
    let out = tmp.path().join("never");
    let o = out.to_str().unwrap();
    expect_fail(&run(&["train", "--preset", "no-such-preset", "--out", o]), 2, "unknown preset `no-such-preset`");
    expect_fail(
        &run(&["train", "--config", c, "--out", o, "--set", "stages.1.head.k=0"]),
        2,
        "stages.1.head.k must be at least 1",
    );
    expect_fail(&run(&["train", "--config", c, "--out", o, "--set", "epochs=0"]), 2, "epochs must be at least 1");
    expect_fail(
        &run(&["train", "--config", c, "--out", o, "--set", "optimizer.lr=-0.1"]),
        2,
        "optimizer.lr must be a positive number",
    );
    expect_fail(
        &run(&["train", "--config", c, "--out", o, "--set", "batch_size=0"]),
        2,
        "batch_size must be at least 1",
    );
    expect_fail(&run(&["train", "--config", c, "--out", o, "--set", "stages.7.width=3"]), 2, "out of range");
    expect_fail(&run(&["train", "--config", c, "--out", o, "--set", "nonsense"]), 2, "expected key=value");
    expect_fail(&run(&["train", "--config", "/nonexistent/cfg.toml", "--out", o]), 1, "/nonexistent/cfg.toml");
    expect_fail(&run(&["train", "--bogus-flag"]), 2, "bogus-flag");
    assert!(!out.exists(), "a refused run must not create its folder");
}

#[test]
fn data_problems_are_clear_errors() {
    if !gpu_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_config(tmp.path(), "");
    let c = cfg.to_str().unwrap();
    let o = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();

    // Batch larger than the dataset.
    expect_fail(
        &run(&["train", "--config", c, "--out", &o("a"), "--set", "max_train_images=100", "--set", "batch_size=128"]),
        2,
        "larger than the 100 training images",
    );
    // Images of the wrong size for the model: a third space-to-depth meets a 7x7 map.
    let odd = tiny_config(&tmp.path().join("odd").tap_mkdir(), "[[stages]]\nwidth = 8\ndownsample = \"space-to-depth\"\nhead = { kind = \"conv\" }\n[[stages]]\nwidth = 8\ndownsample = \"space-to-depth\"\nhead = { kind = \"conv\" }\n");
    expect_fail(
        &run(&["train", "--config", odd.to_str().unwrap(), "--out", &o("b")]),
        2,
        "space-to-depth needs even height and width, got 7x7",
    );
    // A preset for colour images on grey Fashion-MNIST.
    expect_fail(
        &run(&["train", "--preset", "paper1-cifar-k2", "--set", "dataset=fashion-mnist", "--out", &o("c")]),
        2,
        "normalises 3 channel(s)",
    );
    // Missing dataset: every place searched is listed, with how to get it.
    let empty = tmp.path().join("empty").tap_mkdir();
    let out = bin()
        .args(["train", "--config", c, "--out", &o("d"), "--set", "dataset=cifar10"])
        .env("LAYERWISE_DATA", &empty)
        .env("HOME", &empty)
        .env("XDG_CACHE_HOME", &empty)
        .current_dir(&empty)
        .output()
        .unwrap();
    expect_fail(&out, 1, "dataset not found");
    assert!(
        text(&out).contains("layerwise data fetch cifar10") && text(&out).contains(empty.to_str().unwrap()),
        "{}",
        text(&out)
    );
    // A truncated IDX file and an out-of-range label, named with the file.
    let fm = Path::new("/usr/share/datasets/fashion-mnist");
    let bad = tmp.path().join("bad").tap_mkdir();
    for f in ["train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        std::fs::copy(fm.join(f), bad.join(f)).unwrap();
    }
    let mut labels = vec![0u8, 0, 8, 1, 0, 0, 0xEA, 0x60];
    labels.extend(std::iter::repeat_n(3u8, 60000));
    labels[8 + 17] = 12;
    std::fs::write(bad.join("train-labels-idx1-ubyte"), &labels).unwrap();
    expect_fail(
        &run(&["train", "--config", c, "--out", &o("e"), "--data", bad.to_str().unwrap()]),
        1,
        "train-labels-idx1-ubyte: record 17",
    );
    assert!(!tmp.path().join("e").exists(), "a run refused for bad data leaves no folder");
    labels.truncate(5000);
    std::fs::write(bad.join("train-labels-idx1-ubyte"), &labels).unwrap();
    expect_fail(
        &run(&["train", "--config", c, "--out", &o("f"), "--data", bad.to_str().unwrap()]),
        1,
        "train-labels-idx1-ubyte",
    );
}

#[test]
fn resource_problems_are_clear_errors() {
    if !gpu_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_config(tmp.path(), "");
    let c = cfg.to_str().unwrap();
    // A batch whose activations exceed what the adapter can bind: says how much and what to do.
    let out = tmp.path().join("big");
    let o = run(&[
        "train",
        "--config",
        c,
        "--out",
        out.to_str().unwrap(),
        "--set",
        "max_train_images=60000",
        "--set",
        "batch_size=60000",
        "--set",
        "stages.0.width=64",
    ]);
    expect_fail(&o, 1, "the GPU cannot hold this");
    assert!(text(&o).contains("MiB") && text(&o).contains("try --set batch_size="), "{}", text(&o));
    assert!(!out.exists(), "checked before the run folder exists");
    // Divergence: an exploding loss stops the stage, with the command that starts it again.
    let out = tmp.path().join("nan");
    let o = run(&["train", "--config", c, "--out", out.to_str().unwrap(), "--set", "optimizer.lr=1e30"]);
    expect_fail(&o, 1, "diverged");
    assert!(text(&o).contains("No checkpoint had been written yet"), "{}", text(&o));
    assert!(out.join("config.toml").exists(), "the run folder stays");
}

#[test]
fn presets_and_devices() {
    let o = run(&["presets"]);
    assert!(o.status.success());
    let presets = ["fmnist-quick", "fmnist-k2", "paper1-cifar-k1", "paper1-cifar-k2", "paper1-cifar-k3"];
    for p in presets.into_iter().chain(["paper1-imagenet-k1", "paper1-imagenet-k2", "paper1-imagenet-k3"]) {
        assert!(text(&o).contains(p), "{p} missing from {}", text(&o));
        let t = run(&["presets", p]);
        assert!(t.status.success());
        layerwise::config::Config::from_toml(&String::from_utf8_lossy(&t.stdout), p)
            .expect("printed preset parses back");
    }
    if gpu_available() {
        let d = run(&["devices", "--json"]);
        assert!(d.status.success(), "{}", text(&d));
        let list: serde_json::Value = serde_json::from_slice(&d.stdout).unwrap();
        assert!(!list.as_array().unwrap().is_empty());
        let d = run(&["devices"]);
        assert!(text(&d).contains("max storage binding"), "{}", text(&d));
    }
}

/// `presets NAME` ends with the preset's cost per stage; paper 1's ImageNet k = 1 network has the
/// reference's 590 M parameters (12->256, 256->256, then 1024->512, 2048->1024, 4096->2048, 2048->2048,
/// 8192->4096, 4096->4096 3x3 convs with biases, counted by hand) and 81.7 G multiply-adds per image.
#[test]
fn presets_print_their_cost_per_stage() {
    let o = run(&["presets", "paper1-imagenet-k1"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(out.contains("# Cost on 224x224x3 images, 1000 classes"), "{out}");
    let total = out.lines().find(|l| l.starts_with("# total")).expect("a total line");
    assert!(total.contains("590,455,808"), "{total}");
    let final_net = out.lines().find(|l| l.starts_with("# final network")).expect("a final network line");
    // Stages: 81.73 G multiply-adds = 163.466 GFLOP; the last head adds 2 x 4 x 4096 x 1000 FLOPs.
    assert!(final_net.contains("163.499 GFLOP"), "{final_net}");
    let stage7 = out.lines().find(|l| l.starts_with("# 7 ")).expect("stage 7's line");
    assert!(stage7.contains("150,999,040") && stage7.contains("7x7x4096"), "{stage7}");
}

trait TapMkdir {
    fn tap_mkdir(self) -> PathBuf;
}

impl TapMkdir for PathBuf {
    fn tap_mkdir(self) -> PathBuf {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}
