//! The conv2d kernel variants, listed once. A variant is a direction (its body,
//! `shaders/conv2d_<direction>.wgsl`: bindings and accessors) and a tiling (the core from `shaders/lib/` that
//! runs it, and that core's numbers). Each variant's name, shader definitions, needs and dispatch geometry
//! derive from this table: adding one is a line of data (the unit tests check that its numbers fit its
//! core), after which it is compiled, tested against the CPU reference, translated to every shader backend
//! and considered by `conv2d_choose` like the others.

use std::borrow::Cow;
use std::sync::LazyLock;

use super::Conv2dShape;
use crate::error::{Error, Result};
use crate::gpu::{Access, AdapterSummary, Define, Gpu, KernelSpec};
use Conv2dTiling::{Lanes, Runs, Tiled};

/// The three GEMMs of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Conv2dDirection {
    Forward,
    BackwardInput,
    BackwardWeight,
}

impl Conv2dDirection {
    pub const ALL: [Conv2dDirection; 3] =
        [Conv2dDirection::Forward, Conv2dDirection::BackwardInput, Conv2dDirection::BackwardWeight];

    /// The direction's host function and shader body, e.g. `conv2d_backward_input`.
    pub fn op(self) -> &'static str {
        match self {
            Conv2dDirection::Forward => "conv2d_forward",
            Conv2dDirection::BackwardInput => "conv2d_backward_input",
            Conv2dDirection::BackwardWeight => "conv2d_backward_weight",
        }
    }

    fn bindings(self) -> &'static [Access] {
        match self {
            // x, w, bias, y
            Conv2dDirection::Forward => &[Access::Read, Access::Read, Access::Read, Access::ReadWrite],
            // d_y, w, d_x; x, d_y, split-K partials
            _ => &[Access::Read, Access::Read, Access::ReadWrite],
        }
    }
}

/// How a kernel variant covers its GEMM C[rows, cols]: rows are pixels and cols output channels for the
/// forward pass (Cout) and the input gradient (Cin); for the weight gradient rows are Cout and cols the
/// KH*KW*Cin (+1 bias) weights per output channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Conv2dTiling {
    /// Workgroup-memory tiled GEMM for GPUs (shaders/lib/gemm.wgsl): `bm` x `bn` outputs per workgroup of
    /// 256 threads, `tm` x `tn` per thread, `bk` reduction steps per staged tile.
    Tiled { bm: usize, bn: usize, tm: usize, tn: usize, bk: usize },
    /// For CPU adapters: one subgroup of 8 per workgroup, `tm` rows per lane x `tn` columns (for the
    /// weight gradient: `tm` weight columns per lane x `tn` output channels).
    Lanes { tm: usize, tn: usize },
    /// For CPU adapters and 3-wide kernels at stride 1: runs of `tm` adjacent pixels of one image row per lane x `tn`
    /// columns; the source pixels under a run are loaded once for all three taps.
    Runs { tm: usize, tn: usize },
}

/// The GPU tiles of every direction, from 128 x 128 (8 x 8 outputs per thread) down to 64 x 64 and
/// 128 x 32 / 32 x 128 for narrow problems; `conv2d_choose` breaks ties towards the earlier one.
const TILES: [Conv2dTiling; 6] = [
    Tiled { bm: 128, bn: 128, tm: 8, tn: 8, bk: 8 },
    Tiled { bm: 128, bn: 64, tm: 8, tn: 4, bk: 8 },
    Tiled { bm: 64, bn: 128, tm: 4, tn: 8, bk: 8 },
    Tiled { bm: 64, bn: 64, tm: 4, tn: 4, bk: 16 },
    Tiled { bm: 128, bn: 32, tm: 4, tn: 4, bk: 16 },
    Tiled { bm: 32, bn: 128, tm: 4, tn: 4, bk: 16 },
];

/// The CPU-adapter variants of the forward pass and the input gradient.
const FORWARD_LANES: [Conv2dTiling; 8] = [
    Lanes { tm: 4, tn: 16 },
    Lanes { tm: 4, tn: 32 },
    Runs { tm: 4, tn: 16 },
    Runs { tm: 7, tn: 16 },
    Runs { tm: 8, tn: 16 },
    Runs { tm: 4, tn: 32 },
    Runs { tm: 7, tn: 32 },
    Runs { tm: 8, tn: 32 },
];

/// The CPU-adapter variants of the weight gradient.
const WEIGHT_LANES: [Conv2dTiling; 3] = [Lanes { tm: 2, tn: 16 }, Lanes { tm: 8, tn: 16 }, Lanes { tm: 8, tn: 32 }];

/// Every conv2d kernel variant: per direction, the GPU tiles, then the CPU-adapter variants.
pub static CONV2D_KERNELS: LazyLock<Vec<Conv2dKernel>> = LazyLock::new(|| {
    Conv2dDirection::ALL
        .into_iter()
        .flat_map(|d| {
            let lanes: &[Conv2dTiling] =
                if d == Conv2dDirection::BackwardWeight { &WEIGHT_LANES } else { &FORWARD_LANES };
            TILES.iter().chain(lanes).map(move |&t| Conv2dKernel::new(d, t))
        })
        .collect()
});

/// The variants of one direction.
pub fn conv2d_kernels(direction: Conv2dDirection) -> impl Iterator<Item = &'static Conv2dKernel> {
    CONV2D_KERNELS.iter().filter(move |k| k.direction == direction)
}

/// One kernel variant: which direction, how it tiles, and the spec its pipeline is compiled from.
#[derive(Debug)]
pub struct Conv2dKernel {
    pub direction: Conv2dDirection,
    pub tiling: Conv2dTiling,
    pub spec: KernelSpec,
}

/// The core that runs `tiling` for `direction` (the entry point; the body provides the bindings).
fn core(direction: Conv2dDirection, tiling: Conv2dTiling) -> &'static str {
    match (direction, tiling) {
        (Conv2dDirection::BackwardWeight, Tiled { .. }) => "lib/conv2d_backward_weight_tiled",
        (Conv2dDirection::BackwardWeight, Lanes { .. }) => "lib/conv2d_backward_weight_lanes",
        (Conv2dDirection::BackwardWeight, Runs { .. }) => panic!("the weight gradient has no run kernel"),
        (_, Tiled { .. }) => "lib/conv2d_tiled",
        (_, Lanes { .. }) => "lib/conv2d_lanes",
        (_, Runs { .. }) => "lib/conv2d_runs",
    }
}

impl Conv2dKernel {
    fn new(direction: Conv2dDirection, tiling: Conv2dTiling) -> Conv2dKernel {
        let u = |name, v: usize| Define::U32(name, v as u32);
        let (suffix, defines) = match tiling {
            Tiled { bm, bn, tm, tn, bk } => {
                (format!("{bm}x{bn}"), vec![u("BM", bm), u("BN", bn), u("TM", tm), u("TN", tn), u("BK", bk)])
            }
            Lanes { tm, tn } => (format!("lanes{tm}x{tn}"), vec![u("TM", tm), u("TN", tn)]),
            Runs { tm, tn } => (format!("runs{tm}x{tn}"), vec![u("TM", tm), u("TN", tn)]),
        };
        let spec = KernelSpec {
            name: Cow::Owned(format!("{}_{suffix}", direction.op())),
            core: Some(core(direction, tiling)),
            defines: Cow::Owned(defines),
            // The CPU-adapter cores exchange values with subgroup shuffles.
            needs_subgroups: !matches!(tiling, Tiled { .. }),
            ..KernelSpec::new(direction.op(), direction.bindings())
        };
        Conv2dKernel { direction, tiling, spec }
    }

    /// Whether this variant can run shape `s` on `gpu`.
    pub fn supports(&self, gpu: &Gpu, s: &Conv2dShape) -> bool {
        self.supports_on(&gpu.summary, s)
    }

    /// `supports` for an adapter described by its summary (one that is not open, e.g. to plan for it).
    pub fn supports_on(&self, adapter: &AdapterSummary, s: &Conv2dShape) -> bool {
        match self.tiling {
            Tiled { .. } => true,
            Lanes { .. } => has_lanes(adapter),
            // Runs step through the source a pixel at a time, three taps wide.
            Runs { .. } => has_lanes(adapter) && s.kw == 3 && s.stride == 1,
        }
    }

    /// The name used in profiles and benchmark reports, e.g. `conv2d_forward_runs7x32`.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub(super) fn check(&self, gpu: &Gpu, s: &Conv2dShape, direction: Conv2dDirection) -> Result<()> {
        assert_eq!(self.direction, direction, "{} is not a {direction:?} kernel", self.name());
        if self.supports(gpu, s) {
            Ok(())
        } else {
            Err(Error::gpu(format!(
                "{} cannot run {s:?} on {} (it needs subgroups of at least 8 invocations{})",
                self.name(),
                gpu.summary.name,
                if matches!(self.tiling, Runs { .. }) { " and a kernel 3 wide at stride 1" } else { "" }
            )))
        }
    }
}

/// Whether the adapter can run the CPU-adapter kernels: they exchange values with subgroup shuffles
/// across a workgroup of 8 invocations, which must therefore form one subgroup.
pub(super) fn has_lanes(a: &AdapterSummary) -> bool {
    a.subgroup && a.subgroup_size.0 >= 8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers each core assumes (shaders/lib/gemm.wgsl, lanes.wgsl and the cores): a new variant that
    /// breaks one fails here rather than computing garbage.
    #[test]
    fn every_variant_fits_its_core() {
        for k in CONV2D_KERNELS.iter() {
            let ok = match k.tiling {
                // 256 threads of tm x tn outputs in vec4 groups; whole passes when staging a tile's
                // BM x BK and BN x BK elements, with threads running along BK, BM or BN.
                Tiled { bm, bn, tm, tn, bk } => {
                    (bm / tm) * (bn / tn) == 256
                        && bm % tm == 0
                        && bn % tn == 0
                        && tm % 4 == 0
                        && tn % 4 == 0
                        && (bm * bk) % 256 == 0
                        && (bn * bk) % 256 == 0
                        && 256 % bk == 0
                        && 256 % bm == 0
                        && 256 % bn == 0
                }
                // Columns are shuffled across 8 lanes, 4 at a time.
                Lanes { tm, tn } | Runs { tm, tn } => tm > 0 && tn % 8 == 0,
            };
            assert!(ok, "{} does not fit its core: {:?}", k.name(), k.tiling);
        }
    }

    #[test]
    fn variants_have_distinct_names_and_specs_of_their_direction() {
        let mut names: Vec<&str> = CONV2D_KERNELS.iter().map(|k| k.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CONV2D_KERNELS.len(), "the pipeline cache is keyed by name");
        for d in Conv2dDirection::ALL {
            for k in conv2d_kernels(d) {
                assert!(k.name().starts_with(d.op()) && k.spec.shader == d.op(), "{}", k.name());
            }
        }
        assert_eq!(
            Conv2dDirection::ALL.map(|d| conv2d_kernels(d).count()),
            [TILES.len() + FORWARD_LANES.len(), TILES.len() + FORWARD_LANES.len(), TILES.len() + WEIGHT_LANES.len()]
        );
        assert_eq!(CONV2D_KERNELS[1].name(), "conv2d_forward_128x64");
    }
}
