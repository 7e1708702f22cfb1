// Shared by the batchnorm kernels: one uniform block, the workspace layout and Chan's combine.
//
// x is [M, C] (every leading dimension folded into M), channels contiguous. The rows are cut into
// `chunks` chunks of `rows` rows (the last one shorter); a statistics pass writes one partial per
// (chunk, channel) into the workspace, a combine pass folds the partials in chunk order (fixed, so
// results are bit-reproducible), and the per-channel results go to the workspace tail:
//   ws[0 .. K*C]          partial A per (chunk, channel)
//   ws[K*C .. 2*K*C]      partial B per (chunk, channel)
//   ws[2*K*C + s*C ..]    tail slot s (0..5), one value per channel
// #include "common/util.wgsl"
struct Params {
    m: u32,
    c: u32,
    rows: u32,
    chunks: u32,
    // Channels a statistics workgroup covers (a power of two <= 64); 256 / tc row lanes share each.
    tc: u32,
    relu: u32,
    // batchnorm_store: the tail slot to read and how to write it (0: copy, 1: running average).
    slot: u32,
    mode: u32,
    eps: f32,
    momentum: f32,
    inv_m: f32,
    _p0: u32,
}
@group(0) @binding(0) var<uniform> p: Params;

fn part_b(chunk: u32, ch: u32) -> u32 {
    return (p.chunks + chunk) * p.c + ch;
}

fn tail(slot: u32, ch: u32) -> u32 {
    return (2u * p.chunks + slot) * p.c + ch;
}

// Rows in chunk `k` (the last chunk holds the remainder).
fn chunk_len(k: u32) -> u32 {
    return min(p.rows, p.m - k * p.rows);
}

// Merge two (count, mean, M2) summaries (Chan, Golub and LeVeque). Stable: only the difference of the
// two means is squared, never a raw second moment.
fn chan(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
    if b.x == 0.0 {
        return a;
    }
    if a.x == 0.0 {
        return b;
    }
    let n = a.x + b.x;
    let d = b.y - a.y;
    let f = b.x / n;
    return vec3<f32>(n, a.y + d * f, a.z + b.z + d * d * a.x * f);
}
