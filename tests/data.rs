//! Dataset loading (src/data): IDX, CIFAR-10 binary, image folders and archives, and fetching over HTTP
//! from a server on 127.0.0.1 started by the tests. Everything here runs on small files written to temp
//! folders, except the checks against the real Fashion-MNIST files (Debian package dataset-fashion-mnist,
//! which scripts/dev.sh installs) and against ../shared/data (skipped, saying so, where it is absent).

#[path = "data/cifar.rs"]
mod cifar;
#[path = "data/dataset.rs"]
mod dataset;
#[path = "data/fetch.rs"]
mod fetch;
#[path = "data/folder.rs"]
mod folder;
#[path = "data/idx.rs"]
mod idx;
#[path = "data/search.rs"]
mod search;

use std::io::Write;
use std::path::{Path, PathBuf};

/// `<manifest>/../shared/data` (or env LAYERWISE_SHARED_DATA), or None after saying it is absent.
pub fn shared_data(test: &str) -> Option<PathBuf> {
    let dir = match std::env::var_os("LAYERWISE_SHARED_DATA") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED {test}: shared data folder {} is absent (set LAYERWISE_SHARED_DATA)", dir.display());
        None
    }
}

pub fn write(path: &Path, bytes: &[u8]) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// The error's message, failing the test when `r` is Ok.
pub fn err<T: std::fmt::Debug>(r: layerwise::Result<T>) -> layerwise::Error {
    match r {
        Ok(v) => panic!("expected an error, got Ok({:?})", format!("{v:?}").chars().take(200).collect::<String>()),
        Err(e) => e,
    }
}

/// Assert that `e` is Error::Data whose message (path included) contains every one of `parts`.
pub fn assert_data_error(e: &layerwise::Error, parts: &[&str]) {
    assert!(matches!(e, layerwise::Error::Data { .. }), "expected Error::Data, got {e:?}");
    let msg = e.to_string();
    for p in parts {
        assert!(msg.contains(p), "error message lacks {p:?}: {msg}");
    }
}

/// The names of the files directly in `dir`, sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}
