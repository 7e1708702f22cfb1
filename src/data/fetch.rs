//! `layerwise data fetch`: download the official dataset files, verify their md5, and move them into
//! place only once verified (temp file in the destination folder, then rename), so an interrupted or
//! corrupted download never leaves a file that `load` would pick up.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::{Digest, Md5};

use super::progress::Progress;
use super::{archive, cifar, DatasetKind};
use crate::error::IoContext;
use crate::{Error, Result};

/// The official Fashion-MNIST origin (Zalando Research).
const FASHION_MNIST_URL: &str = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";
/// MNIST's original site no longer serves the files reliably; this is the mirror torchvision uses.
const MNIST_URL: &str = "https://ossci-datasets.s3.amazonaws.com/mnist/";
/// The CIFAR-10 authors' site (University of Toronto).
const CIFAR10_URL: &str = "https://www.cs.toronto.edu/~kriz/";

/// One file to download: `name` is appended to the base URL and is also the local file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    pub name: String,
    /// Lower-case hex md5 of the file as served.
    pub md5: String,
}

impl RemoteFile {
    pub fn new(name: &str, md5: &str) -> Self {
        RemoteFile { name: name.to_string(), md5: md5.to_ascii_lowercase() }
    }
}

/// The official origin and files (with their published md5s) of a named dataset.
fn manifest(kind: DatasetKind) -> (&'static str, Vec<RemoteFile>) {
    let f = RemoteFile::new;
    match kind {
        DatasetKind::FashionMnist => (
            FASHION_MNIST_URL,
            vec![
                f("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                f("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
                f("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
                f("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
            ],
        ),
        DatasetKind::Mnist => (
            MNIST_URL,
            vec![
                f("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                f("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
                f("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
                f("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
            ],
        ),
        DatasetKind::Cifar10 => (CIFAR10_URL, vec![f(cifar::OFFICIAL_ARCHIVE, "c32a1d4ab5d03f1284b67883e8d87530")]),
        DatasetKind::ImageFolder => ("", Vec::new()),
    }
}

fn fetchable(name: &str) -> Result<DatasetKind> {
    DatasetKind::from_name(name).filter(|k| *k != DatasetKind::ImageFolder).ok_or_else(|| {
        Error::usage(format!(
            "cannot fetch '{name}': the datasets that can be fetched are fashion-mnist, mnist and cifar10"
        ))
    })
}

/// Where `layerwise data fetch NAME` puts a dataset by default, a place `load` searches:
/// `$LAYERWISE_DATA/<name>` when that is set, else the user cache (`~/.cache/layerwise/<name>` on Linux).
pub fn default_fetch_dir(name: &str) -> Result<PathBuf> {
    let kind = fetchable(name)?;
    if let Some(env) = std::env::var_os("LAYERWISE_DATA").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(env).join(kind.name()));
    }
    dirs::cache_dir()
        .map(|c| c.join("layerwise").join(kind.name()))
        .ok_or_else(|| Error::usage("no user cache folder is known here (is HOME set?): give a destination folder"))
}

/// Download a named dataset ("fashion-mnist", "mnist", "cifar10") into the folder `dest` (created if
/// needed): the four IDX .gz files, or for cifar10 the official binary archive, unpacked into
/// data_batch_1..5.bin, test_batch.bin and batches.meta.txt (the archive is deleted afterwards).
/// Files already present with the right checksum are not downloaded again. `base_url` replaces the
/// official origin (a mirror, or a local server in tests); the official md5s are checked either way.
pub fn fetch(name: &str, dest: &Path, base_url: Option<&str>) -> Result<()> {
    let kind = fetchable(name)?;
    std::fs::create_dir_all(dest).at(dest)?;
    let (official, files) = manifest(kind);
    let base = base_url.unwrap_or(official);
    if kind == DatasetKind::Cifar10 {
        if cifar::complete_in(dest) {
            eprintln!("{}: already unpacked in {}", kind.name(), dest.display());
            return Ok(());
        }
        let archive = fetch_files(base, &files, dest)?.remove(0);
        unpack_cifar10_binary(&archive, dest)?;
        std::fs::remove_file(&archive).at(&archive)?;
    } else {
        fetch_files(base, &files, dest)?;
    }
    eprintln!("{}: ready in {}", kind.name(), dest.display());
    Ok(())
}

/// Download `base_url/<name>` for every file into `dest/<name>`, verifying each md5; returns the paths.
/// A file already there with the right md5 is kept. On any failure the partial download is deleted
/// and nothing is left under the final name.
pub fn fetch_files(base_url: &str, files: &[RemoteFile], dest: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dest).at(dest)?;
    let agent = agent(base_url);
    let mut paths = Vec::new();
    for f in files {
        let target = dest.join(&f.name);
        if target.is_file() && md5_file(&target)?.eq_ignore_ascii_case(&f.md5) {
            eprintln!("{}: already present, md5 ok", target.display());
        } else {
            download(&agent, &join_url(base_url, &f.name), &target, &f.md5)?;
        }
        paths.push(target);
    }
    Ok(paths)
}

fn join_url(base: &str, name: &str) -> String {
    format!("{}/{name}", base.trim_end_matches('/'))
}

fn agent(base_url: &str) -> ureq::Agent {
    // A proxy taken from the environment must not capture loopback URLs (a local mirror, the tests).
    let host = base_url.split("://").nth(1).unwrap_or(base_url);
    let loopback = ["127.", "localhost", "[::1]"].iter().any(|p| host.starts_with(p));
    let proxy = if loopback { None } else { ureq::Proxy::try_from_env() };
    ureq::Agent::config_builder()
        .proxy(proxy)
        .timeout_connect(Some(Duration::from_secs(30)))
        // Per read, not in total: a slow link may take long for CIFAR-10's 162 MiB, a dead one may not.
        .timeout_per_read(Some(Duration::from_secs(60)))
        .user_agent(concat!("layerwise/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

fn download(agent: &ureq::Agent, url: &str, target: &Path, md5: &str) -> Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // Deleted on drop: every early return below removes the partial file.
    let mut tmp = tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".part").tempfile_in(dir).at(dir)?;
    let mut resp = agent.get(url).call().map_err(|e| request_error(url, target, e))?;
    let total = resp.body().content_length();
    let mut body = resp.body_mut().as_reader();
    let mut progress = Progress::start(&name, url, total);
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut got = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                progress.abandon();
                let of = total.map(|t| format!(" of {t}")).unwrap_or_default();
                return Err(Error::data(
                    target,
                    format!("the download of {url} failed after {got}{of} bytes: {e}; the partial file was deleted"),
                ));
            }
        };
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n]).at(tmp.path())?;
        got += n as u64;
        progress.advance(got);
    }
    if let Some(t) = total.filter(|&t| t != got) {
        progress.abandon();
        return Err(Error::data(target, format!("{url} sent {got} of {t} bytes; the partial file was deleted")));
    }
    let digest = hex(&hasher.finalize());
    if !digest.eq_ignore_ascii_case(md5) {
        progress.abandon();
        return Err(Error::data(
            target,
            format!(
                "checksum mismatch for {url}: md5 {digest}, expected {md5} ({got} bytes received); the download was \
                 deleted. Try again; if it persists, the server sends a different file"
            ),
        ));
    }
    tmp.as_file().sync_all().at(tmp.path())?;
    tmp.persist(target).map_err(|e| Error::io(target, e.error))?;
    progress.finish(&name);
    Ok(())
}

fn request_error(url: &str, target: &Path, e: ureq::Error) -> Error {
    let msg = match e {
        ureq::Error::StatusCode(code) => format!("the server answered HTTP {code} for {url}"),
        e => format!(
            "could not download {url}: {e}. Are you offline? Check the network (and HTTPS_PROXY/HTTP_PROXY if a \
             proxy is needed), or copy the file into {} by hand",
            target.parent().unwrap_or(Path::new(".")).display()
        ),
    };
    Error::data(target, msg)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn md5_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).at(path)?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match f.read(&mut buf).at(path)? {
            0 => break,
            n => hasher.update(&buf[..n]),
        }
    }
    Ok(hex(&hasher.finalize()))
}

/// Unpack the batches and batches.meta.txt of the official CIFAR-10 binary archive (cifar-10-binary.tar.gz,
/// members under cifar-10-batches-bin/) flat into `dest`. Each member goes to a temp file first; all are
/// renamed only once the whole archive has been read, data_batch_1.bin (what `load` looks for) last.
pub fn unpack_cifar10_binary(archive_path: &Path, dest: &Path) -> Result<()> {
    std::fs::create_dir_all(dest).at(dest)?;
    let names = cifar::member_names();
    let base = |inner: &str| inner.rsplit('/').next().unwrap_or(inner).to_string();
    let mut unpacked: Vec<(String, tempfile::NamedTempFile)> = Vec::new();
    eprintln!("unpacking {} into {}", archive_path.display(), dest.display());
    archive::for_each_file(
        archive_path,
        |inner| names.contains(&base(inner).as_str()),
        |inner, entry, _| {
            let name = base(inner);
            if unpacked.iter().any(|(n, _)| *n == name) {
                return Ok(()); // a duplicate member: the first one wins
            }
            let mut tmp = tempfile::Builder::new().prefix(&format!(".{name}.")).tempfile_in(dest).at(dest)?;
            std::io::copy(entry, &mut tmp)
                .map_err(|e| Error::data(archive_path, format!("cannot unpack {inner} (corrupt archive?): {e}")))?;
            unpacked.push((name, tmp));
            Ok(())
        },
    )?;
    for name in cifar::TRAIN_BATCHES.iter().chain([&cifar::TEST_BATCH]) {
        if !unpacked.iter().any(|(n, _)| n == name) {
            return Err(Error::data(archive_path, format!("holds no {name}: is this the CIFAR-10 binary archive?")));
        }
    }
    unpacked.sort_by_key(|(n, _)| n == cifar::TRAIN_BATCHES[0]);
    for (name, tmp) in unpacked {
        let target = dest.join(&name);
        tmp.persist(&target).map_err(|e| Error::io(&target, e.error))?;
    }
    Ok(())
}
