// Writes one per-channel result from the workspace tail into a caller tensor: a copy (saved statistics,
// d_gamma, d_beta) or a running average out = (1 - momentum) * out + momentum * value (running stats).
// A separate dispatch per output because outputs may share a buffer (arenas), and one buffer may not be
// bound writable twice in one dispatch. Used by both directions.
// #include "common/batchnorm.wgsl"
@group(0) @binding(1) var<storage, read> ws: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    for (var ch = gid.x; ch < p.c; ch += grid_stride(nwg)) {
        let v = ws[tail(p.slot, ch)];
        if p.mode == 1u {
            out[ch] = (1.0 - p.momentum) * out[ch] + p.momentum * v;
        } else {
            out[ch] = v;
        }
    }
}
