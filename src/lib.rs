//! layerwise: greedy layerwise and decoupled greedy learning of CNNs on any GPU wgpu can drive.

pub mod error;
pub mod gpu;
pub mod metrics;
pub mod ops;
pub mod reference;
pub mod viz;

pub use error::{Error, Result};
