// Shared by the batchnorm kernels: one uniform block, the workspace layout and Chan's combine.
//
// V, the element type, is the variant's (src/ops/grid.rs `Variants`): f32 (any C) or vec4<f32> (C % 4 == 0,
// four channels per thread: CPU drivers pay per load, not per float); arrays are of V, so
// `len` = C / (floats per V) and channel index `u` counts V elements.
//
// x is [M, C] (every leading dimension folded into M), channels contiguous, covered as a grid of M rows
// x `len` positions (lib/grid.wgsl): each thread owns one channel and walks `span` rows of it. The
// statistics kernels leave one partial per (row block, channel) in the workspace, the combine kernels
// fold them in block order (fixed, so results are bit-reproducible) and write the per-channel results,
// the element-wise kernels read those from the workspace tail:
//   ws[k * len + u]                 partial A of block k
//   ws[(K + k) * len + u]           partial B of block k
//   ws[(2 * K + s) * len + u]       tail slot s (0..5)
// #include "lib/grid.wgsl"
struct Params {
    // The grid over [M, len] (src/ops/grid.rs).
    rows: u32,
    len: u32,
    cw: u32,
    lanes: u32,
    span: u32,
    // K, the statistics kernels' row blocks.
    blocks: u32,
    relu: u32,
    _p0: u32,
    eps: f32,
    momentum: f32,
    inv_m: f32,
    _p1: f32,
}
@group(0) @binding(0) var<uniform> p: Params;


fn part_a(block: u32, u: u32) -> u32 {
    return block * p.len + u;
}

fn part_b(block: u32, u: u32) -> u32 {
    return (p.blocks + block) * p.len + u;
}

fn tail(slot: u32, u: u32) -> u32 {
    return (2u * p.blocks + slot) * p.len + u;
}

// Rows in statistics block k (the last one may be short).
fn block_rows(k: u32) -> u32 {
    let b = p.lanes * p.span;
    return min(b, p.rows - k * b);
}

// (count, mean, M2) of a set of rows, per channel.
struct Stat {
    n: f32,
    mean: V,
    m2: V,
}

// Merge two summaries (Chan, Golub and LeVeque). Stable: only the difference of the two means is
// squared, never a raw second moment.
fn chan(a: Stat, b: Stat) -> Stat {
    if b.n == 0.0 {
        return a;
    }
    if a.n == 0.0 {
        return b;
    }
    let n = a.n + b.n;
    let d = b.mean - a.mean;
    let f = b.n / n;
    return Stat(n, a.mean + d * f, a.m2 + b.m2 + d * d * (a.n * f));
}
