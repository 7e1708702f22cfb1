//! Where named datasets are searched. The environment (LAYERWISE_DATA, the cache dir, the current
//! folder) is process-wide, so each case runs this test binary again as a child with its own
//! environment, instead of changing the environment under the other tests' feet.

use std::path::Path;
use std::process::Command;

use crate::write;

/// IDX files of 2 images, enough for `load` to accept the folder.
fn write_idx(dir: &Path) {
    let mut images = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2];
    images.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    write(&dir.join("train-images-idx3-ubyte"), &images);
    write(&dir.join("train-labels-idx1-ubyte"), &[0, 0, 8, 1, 0, 0, 0, 2, 3, 4]);
}

/// Runs only as a child of `run_child` (no-op in the normal run): loads the named dataset and prints
/// where it came from, or the error.
#[test]
fn child_process_helper() {
    let Some(spec) = std::env::var_os("LAYERWISE_TEST_CHILD_SPEC") else { return };
    match layerwise::data::load(&spec.to_string_lossy(), None) {
        Ok(s) => println!("FOUND {}", s.train.source),
        Err(e) => println!("ERROR {e}\nEND"),
    }
}

/// `load(spec, None)` in a child process with only the given environment for the places searched.
fn run_child(spec: &str, cwd: &Path, env: &[(&str, &Path)]) -> String {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", "search::child_process_helper", "--nocapture", "--test-threads=1"])
        .current_dir(cwd)
        .env("LAYERWISE_TEST_CHILD_SPEC", spec)
        .env_remove("LAYERWISE_DATA")
        .env("HOME", cwd.join("home"))
        .env("XDG_CACHE_HOME", cwd.join("no-cache"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "child failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let start =
        stdout.find("FOUND ").or_else(|| stdout.find("ERROR ")).unwrap_or_else(|| panic!("child said:\n{stdout}"));
    let rest = &stdout[start..];
    match rest.find("\nEND") {
        Some(end) => rest[..end].to_string(),
        None => rest.lines().next().unwrap().to_string(),
    }
}

#[test]
fn env_var_then_current_folder_then_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path().join("cwd");
    let env = tmp.path().join("env");
    let cache = tmp.path().join("cache");
    std::fs::create_dir_all(&cwd).unwrap();
    write_idx(&cache.join("layerwise/mnist"));
    let found = run_child("mnist", &cwd, &[("XDG_CACHE_HOME", &cache)]);
    assert!(found.starts_with(&format!("FOUND {}", cache.join("layerwise/mnist").display())), "{found}");

    write_idx(&cwd.join("data/mnist"));
    let found = run_child("mnist", &cwd, &[("XDG_CACHE_HOME", &cache)]);
    assert!(found.starts_with(&format!("FOUND {}", Path::new("./data/mnist").display())), "{found}");

    write_idx(&env.join("mnist"));
    let found = run_child("mnist", &cwd, &[("XDG_CACHE_HOME", &cache), ("LAYERWISE_DATA", &env)]);
    assert!(found.starts_with(&format!("FOUND {}", env.join("mnist").display())), "{found}");
}

#[test]
fn not_found_lists_every_place_in_order_and_how_to_get_it() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path().join("cwd");
    let env = tmp.path().join("env");
    let cache = tmp.path().join("cache");
    std::fs::create_dir_all(&cwd).unwrap();
    std::fs::create_dir_all(env.join("mnist")).unwrap();
    for (name, hint) in [("mnist", "layerwise data fetch mnist"), ("cifar10", "layerwise data fetch cifar10")] {
        let msg = run_child(name, &cwd, &[("XDG_CACHE_HOME", &cache), ("LAYERWISE_DATA", &env)]);
        assert!(msg.starts_with(&format!("ERROR {name}: dataset not found")), "{msg}");
        assert!(msg.contains(hint), "{msg}");
        let places = [
            format!("{} (env LAYERWISE_DATA)", env.display()),
            format!("{} (env LAYERWISE_DATA)", env.join(name).display()),
            format!("{} (./data)", Path::new("./data").join(name).display()),
            format!("{} (user cache)", cache.join("layerwise").join(name).display()),
        ];
        let mut at = 0;
        for p in &places {
            let i = msg[at..].find(p.as_str()).unwrap_or_else(|| panic!("{p} not listed (in order) in:\n{msg}"));
            at += i + p.len();
        }
    }

    // Fashion-MNIST also looks where the Debian package installs it.
    let msg = run_child("fashion-mnist", &cwd, &[("XDG_CACHE_HOME", &cache)]);
    if Path::new("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file() {
        assert!(msg.starts_with("FOUND /usr/share/datasets/fashion-mnist/"), "{msg}");
    } else {
        for part in [
            "sudo apt-get install dataset-fashion-mnist",
            "layerwise data fetch fashion-mnist",
            "/usr/share/datasets/fashion-mnist",
        ] {
            assert!(msg.contains(part), "{part:?} missing from:\n{msg}");
        }
    }
}

#[test]
fn unknown_name_is_a_usage_error() {
    let e = crate::err(layerwise::data::load("no-such-dataset-xyz", None));
    assert!(matches!(e, layerwise::Error::Usage(_)), "{e:?}");
    assert!(e.to_string().contains("fashion-mnist, mnist, cifar10"), "{e}");
}
