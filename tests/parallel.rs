//! Data-parallel greedy and e2e training (`devices`) on two logical devices (lavapipe opened twice)
//! against one device with the same global batch: the same weights to float rounding without
//! batchnorm, each slice normalised with its own statistics with batchnorm (as one device accumulating
//! two micro-batches), exact resume after a kill mid-epoch, and configs that cannot split refused.

mod common;
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use layerwise::config::Config;
use support::{assert_close_weights, checkpoint, fmnist_config, records, sgd, train};

/// A short greedy (or e2e) run on 320 Fashion-MNIST images, batches of 16, two stages with k = 1 heads,
/// `extra` lines appended to the top.
fn config(dir: &Path, name: &str, method: &str, batchnorm: bool, extra: &str) -> PathBuf {
    let top = format!(
        "name = \"parallel\"\nmethod = \"{method}\"\nmax_train_images = 320\nmax_val_images = 100\nbatch_size = 16\n{extra}"
    );
    let rest = format!(
        "[[stages]]\nwidth = 8\nbatchnorm = {batchnorm}\nhead = {{ kind = \"conv\", k = 1 }}\n\n[[stages]]\nwidth = 8\ndownsample = \"maxpool\"\nbatchnorm = {batchnorm}\nhead = {{ kind = \"conv\", k = 1 }}\n"
    );
    support::write_config(dir, name, &fmnist_config(&top, &sgd(0.05, 0.5, 1), &rest))
}

fn gpu_available() -> bool {
    common::gpu(false).is_some()
}

#[test]
fn two_devices_train_as_one_without_batchnorm() {
    if !gpu_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for method in ["greedy", "e2e"] {
        let one = tmp.path().join(format!("{method}-one"));
        train(&config(tmp.path(), &format!("{method}-one"), method, false, ""), &one, &[]);
        let two = tmp.path().join(format!("{method}-two"));
        train(&config(tmp.path(), &format!("{method}-two"), method, false, "devices = [0, 0]"), &two, &[]);
        assert_close_weights(&one, &two, &format!("{method}: two devices vs one"), |_| true);
        let (ra, rb) = (records(&one), records(&two));
        assert_eq!(ra.len(), rb.len());
        for (x, y) in ra.iter().zip(&rb) {
            // Loss: the mean of batch means, here of the devices' slices; accuracy counts every image.
            assert!((x.train_loss - y.train_loss).abs() < 1e-3, "{method}: loss {} vs {}", x.train_loss, y.train_loss);
            assert!((x.train_acc - y.train_acc).abs() < 0.5, "{method}: train {} vs {}", x.train_acc, y.train_acc);
            assert!((x.head_acc() - y.head_acc()).abs() < 1.5, "{method}: val {} vs {}", x.head_acc(), y.head_acc());
        }
    }
    // The command line's --devices means the same for greedy.
    let (cfg, cli) = (config(tmp.path(), "cli", "greedy", false, ""), tmp.path().join("cli"));
    let o = support::bin()
        .args(["train", "--no-report", "--devices", "0,0", "--config", cfg.to_str().unwrap(), "--out"])
        .arg(&cli)
        .output()
        .unwrap();
    let log = support::text(&o);
    assert!(o.status.success(), "{log}");
    assert!(log.contains("data parallel: 16 images per step as 2 slices of 8 on device 0 ([0] "), "{log}");
    support::assert_same_weights(&tmp.path().join("greedy-two"), &cli, "--devices 0,0 vs devices = [0, 0]");
}

#[test]
fn with_batchnorm_each_device_normalises_its_own_slice() {
    if !gpu_available() {
        return;
    }
    // Two devices normalise their 8 images each with their own statistics: the gradients of one device
    // accumulating two micro-batches of 8. The running statistics differ (DataParallel keeps the first
    // device's; accumulation updates them per micro-batch), and the frozen stage 0 runs on them, so
    // what agrees is stage 0 and its head, trained before any running statistic was read.
    let tmp = tempfile::tempdir().unwrap();
    let two = tmp.path().join("two");
    train(&config(tmp.path(), "two", "greedy", true, "devices = [0, 0]"), &two, &[]);
    let accum = tmp.path().join("accum");
    train(&config(tmp.path(), "accum", "greedy", true, "grad_accum = 2"), &accum, &[]);
    let stage0 = |n: &str| (n.starts_with("stages.0.") || n.starts_with("heads.0.")) && !n.contains("running_");
    assert_close_weights(&two, &accum, "two devices vs two accumulated micro-batches, stage 0", stage0);
    let differs = |n: &str| checkpoint(&two).tensor(n).unwrap().1 != checkpoint(&accum).tensor(n).unwrap().1;
    let stats =
        checkpoint(&two).names().into_iter().filter(|n| n.starts_with("stages.0.") && n.contains("running_mean"));
    assert!(stats.into_iter().any(|n| differs(&n)), "the running statistics are device 0's alone");
}

#[test]
fn a_data_parallel_run_killed_mid_epoch_resumes_exactly() {
    if !gpu_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "dp", "greedy", true, "devices = [0, 0]");
    // A checkpoint after every step, so that the kill lands mid-epoch.
    let text =
        std::fs::read_to_string(&cfg).unwrap().replace("checkpoint_minutes = 5.0", "checkpoint_minutes = 0.000001");
    std::fs::write(&cfg, text).unwrap();
    let reference = tmp.path().join("reference");
    train(&cfg, &reference, &[]);
    let killed = tmp.path().join("killed");
    let at = support::kill_and_resume(&cfg, &killed, Duration::from_secs(300), |p| p.stage == 1 && p.step >= 3);
    assert!(at.stage == 1 && at.step >= 3 && at.step < 20, "killed at {at:?}, not mid-epoch");
    // Weights, momentum, statistics and metrics bitwise (every device's running sums were saved).
    support::assert_same_results(&reference, &killed, "a data-parallel run killed mid-epoch and resumed");
}

#[test]
fn devices_that_cannot_split_the_batch_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let load = |name: &str, method: &str, extra: &str| Config::load(&config(tmp.path(), name, method, false, extra));
    let e = load("three", "greedy", "devices = [0, 0, 0]").unwrap_err().to_string();
    assert!(e.contains("batch_size (16) must split evenly over the 3 devices: a multiple of 3"), "{e}");
    let e = load("accum", "greedy", "devices = [0, 0]\ngrad_accum = 16").unwrap_err().to_string();
    assert!(e.contains("over the 2 devices and grad_accum = 16 micro-batches on each: a multiple of 32"), "{e}");
    let set = |c: Config, sets: &[&str]| c.with_overrides(&sets.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let two = load("two", "greedy", "devices = [0, 0]").unwrap();
    let e = set(two, &["augment.pad=0", "augment.flip=false", "cache.train=true"]).unwrap_err().to_string();
    assert!(e.contains("cache.train cannot be used with data-parallel `devices`"), "{e}");
    let e = set(load("dgl", "dgl", "devices = [0, 0]").unwrap(), &["dgl.devices=[0, 1]"]).unwrap_err().to_string();
    assert!(e.contains("`devices` or `dgl.devices`, not both"), "{e}");
    // DGL reads `devices` as its placement; greedy splits its batches over them.
    let c = load("dgl-ok", "dgl", "devices = [0, 1]").unwrap();
    assert_eq!((c.dgl_devices(), c.data_parallel(), c.device_batch()), (&[0, 1][..], 1, 16));
    let c = load("greedy-ok", "greedy", "devices = [0, 1]\ngrad_accum = 2").unwrap();
    assert_eq!((c.data_parallel(), c.device_batch(), c.micro_batch()), (2, 8, 4));
}

#[test]
fn a_device_that_does_not_exist_is_refused_before_the_run_folder_exists() {
    if !gpu_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for method in ["greedy", "dgl"] {
        let cfg = config(tmp.path(), method, method, false, "");
        let out = tmp.path().join(format!("{method}-run"));
        let (c, o) = (cfg.to_str().unwrap(), out.to_str().unwrap());
        let r = support::run(&["train", "--quiet", "--no-report", "--config", c, "--out", o, "--devices", "0,99"]);
        support::expect_fail(&r, 2, "devices: there is no adapter 99");
        assert!(!out.exists(), "{method}: a refused run left its folder");
    }
}
