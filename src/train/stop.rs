//! A graceful stop: something outside the trainer (the CLI's handler of SIGINT, SIGTERM and SIGHUP)
//! asks for it, and the epoch loop honours it after the step in progress: it writes a checkpoint and
//! returns `Error::Stopped`. Nothing stops in the middle of a step or of a file write.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Ask the run in progress to stop after its current step. Returns whether a stop was already asked
/// for (a second request is the caller's cue to stop at once).
pub fn request_stop() -> bool {
    REQUESTED.swap(true, Ordering::SeqCst)
}

/// Whether a stop has been asked for.
pub fn stop_requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
