//! Files that must never be left half-written: write to a temporary file in the same folder, fsync it,
//! rename it over the target (atomic on POSIX and NTFS), then fsync the folder so the rename survives a
//! power cut. And the exclusive lock a process holds on a folder while it writes there.

use std::fs::File;

use fs4::TryLockError;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// `.NAME.tmp-PID`: where `atomic_write` writes `path` before renaming it.
fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = File::create(&tmp).at(&tmp)?;
        f.write_all(bytes).at(&tmp)?;
        f.sync_all().at(&tmp)?;
        drop(f);
        std::fs::rename(&tmp, path).at(path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Whether `name` is a temporary file of `atomic_write` (`.NAME.tmp-PID`).
fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.rsplit_once(".tmp-").is_some_and(|(_, pid)| pid.parse::<u32>().is_ok())
}

/// Remove the temporary files that processes killed in the middle of `atomic_write` left in `dir`
/// (each as large as the file it was writing: a checkpoint can take gigabytes). Call it only while
/// holding `dir`'s `FolderLock`: then no other process is writing there, and every such file is stale.
/// Returns the files removed.
pub fn remove_stale_temps(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let own = format!(".tmp-{}", std::process::id());
    for e in std::fs::read_dir(dir).at(dir)? {
        let e = e.at(dir)?;
        let name = e.file_name().to_string_lossy().into_owned();
        if is_temp_name(&name) && !name.ends_with(&own) && e.file_type().at(e.path())?.is_file() {
            std::fs::remove_file(e.path()).at(e.path())?;
            removed.push(e.path());
        }
    }
    Ok(removed)
}

/// An exclusive lock on a folder (an OS file lock on `FILE` in it, holding the holder's PID), held as
/// long as the value lives. The OS releases it when the process exits or is killed, so a crash never
/// leaves a folder locked. `fs4`'s (flock on Unix, LockFileEx on Windows): std's `File::try_lock` is
/// the same, but newer than this crate's minimum Rust.
pub struct FolderLock {
    _file: File,
}

impl FolderLock {
    /// Take the lock on `dir` (which must exist) through its file `name`, or say which process holds it.
    pub fn take(dir: &Path, name: &str) -> Result<FolderLock> {
        let path = dir.join(name);
        let mut file =
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).at(&path)?;
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => {
                // Who holds it, for the message another process prints (best effort: the lock is what counts).
                let _ = file.set_len(0).and_then(|_| file.write_all(format!("{}\n", std::process::id()).as_bytes()));
                Ok(FolderLock { _file: file })
            }
            Err(TryLockError::WouldBlock) => {
                // Windows locks are mandatory: there the holder's PID cannot be read while it holds the lock.
                let pid = std::fs::read_to_string(&path).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
                let holder = pid.map_or("another process".to_string(), |p| format!("another process (PID {p})"));
                Err(Error::usage(format!(
                    "{} is in use by {holder}: one process at a time may write a run folder. Wait for it to end or stop it; to train anyway, choose another --out",
                    dir.display()
                )))
            }
            Err(TryLockError::Error(e)) => Err(Error::io(&path, e)),
        }
    }
}
