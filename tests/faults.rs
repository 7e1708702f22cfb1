//! Faults a long run meets, on the `layerwise` binary with a tiny greedy config on real Fashion-MNIST:
//! two processes on one run folder, random SIGKILLs, SIGTERM and SIGHUP, a full disk, a diverging
//! learning rate, the wrong `--data`, damaged checkpoints, stale temporary files, lost metrics, a report
//! cut short, GPU limits, evaluation on a small dataset. Each must end in a clear message, never a panic,
//! and never lose or mix data: a run interrupted any of these ways resumes to the bitwise result of an
//! uninterrupted one.

mod common;
mod support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use layerwise::checkpoint::Checkpoint;
use support::{
    assert_same_results, bin, checkpoint, copy_dir, expect_fail, fmnist_config, records, resume, run, sgd, spawn,
    temp_files, text, wait_for_checkpoint,
};

const PATIENCE: Duration = Duration::from_secs(300);
const FMNIST: &str = "/usr/share/datasets/fashion-mnist";

/// Two stages on 640 Fashion-MNIST images (10 steps per epoch, 2 epochs each), with a checkpoint at
/// every statistics read (every step) so that kills land between checkpoints; `extra` adds tables.
fn tiny_config(dir: &Path, optimizer: &str, extra: &str) -> PathBuf {
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
    let toml = fmnist_config(top, optimizer, &format!("{stages}\n{extra}"))
        .replace("checkpoint_minutes = 5.0", "checkpoint_minutes = 0.000001");
    support::write_config(dir, "tiny", &toml)
}

fn plain_sgd() -> String {
    sgd(0.05, 0.2, 1)
}

fn gpu_available() -> bool {
    common::gpu(false).is_some()
}

fn train_args<'a>(cfg: &'a str, out: &'a str) -> Vec<&'a str> {
    vec!["train", "--quiet", "--no-report", "--config", cfg, "--out", out]
}

/// The uninterrupted run every interrupted one must end equal to (trained once per test binary).
fn reference() -> &'static Path {
    static REFERENCE: OnceLock<PathBuf> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let cfg = tiny_config(&dir, &plain_sgd(), "");
        support::train(&cfg, &dir.join("run"), &[]);
        dir.join("run")
    })
}

/// A config file and a fresh folder for a test's runs.
fn setup() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_config(tmp.path(), &plain_sgd(), "");
    (tmp, cfg)
}

#[test]
fn two_processes_on_one_run_folder() {
    if !gpu_available() {
        return;
    }
    let (tmp, cfg) = setup();
    let c = cfg.to_str().unwrap();
    // Two new runs started together into one folder: one trains, the other is refused.
    let both = tmp.path().join("both");
    let b = both.to_str().unwrap();
    let runs = [spawn(&train_args(c, b)), spawn(&train_args(c, b))];
    let outs: Vec<_> = runs.into_iter().map(|r| r.wait_with_output().unwrap()).collect();
    let (ok, refused): (Vec<_>, Vec<_>) = outs.iter().partition(|o| o.status.success());
    assert_eq!((ok.len(), refused.len()), (1, 1), "{} / {}", text(&outs[0]), text(&outs[1]));
    let why = text(refused[0]);
    assert_eq!(refused[0].status.code(), Some(2), "{why}");
    assert!(why.contains("is in use by another process (PID ") || why.contains("already holds a run"), "{why}");
    assert_same_results(reference(), &both, "the run that won the folder");

    // A resume (or a redraw) of a run in progress is refused, naming its PID; the run goes on intact.
    let busy = tmp.path().join("busy");
    let mut first = spawn(&train_args(c, busy.to_str().unwrap()));
    wait_for_checkpoint(&mut first, &busy, PATIENCE, |p| p.step > 0 || p.epoch > 0);
    let pid = format!("is in use by another process (PID {})", first.id());
    expect_fail(&resume(&busy, &[]), 2, &pid);
    expect_fail(&run(&["viz", busy.to_str().unwrap()]), 2, &pid);
    expect_fail(&run(&train_args(c, busy.to_str().unwrap())), 2, "already holds a run");
    let o = first.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_same_results(reference(), &busy, "the run others tried to join");
}

/// SIGKILL at random moments (seeded), each time resumed, until the run ends: bitwise the
/// uninterrupted result, and no temporary file left behind.
#[test]
fn random_sigkills_resume_to_the_same_result() {
    if !gpu_available() {
        return;
    }
    let (tmp, cfg) = setup();
    let out = tmp.path().join("killed");
    let (c, o) = (cfg.to_str().unwrap(), out.to_str().unwrap());
    let mut rng = common::Rng::new(2024);
    let mut kills = 0;
    let mut child = spawn(&train_args(c, o));
    loop {
        let delay = Duration::from_secs_f64(0.3 + 2.0 * rng.next_f64());
        let t0 = Instant::now();
        while t0.elapsed() < delay && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "a run after {kills} kill(s) failed: {}",
                text(&child.wait_with_output().unwrap())
            );
            break;
        }
        if kills == 6 {
            let o = child.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", text(&o));
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        // Killed before its folder was made: start it again; otherwise resume it.
        child = match out.join("config.toml").exists() {
            true => spawn(&["train", "--quiet", "--no-report", "--resume", o]),
            false => spawn(&train_args(c, o)),
        };
    }
    assert!(kills >= 2, "only {kills} kill(s) landed before the run ended");
    assert_same_results(reference(), &out, &format!("after {kills} SIGKILLs"));
    assert!(temp_files(&out).is_empty(), "{:?}", temp_files(&out));
}

/// SIGTERM (and SIGHUP) finish the step, write a checkpoint and exit with code 3; a second signal
/// stops at once (code 130). Either way the run resumes to the uninterrupted result.
#[cfg(unix)]
#[test]
fn signals_stop_with_a_checkpoint_and_resume_exactly() {
    if !gpu_available() {
        return;
    }
    let (tmp, cfg) = setup();
    let c = cfg.to_str().unwrap();
    for (name, signals) in [("term", &["TERM"][..]), ("hup-then-int", &["HUP", "INT"][..])] {
        let out = tmp.path().join(name);
        let mut child = spawn(&train_args(c, out.to_str().unwrap()));
        let at = wait_for_checkpoint(&mut child, &out, PATIENCE, |p| p.step > 2 || p.epoch > 0 || p.stage > 0);
        for s in signals {
            support::signal(child.id(), s);
        }
        let o = child.wait_with_output().unwrap();
        let t = text(&o);
        match o.status.code() {
            Some(3) => {
                assert!(t.contains("stopped on request") && t.contains("layerwise train --resume"), "{t}");
                let p = checkpoint(&out).meta.progress;
                assert!((p.stage, p.epoch, p.step) >= (at.stage, at.epoch, at.step), "{p:?} before {at:?}");
            }
            // Only a second signal that arrives before the first one's checkpoint stops at once.
            Some(130) if signals.len() == 2 => assert!(t.contains("second stop signal"), "{t}"),
            code => panic!("{name}: exit code {code:?}: {t}"),
        }
        assert!(!t.contains("panicked"), "{t}");
        let r = resume(&out, &[]);
        assert!(r.status.success(), "{}", text(&r));
        assert_same_results(reference(), &out, &format!("stopped by {signals:?}"));
    }
}

/// A full disk (a small tmpfs, where the test may mount one) fails with the system's message and exit
/// code 1, leaving the last checkpoint; with room again, the run resumes to the uninterrupted result.
#[test]
fn full_disk_is_a_clear_error_and_resumes_exactly() {
    if !gpu_available() {
        return;
    }
    let (tmp, cfg) = setup();
    let mnt = tmp.path().join("small-disk");
    std::fs::create_dir_all(&mnt).unwrap();
    let mount = std::process::Command::new("mount").args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"]).arg(&mnt).output();
    match &mount {
        Ok(o) if o.status.success() => {}
        _ => {
            eprintln!("SKIPPED full_disk_is_a_clear_error_and_resumes_exactly: cannot mount a tmpfs here (needs root): {mount:?}");
            return;
        }
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).output();
        }
    }
    let _unmount = Unmount(mnt.clone());
    let out = mnt.join("run");
    let o = run(&train_args(cfg.to_str().unwrap(), out.to_str().unwrap()));
    expect_fail(&o, 1, "No space left on device");
    assert!(temp_files(&out).is_empty(), "a failed write leaves no temporary file: {:?}", temp_files(&out));
    let grow = std::process::Command::new("mount").args(["-o", "remount,size=20m"]).arg(&mnt).output().unwrap();
    assert!(grow.status.success(), "{}", text(&grow));
    let r = resume(&out, &[]);
    assert!(r.status.success(), "{}", text(&r));
    assert_same_results(reference(), &out, "after a full disk");
}

/// A learning rate that makes the loss explode in stage 0's second epoch (x1e6 after the first): the
/// run stops with exit code 1, its checkpoint (end of epoch 1) holds finite weights, the metrics stop
/// there too, and the command the message advises continues it. Divergence before any checkpoint
/// advises a command that starts the run again.
#[test]
fn divergence_keeps_finite_weights_and_its_advice_works() {
    if !gpu_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // Checkpoints at epoch ends only: the last one before the divergence is stage 0's first epoch end.
    let cfg = tiny_config(tmp.path(), &sgd(0.05, 1e6, 1), "");
    let text_cfg =
        std::fs::read_to_string(&cfg).unwrap().replace("checkpoint_minutes = 0.000001", "checkpoint_minutes = 5.0");
    std::fs::write(&cfg, text_cfg).unwrap();
    let out = tmp.path().join("exploded");
    let o = run(&train_args(cfg.to_str().unwrap(), out.to_str().unwrap()));
    expect_fail(&o, 1, "diverged");
    let t = text(&o);
    let ckpt = Checkpoint::read(&out.join("checkpoint.safetensors")).expect("a finite, readable checkpoint");
    let p = &ckpt.meta.progress;
    assert_eq!((p.stage, p.epoch, p.step, p.records), (0, 1, 0, 1), "{t}");
    assert_eq!(records(&out).len(), 1, "the metrics stop at the checkpoint");
    let advice = t.lines().find(|l| l.trim_start().starts_with("layerwise train --resume")).expect("a command");
    assert!(advice.contains("--set optimizer.lr=0.005"), "{advice}");
    let mut args: Vec<&str> = advice.split_whitespace().skip(1).collect();
    args.extend(["--quiet", "--no-report", "--set", "optimizer.lr_decay=0.2"]);
    let r = run(&args);
    assert!(r.status.success(), "{}", text(&r));
    assert_eq!(records(&out).len(), 4, "2 stages x 2 epochs");
    // Stage 0's second epoch ran at the new LR, decayed once: 0.005 x 0.2.
    assert!((records(&out)[1].lr - 0.001).abs() < 1e-12, "{:?}", records(&out)[1]);

    // Diverged at once: no checkpoint yet, and the advised resume starts again.
    let cfg = tiny_config(tmp.path(), &sgd(1e30, 0.2, 1), "");
    let text_cfg =
        std::fs::read_to_string(&cfg).unwrap().replace("checkpoint_minutes = 0.000001", "checkpoint_minutes = 5.0");
    std::fs::write(&cfg, text_cfg).unwrap();
    let out = tmp.path().join("at-once");
    let o = run(&train_args(cfg.to_str().unwrap(), out.to_str().unwrap()));
    expect_fail(&o, 1, "No checkpoint had been written yet");
    let t = text(&o);
    assert!(t.contains(&format!("layerwise train --resume {} --set optimizer.lr=", out.display())), "{t}");
    let r = bin()
        .args(["train", "--no-report", "--resume", out.to_str().unwrap(), "--set", "optimizer.lr=0.05"])
        .output()
        .unwrap();
    assert!(r.status.success() && text(&r).contains("training starts from the beginning"), "{}", text(&r));
    assert_eq!(records(&out).len(), 4);
}

/// Fashion-MNIST's IDX files, linked into `dir`, with the training labels replaced by `labels` when given.
#[cfg(unix)]
fn fmnist_copy(dir: &Path, labels: Option<&[u8]>) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for f in ["train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        std::os::unix::fs::symlink(Path::new(FMNIST).join(f), dir.join(f)).unwrap();
    }
    match labels {
        Some(l) => std::fs::write(dir.join("train-labels-idx1-ubyte"), l).unwrap(),
        None => std::os::unix::fs::symlink(
            Path::new(FMNIST).join("train-labels-idx1-ubyte.gz"),
            dir.join("train-labels-idx1-ubyte.gz"),
        )
        .unwrap(),
    }
    dir.to_path_buf()
}

/// `--data` is honoured or refused, never passed over; the data is named in the first line and
/// recorded; a resume reads the recorded data, and refuses other data unless forced.
#[cfg(unix)]
#[test]
fn data_is_honoured_recorded_and_checked() {
    if !gpu_available() {
        return;
    }
    let (tmp, cfg) = setup();
    let c = cfg.to_str().unwrap();
    let out = |n: &str| tmp.path().join(n);
    let refused = |data: &Path, what: &str| {
        let o =
            run(&["train", "--config", c, "--out", out("refused").to_str().unwrap(), "--data", data.to_str().unwrap()]);
        expect_fail(&o, 1, "--data does not hold fashion-mnist");
        assert!(text(&o).contains(what), "{}", text(&o));
        assert!(!out("refused").exists(), "a refused run leaves no folder");
    };
    refused(&tmp.path().join("no-such-folder"), "absent");
    let unrelated = tmp.path().join("unrelated");
    std::fs::create_dir_all(&unrelated).unwrap();
    std::fs::write(unrelated.join("notes.txt"), "nothing to train on").unwrap();
    refused(&unrelated, "no train-images-idx3-ubyte");
    let cifar = tmp.path().join("cifar");
    std::fs::create_dir_all(&cifar).unwrap();
    std::fs::write(cifar.join("data_batch_1.bin"), vec![0u8; 3073]).unwrap();
    refused(&cifar, "It holds CIFAR-10 binary batches");

    // Trained from a copy: named first, recorded.
    let a = fmnist_copy(&tmp.path().join("copy-a"), None);
    let run_dir = out("run");
    let o = run(&[
        "train",
        "--no-report",
        "--config",
        c,
        "--out",
        run_dir.to_str().unwrap(),
        "--data",
        a.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let first = String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or_default().to_string();
    let a_real = std::fs::canonicalize(&a).unwrap();
    assert!(first.contains(&format!("fashion-mnist from {}", a_real.display())), "{first}");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("data.json")).unwrap()).unwrap();
    assert_eq!(record["path"], a_real.to_str().unwrap());

    // Its data gone: a resume says so instead of reading another copy.
    std::fs::remove_dir_all(&a).unwrap();
    expect_fail(&resume(&run_dir, &[]), 1, "the run's data was read from here, and cannot be now");
    // The same data elsewhere is accepted.
    let r = resume(&run_dir, &["--data", FMNIST]);
    assert!(r.status.success(), "{}", text(&r));
    // Other data (one training label changed) is refused, unless forced.
    let mut labels = Vec::new();
    let gz = std::fs::File::open(Path::new(FMNIST).join("train-labels-idx1-ubyte.gz")).unwrap();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz), &mut labels).unwrap();
    labels[8 + 5] = (labels[8 + 5] + 1) % 10;
    let b = fmnist_copy(&tmp.path().join("copy-b"), Some(&labels));
    let o = resume(&run_dir, &["--data", b.to_str().unwrap()]);
    expect_fail(&o, 2, "holds other data than this run trained on");
    assert!(text(&o).contains("labels hash") && text(&o).contains("--force-data"), "{}", text(&o));
    let o = resume(&run_dir, &["--data", b.to_str().unwrap(), "--force-data"]);
    assert!(o.status.success() && text(&o).contains("warning:"), "{}", text(&o));
}

/// Checkpoint damage is found from the header before any tensor is read: a header that declares more
/// than the file holds (here on a sparse 16 GiB file, which a reader of the whole file would choke
/// on), tensors larger than the file; NaN weights and impossible progress are refused too.
#[test]
fn damaged_checkpoints_are_refused_before_reading_them() {
    let tmp = tempfile::tempdir().unwrap();
    let huge = tmp.path().join("huge-header.safetensors");
    let f = std::fs::File::create(&huge).unwrap();
    std::io::Write::write_all(&mut &f, &(1u64 << 40).to_le_bytes()).unwrap();
    f.set_len(16 << 30).unwrap();
    let e = Checkpoint::read(&huge).err().expect("refused");
    assert!(e.to_string().contains("its header declares 1099511627776 bytes"), "{e}");

    let header = br#"{"a":{"dtype":"F32","shape":[4294967296],"data_offsets":[0,17179869184]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[0u8; 64]);
    let big_tensor = tmp.path().join("big-tensor.safetensors");
    std::fs::write(&big_tensor, &bytes).unwrap();
    let e = Checkpoint::read(&big_tensor).err().expect("refused");
    assert!(e.to_string().contains("but the file holds"), "{e}");

    if !gpu_available() {
        return;
    }
    // NaN in a weight of a real checkpoint: refused by eval and resume alike, the tensor named.
    let nan = tmp.path().join("nan");
    copy_dir(reference(), &nan);
    let path = nan.join("checkpoint.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let hdr: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let name = hdr.as_object().unwrap().keys().find(|k| k.starts_with("stages.1.") && k.ends_with(".weight")).unwrap();
    let start = hdr[name]["data_offsets"][0].as_u64().unwrap() as usize + 8 + n;
    bytes[start..start + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    for o in [resume(&nan, &[]), run(&["eval", nan.to_str().unwrap()])] {
        expect_fail(&o, 1, &format!("tensor {name} holds 1 NaN or infinite value(s)"));
    }

    // Progress no run of this config reaches.
    let far = tmp.path().join("stage-99");
    copy_dir(reference(), &far);
    let c = checkpoint(&far);
    let mut meta = c.meta.clone();
    meta.progress.stage = 99;
    let tensors: std::collections::HashMap<String, (Vec<usize>, Vec<f32>)> =
        c.names().into_iter().map(|n| (n.clone(), c.tensor(&n).unwrap().clone())).collect();
    write_checkpoint(&far.join("checkpoint.safetensors"), &meta, &tensors);
    expect_fail(&resume(&far, &[]), 1, "impossible training progress for this run: it is at stage 99");
}

/// A safetensors file with `meta` as the layerwise metadata.
fn write_checkpoint(
    path: &Path,
    meta: &layerwise::checkpoint::CheckpointMeta,
    tensors: &std::collections::HashMap<String, (Vec<usize>, Vec<f32>)>,
) {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, (s, v))| (n.clone(), s.clone(), v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = bytes
        .iter()
        .map(|(n, s, b)| {
            (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap())
        })
        .collect();
    let info = std::collections::HashMap::from([
        ("layerwise".to_string(), serde_json::to_string(meta).unwrap()),
        ("format".to_string(), "pt".to_string()),
    ]);
    std::fs::write(path, safetensors::serialize(views, Some(info)).unwrap()).unwrap();
}

/// What a kill can leave in a run folder is repaired when it resumes: temporary files removed, metrics
/// cut back to the checkpoint (or, unreadable, not in the way of resuming it), a stale report redrawn.
/// A lost checkpoint is not silently replaced by a new run, and `--set` takes only what a resume can
/// change.
#[test]
fn resume_repairs_what_kills_leave() {
    if !gpu_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    copy_dir(reference(), &dir);
    let want = records(reference());
    for t in [".checkpoint.safetensors.tmp-4000001", ".metrics.jsonl.tmp-4000002"] {
        std::fs::write(dir.join(t), vec![7u8; 1000]).unwrap();
    }
    let mut jsonl = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    jsonl.push_str(jsonl.clone().lines().last().unwrap());
    jsonl.push_str("\n{\"method\": \"gre");
    std::fs::write(dir.join("metrics.jsonl"), jsonl).unwrap();
    let o = bin().args(["train", "--no-report", "--resume", dir.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("removed") && temp_files(&dir).is_empty(), "{}", text(&o));
    assert_eq!(records(&dir), want, "records appended after the checkpoint are cut");

    std::fs::write(dir.join("metrics.jsonl"), "garbage\n").unwrap();
    let o = bin().args(["train", "--no-report", "--resume", dir.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success() && text(&o).contains("4 of the 4 epoch records"), "{}", text(&o));
    std::fs::remove_file(dir.join("metrics.jsonl")).unwrap();
    assert!(resume(&dir, &[]).status.success());

    // The report: drawn on resume when missing or stale, left alone when up to date.
    let drawn = |o: &std::process::Output| text(o).contains("drawing it");
    let o = bin().args(["train", "--resume", dir.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success() && drawn(&o), "{}", text(&o));
    assert_eq!(layerwise::viz::report_stages(&dir), Some(2));
    let o = bin().args(["train", "--resume", dir.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success() && !drawn(&o), "{}", text(&o));
    let o = run(&["viz", dir.to_str().unwrap(), "--stage", "0"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = bin().args(["train", "--resume", dir.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success() && drawn(&o), "{}", text(&o));

    expect_fail(&resume(&dir, &["--set", "stages.0.width=3"]), 2, "--set stages.0.width cannot change when resuming");
    std::fs::remove_file(dir.join("checkpoint.safetensors")).unwrap();
    expect_fail(&resume(&dir, &[]), 2, "no checkpoint.safetensors: it was deleted or lost");
}

/// GPU limits are found before the run folder exists, with a hint that holds for the batch size asked.
#[test]
fn gpu_limits_are_refused_before_the_folder_exists() {
    if !gpu_available() {
        return;
    }
    let (tmp, cfg) = setup();
    let c = cfg.to_str().unwrap();
    let out = tmp.path().join("never");
    let o = out.to_str().unwrap();
    let train = |sets: &[&str]| {
        let mut args = vec!["train", "--config", c, "--out", o];
        for s in sets {
            args.extend(["--set", s]);
        }
        run(&args)
    };
    let r = train(&["max_train_images=60000", "batch_size=60000", "stages.0.width=64"]);
    expect_fail(&r, 1, "the GPU cannot hold this");
    assert!(text(&r).contains("fits: try --set batch_size="), "{}", text(&r));
    assert!(!out.exists(), "no folder for a run that cannot fit");
    let r = train(&["batch_size=1", "stages.0.width=50000"]);
    expect_fail(&r, 1, "The model is too large for this device");
    assert!(!text(&r).contains("batch of"), "{}", text(&r));
    assert!(!out.exists(), "no folder for a run that cannot fit");
}

/// `eval` on a dataset smaller than a training batch: only its test split matters.
#[test]
fn eval_on_a_small_dataset() {
    if !gpu_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("small");
    for class in 0..10 {
        for (split, n) in [("train", 1), ("test", 2)] {
            let dir = root.join(split).join(format!("c{class}"));
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..n {
                image::GrayImage::from_fn(28, 28, |x, y| image::Luma([(x * 9 + y * 3 + class * 20 + i) as u8]))
                    .save(dir.join(format!("{i}.png")))
                    .unwrap();
            }
        }
    }
    let o = run(&["eval", reference().to_str().unwrap(), "--data", root.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("20 images of") && text(&o).contains("ensemble:"), "{}", text(&o));
}
