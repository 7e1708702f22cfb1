//! layerwise: greedy layerwise and decoupled greedy learning of CNNs on any GPU wgpu can drive.
// Kernels and their CPU mirrors take every tensor explicitly, in the same order; that is the point.
#![allow(clippy::too_many_arguments)]

pub mod bench;
pub mod error;
pub mod gpu;
pub mod metrics;
pub mod ops;
pub mod reference;

pub use error::{Error, Result};
