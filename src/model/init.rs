//! A block's initial parameters and batchnorm statistics, drawn from a generator seeded by the run's seed
//! and the block's name, as its `Init` says.

use super::{BlockSpec, Init, Layer};
use crate::rng::SplitMix;

/// The block's parameters as its `init` says (`Init`; batchnorm gamma 1, beta 0), drawn from a seeded
/// generator so a run is reproducible.
pub fn init_params(spec: &BlockSpec, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = SplitMix::new(seed ^ fnv(&spec.name));
    spec.param_specs()
        .iter()
        .map(|(name, shape, li)| {
            let len: usize = shape.iter().product();
            let fan_in = |inputs: usize| 1.0 / (inputs as f64).sqrt();
            match (spec.layers[*li], spec.init) {
                (Layer::BatchNorm { .. }, _) => batchnorm_init(name, len),
                // A residual block's only vectors are its batchnorms' (its convs have no bias).
                (Layer::Residual(_), _) if shape.len() == 1 => batchnorm_init(name, len),
                (Layer::Conv { .. } | Layer::ConvStride2 { .. } | Layer::Residual(_), Init::ResNet | Init::Vgg)
                    if shape.len() == 4 =>
                {
                    // Kaiming-normal, fan_out, gain sqrt(2): [Cout, k, k, Cin] has fan_out Cout k k.
                    normal(&mut rng, len, (2.0 / (shape[0] * shape[1] * shape[2]) as f64).sqrt())
                }
                (Layer::Conv { .. }, Init::Vgg) => vec![0.0; len],
                (Layer::Linear { .. }, Init::Vgg) if shape.len() == 2 => normal(&mut rng, len, 0.01),
                (Layer::Linear { .. }, Init::Vgg) => vec![0.0; len],
                (Layer::Conv { cin, k, .. } | Layer::ConvStride2 { cin, k, .. }, _) => {
                    uniform(&mut rng, len, fan_in(cin * k * k))
                }
                (Layer::Linear { inputs, .. }, _) => uniform(&mut rng, len, fan_in(inputs)),
                _ => unreachable!("only convs, linear layers, batchnorms and residual blocks have parameters"),
            }
        })
        .collect()
}

fn batchnorm_init(name: &str, len: usize) -> Vec<f32> {
    vec![if name.ends_with(".weight") { 1.0 } else { 0.0 }; len]
}

pub fn init_state(spec: &BlockSpec) -> Vec<Vec<f32>> {
    spec.state_specs()
        .iter()
        .map(|(name, shape, _)| vec![if name.ends_with("running_var") { 1.0 } else { 0.0 }; shape.iter().product()])
        .collect()
}

fn uniform(rng: &mut SplitMix, len: usize, bound: f64) -> Vec<f32> {
    (0..len).map(|_| ((rng.next_f64() * 2.0 - 1.0) * bound) as f32).collect()
}

fn normal(rng: &mut SplitMix, len: usize, std: f64) -> Vec<f32> {
    (0..len).map(|_| (rng.normal() * std) as f32).collect()
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}
