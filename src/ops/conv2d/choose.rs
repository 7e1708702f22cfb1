//! Which variant runs a convolution: the CPU-adapter variants on CPU adapters that can run them, the GPU
//! tiles elsewhere, and within that family the cheapest by a cost model of what bounds it.

use super::variants::{conv2d_kernels, has_lanes, Conv2dDirection, Conv2dKernel, Conv2dTiling};
use super::Conv2dShape;
use crate::gpu::{AdapterSummary, Gpu};
use Conv2dTiling::{Lanes, Runs, Tiled};

/// CPU adapters (lavapipe, SwiftShader, WARP) get the lanes kernels when they can run them.
fn prefers_lanes(a: &AdapterSummary) -> bool {
    a.device_type == "Cpu" && has_lanes(a)
}

/// The forward-like GEMM of a direction: (rows, output columns, reduction taps per row, source channels).
/// The input gradient's rows are d_x's pixels; at stride 2 each phase reduces over the taps that reach it,
/// a quarter of them on average.
fn gemm_of(direction: Conv2dDirection, s: &Conv2dShape) -> (usize, usize, f64, usize) {
    let taps = (s.kh * s.kw) as f64;
    match direction {
        Conv2dDirection::Forward => (s.m(), s.cout, taps, s.cin),
        Conv2dDirection::BackwardInput => (s.input_pixels(), s.cin, taps / (s.stride * s.stride) as f64, s.cout),
        Conv2dDirection::BackwardWeight => (s.cout, s.k() + 1, s.m() as f64, 1),
    }
}

/// Relative cost of running `k` on `s`, in the unit the kernel family is bound by. Only compared between
/// kernels of one family.
fn cost(k: &Conv2dKernel, s: &Conv2dShape) -> f64 {
    let (rows, cols, taps, src) = gemm_of(k.direction, s);
    match (k.tiling, k.direction) {
        (Lanes { tm, tn }, Conv2dDirection::BackwardWeight) => {
            let groups = (s.k() + 1).div_ceil(8 * tm) * s.cout.div_ceil(tn);
            lanes_cost(groups, s.m() as f64, tm + tn / 8, tm * tn, tm * tn)
        }
        (Lanes { tm, tn }, _) => {
            lanes_cost(rows.div_ceil(8 * tm) * cols.div_ceil(tn), taps * src as f64, tm + tn / 8, tm * tn, tm * tn)
        }
        (Runs { tm, tn }, _) => {
            let groups = (s.n * s.h * s.w.div_ceil(tm)).div_ceil(8) * cols.div_ceil(tn);
            lanes_cost(groups, (s.kh * src) as f64, tm + 2 + 3 * tn / 8, 3 * tm * tn, tm * tn)
        }
        (Tiled { bm, bn, tm, tn, .. }, dir) => {
            // GPUs: the time of the waves of workgroups over a large GPU (132 SMs, as many resident
            // workgroups per SM as registers allow), each running at the tile's relative FMA rate: 8 x 8
            // outputs per thread read 1 shared vec4 per 16 FMAs, which keeps the FMA units busy; 8 x 4
            // and 4 x 4 read 1 per 10.7 and 8, and are bound by shared-memory bandwidth. The weight
            // gradient fills the GPU with split-K, so only its padded work counts.
            let (eff, per_sm) = match (tm, tn) {
                (8, 8) => (0.9, 2),
                (8, 4) | (4, 8) => (0.67, 3),
                _ => (0.5, 4),
            };
            let tiles = rows.div_ceil(bm) * cols.div_ceil(bn);
            let slots = 132 * per_sm;
            let waves = if dir == Conv2dDirection::BackwardWeight {
                tiles as f64 / slots as f64
            } else {
                tiles.div_ceil(slots) as f64
            };
            waves * (per_sm * bm * bn) as f64 / eff
        }
    }
}

/// CPU adapters: per-lane memory accesses of `groups` subgroups (`loads` per reduction step, then the
/// `stores`), an FMA counted as 1/20 of one (measured on lavapipe: a lane-varying load of 8 lanes costs
/// about as much as 18 8-wide FMAs).
fn lanes_cost(groups: usize, steps: f64, loads: usize, fmas: usize, stores: usize) -> f64 {
    const FMA: f64 = 0.05;
    groups as f64 * (steps * (loads as f64 + FMA * fmas as f64) + stores as f64)
}

/// The kernel `conv2d_forward` / `_backward_input` / `_backward_weight` use for `s` on `gpu`: the lanes
/// kernels on CPU adapters that can run them, the tiled ones elsewhere; within a family the cheapest by
/// `cost` (ties go to the earlier, bigger tile).
pub fn conv2d_choose(gpu: &Gpu, s: &Conv2dShape, direction: Conv2dDirection) -> &'static Conv2dKernel {
    conv2d_choose_for(&gpu.summary, s, direction)
}

/// `conv2d_choose` for an adapter described by its summary.
pub fn conv2d_choose_for(
    adapter: &AdapterSummary,
    s: &Conv2dShape,
    direction: Conv2dDirection,
) -> &'static Conv2dKernel {
    let lanes = prefers_lanes(adapter);
    conv2d_kernels(direction)
        .filter(|k| matches!(k.tiling, Tiled { .. }) != lanes && k.supports_on(adapter, s))
        .fold(None::<(&'static Conv2dKernel, f64)>, |best, k| {
            let c = cost(k, s);
            match best {
                Some((_, b)) if b <= c => best,
                _ => Some((k, c)),
            }
        })
        .map(|(k, _)| k)
        .expect("every direction has tiled kernels, which run everywhere")
}
