//! One error type for the library. Every failure a user can cause (bad flags, bad files, a GPU too small)
//! becomes a message that says what was wrong and what to do; the CLI maps it to exit code 2 (usage),
//! 3 (stopped by a signal) or 1.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user asked for something invalid (flag, config value, preset name). Exit code 2.
    #[error("{0}")]
    Usage(String),
    /// No GPU adapter matched the request.
    #[error("no GPU adapter found{0}.\n  Linux: install a Vulkan driver, e.g. `sudo apt-get install mesa-vulkan-drivers libvulkan1` (Mesa's lavapipe runs on the CPU);\n  macOS: Metal is built in; Windows: update the GPU driver (DX12/Vulkan).\n  `layerwise devices` lists what wgpu can see.")]
    NoAdapter(String),
    /// The device rejected something (pipeline, buffer) or was lost.
    #[error("GPU error: {0}")]
    Gpu(String),
    /// An allocation does not fit the adapter's limits or memory.
    #[error("the GPU cannot hold this: {what} needs {needed_mib:.1} MiB but {limit}. {hint}")]
    OutOfMemory { what: String, needed_mib: f64, limit: String, hint: String },
    /// A dataset or checkpoint file is missing, truncated or malformed.
    #[error("{path}: {msg}")]
    Data { path: PathBuf, msg: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// Training diverged (NaN or Inf loss).
    #[error("{0}")]
    NonFinite(String),
    /// Training stopped on request (SIGINT, SIGTERM, SIGHUP) after writing a checkpoint. Exit code 3.
    #[error("{0}")]
    Stopped(String),
}

/// Exit code of a run stopped by a signal after it wrote a checkpoint (resume it with `--resume`).
pub const EXIT_STOPPED: i32 = 3;
/// Exit code of a run stopped at once by a second signal (it resumes from its last checkpoint).
pub const EXIT_STOPPED_AT_ONCE: i32 = 130;

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }
    pub fn gpu(msg: impl Into<String>) -> Self {
        Error::Gpu(msg.into())
    }
    pub fn data(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Error::Data { path: path.as_ref().to_path_buf(), msg: msg.into() }
    }
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io { path: path.as_ref().to_path_buf(), source }
    }
    /// Process exit code: 2 for usage errors (as clap uses), `EXIT_STOPPED` (3) for a run stopped by a
    /// signal, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            Error::Stopped(_) => EXIT_STOPPED,
            _ => 1,
        }
    }
}

/// Attach a path to an `io::Result`.
pub trait IoContext<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}
