//! layerwise: greedy layerwise and decoupled greedy learning of CNNs on any GPU wgpu can drive.

pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod data;
pub mod error;
pub mod fsutil;
pub mod gpu;
pub mod metrics;
pub mod model;
pub mod ops;
pub mod presets;
pub mod reference;
pub mod rng;
pub mod study;
pub mod train;
pub mod viz;

pub use error::{Error, Result};
