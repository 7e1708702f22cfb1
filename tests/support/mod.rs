//! Helpers for the tests that run the `layerwise` binary and for their configs: the binary, TOML
//! configs from shared parts, a run killed mid-way and resumed, and the comparison of two runs' results.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use layerwise::checkpoint::Checkpoint;
use layerwise::metrics::EpochRecord;
use layerwise::train::state::Progress;

/// The binary, with the dataset location left to each test.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_layerwise"));
    c.env_remove("LAYERWISE_DATA");
    c
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("layerwise runs")
}

/// Everything a run printed.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The run failed with exit code `code` and a message containing `needle`, without a panic.
#[track_caller]
pub fn expect_fail(o: &Output, code: i32, needle: &str) {
    let t = text(o);
    assert_eq!(o.status.code(), Some(code), "exit code for: {t}");
    assert!(t.contains(needle), "expected `{needle}` in: {t}");
    assert!(!t.contains("panicked"), "panicked: {t}");
}

/// `layerwise train --quiet --no-report --config CFG --out OUT EXTRA..`, which must succeed.
#[track_caller]
pub fn train(cfg: &Path, out: &Path, extra: &[&str]) -> Output {
    let o = bin()
        .args(["train", "--quiet", "--no-report", "--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    o
}

/// The SGD table every test config trains with: the papers' momentum 0.9 and weight decay 5e-4, the LR
/// times `lr_decay` every `lr_step` epochs.
pub fn sgd(lr: f64, lr_decay: f64, lr_step: usize) -> String {
    format!(
        "[optimizer]\nlr = {lr:?}\nmomentum = 0.9\nweight_decay = 5e-4\nlr_decay = {lr_decay:?}\nlr_step = {lr_step}\n"
    )
}

/// A short run on Fashion-MNIST (seed 3, 2 epochs, crops with 2 pixels of padding and flips):
/// `top` holds its own top-level keys (name, method, sizes, batch), `optimizer` its SGD table, `rest`
/// its stages and any other table.
pub fn fmnist_config(top: &str, optimizer: &str, rest: &str) -> String {
    format!(
        "{top}\ndataset = \"fashion-mnist\"\nseed = 3\nepochs = 2\ncheckpoint_minutes = 5.0\n\n{optimizer}\n[augment]\npad = 2\nflip = true\nmean = [0.2860]\nstd = [0.3530]\n\n{rest}"
    )
}

/// A config for recording single steps on the tests' own floats (3 channels, no dataset, no
/// augmentation): `top` holds its name, method, seed and batch size, `stages` its stages.
pub fn step_config(top: &str, stages: &str) -> String {
    format!(
        "{top}\ndataset = \"none\"\nepochs = 1\n{}[augment]\npad = 0\nflip = false\nmean = [0.0, 0.0, 0.0]\nstd = [1.0, 1.0, 1.0]\n{stages}",
        sgd(0.1, 0.2, 15)
    )
}

/// Write `toml` to `dir/name.toml`.
pub fn write_config(dir: &Path, name: &str, toml: &str) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, toml).unwrap();
    p
}

/// A run folder's metrics records.
pub fn records(dir: &Path) -> Vec<EpochRecord> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Records without the wall-clock fields (timings, waits for data), which legitimately differ between runs.
pub fn timeless(mut r: Vec<EpochRecord>) -> Vec<EpochRecord> {
    for x in &mut r {
        (x.img_per_s, x.seconds, x.elapsed) = (0.0, 0.0, 0.0);
        x.data_wait = x.data_wait.map(|_| 0.0);
    }
    r
}

pub fn checkpoint(dir: &Path) -> Checkpoint {
    Checkpoint::read(&dir.join("checkpoint.safetensors")).unwrap()
}

/// Two runs' checkpoints hold bitwise the same weights, statistics and momentum.
#[track_caller]
pub fn assert_same_weights(a: &Path, b: &Path, what: &str) {
    let (ca, cb) = (checkpoint(a), checkpoint(b));
    assert_eq!(ca.names(), cb.names(), "{what}");
    for n in &ca.names() {
        assert!(ca.tensor(n) == cb.tensor(n), "{n} differs ({what})");
    }
}

/// Every tensor of two runs' checkpoints whose name `keep` accepts agrees within float rounding (a
/// difference below 1e-4 of the tensor's largest value).
#[track_caller]
pub fn assert_close_weights(a: &Path, b: &Path, what: &str, keep: impl Fn(&str) -> bool) {
    let (ca, cb) = (checkpoint(a), checkpoint(b));
    assert_eq!(ca.names(), cb.names(), "{what}");
    let mut worst = (0f32, String::new());
    let compared: Vec<String> = ca.names().into_iter().filter(|n| keep(n)).collect();
    assert!(!compared.is_empty(), "{what}: no tensor to compare");
    for n in &compared {
        let ((sa, va), (sb, vb)) = (ca.tensor(n).unwrap(), cb.tensor(n).unwrap());
        assert_eq!(sa, sb, "{n}");
        let scale = va.iter().fold(1e-3f32, |m, x| m.max(x.abs()));
        for (x, y) in va.iter().zip(vb) {
            let d = (x - y).abs() / scale;
            if d > worst.0 || d.is_nan() {
                worst = (d.max(worst.0), n.clone());
            }
        }
    }
    eprintln!(
        "{what}: {} tensors, largest difference {:.2e} of the tensor's largest value ({})",
        compared.len(),
        worst.0,
        worst.1
    );
    assert!(worst.0 < 1e-4, "{what}: {} differs by {:.2e} of its largest value", worst.1, worst.0);
}

/// Two runs ended alike: the same metrics (bar wall-clock) and bitwise the same weights, statistics and
/// momentum.
#[track_caller]
pub fn assert_same_results(a: &Path, b: &Path, what: &str) {
    assert_eq!(timeless(records(a)), timeless(records(b)), "{what}");
    assert_same_weights(a, b, what);
}

/// Start `layerwise train` on `cfg` into `out`, SIGKILL it once its checkpoint shows `progressed`
/// (failing if none does within `patience` or the run ends first), then resume it to the end. Returns
/// the progress it was killed at.
#[track_caller]
pub fn kill_and_resume(cfg: &Path, out: &Path, patience: Duration, progressed: impl Fn(&Progress) -> bool) -> Progress {
    let mut child = bin()
        .args(["train", "--quiet", "--no-report", "--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    loop {
        if let Ok(c) = Checkpoint::read(&out.join("checkpoint.safetensors")) {
            if progressed(&c.meta.progress) {
                break;
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "run finished before it could be killed");
        assert!(t0.elapsed() < patience, "no checkpoint appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let at = checkpoint(out).meta.progress;
    let o = bin().args(["train", "--quiet", "--no-report", "--resume", out.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "resume failed: {}", text(&o));
    at
}

/// Start `layerwise train ARGS` in the background, its output captured.
pub fn spawn(args: &[&str]) -> std::process::Child {
    bin()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("layerwise starts")
}

/// Wait until the checkpoint in `out` shows `progressed`, failing if `child` ends first or nothing
/// shows within `patience`.
#[track_caller]
pub fn wait_for_checkpoint(
    child: &mut std::process::Child,
    out: &Path,
    patience: Duration,
    progressed: impl Fn(&Progress) -> bool,
) -> Progress {
    let t0 = Instant::now();
    loop {
        if let Ok(c) = Checkpoint::read(&out.join("checkpoint.safetensors")) {
            if progressed(&c.meta.progress) {
                return c.meta.progress;
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "the run ended before the awaited checkpoint");
        assert!(t0.elapsed() < patience, "no such checkpoint appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Send `signal` (TERM, INT, HUP, ...) to process `pid`.
#[cfg(unix)]
pub fn signal(pid: u32, signal: &str) {
    let o = Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).output().expect("kill runs");
    assert!(o.status.success(), "kill -{signal} {pid}: {}", text(&o));
}

/// `layerwise train --quiet --no-report --resume OUT EXTRA..` (success not required).
pub fn resume(out: &Path, extra: &[&str]) -> Output {
    bin().args(["train", "--quiet", "--no-report", "--resume", out.to_str().unwrap()]).args(extra).output().unwrap()
}

/// Copy the files of `from` (not recursively) into a new folder `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// The temporary files of atomic writes in `dir`.
pub fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect()
}
