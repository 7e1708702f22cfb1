// Shared by the conv2d cores for CPU adapters such as Mesa's lavapipe (lib/conv2d_lanes.wgsl,
// lib/conv2d_runs.wgsl, lib/conv2d_backward_weight_lanes.wgsl), and why they are shaped as they are.
// Such drivers run a subgroup of 8 invocations as one SIMD vector, but a load or store
// whose address differs between invocations runs as a loop over the lanes and costs as much as ~20
// fused multiply-adds. Everything here is arranged to do few such accesses per FMA:
// - one workgroup is one subgroup of LANES invocations (needs subgroups of at least 8), so there is no
//   workgroup memory and no barrier;
// - each lane owns TM output pixels (weight gradient: TM weight columns) and all TN output columns (output
//   channels) of the tile; per reduction step it loads
//   its TM source values, and the TN weights of the step are loaded once per subgroup, TN / 8 per lane,
//   then passed around with subgroupShuffle, which never leaves the registers;
// - every loop over TM, TN or a window has a constant trip count, so the driver unrolls it and the
//   accumulators live in registers (a dynamically indexed array would be spilled to memory per lane).
// The variant (src/ops/conv2d/variants.rs) sets TM (pixels per lane) and TN (columns per tile, a multiple
// of 8).
const LANES: u32 = 8u;
const TQ: u32 = TN / LANES;  // weights each lane loads per reduction step
const TC: u32 = TN / 4u;     // vec4 accumulators per pixel

// Columns 4c..4c+3 of the tile from the TQ values each lane holds (column 8q + lane in b[q]), broadcast
// to the whole subgroup. Call only where every lane is active.
fn lanes_columns(b: array<f32, TQ>, c: u32) -> vec4<f32> {
    let bq = b[c / 2u];
    let r = (c % 2u) * 4u;
    return vec4<f32>(subgroupShuffle(bq, r), subgroupShuffle(bq, r + 1u), subgroupShuffle(bq, r + 2u), subgroupShuffle(bq, r + 3u));
}

fn lanes_tile(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.z * nwg.y + wid.y;
}
