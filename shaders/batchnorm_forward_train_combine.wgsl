// Training batchnorm, pass 2: fold the per-chunk (mean, M2) partials in chunk order, one thread per
// channel. Tail: slot 0 = batch mean, 1 = 1/sqrt(biased var + eps), 2 = unbiased var (running stats),
// 3 = batch mean - x[0, c] (lets pass 3 centre without the rounding of a large mean).
// #include "common/batchnorm.wgsl"
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> ws: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    for (var ch = gid.x; ch < p.c; ch += grid_stride(nwg)) {
        var acc = vec3<f32>(0.0);
        for (var k = 0u; k < p.chunks; k++) {
            acc = chan(acc, vec3<f32>(f32(chunk_len(k)), ws[k * p.c + ch], ws[part_b(k, ch)]));
        }
        // The statistics pass worked on x - x[0, c].
        ws[tail(0u, ch)] = x[ch] + acc.y;
        ws[tail(1u, ch)] = 1.0 / sqrt(acc.z * p.inv_m + p.eps);
        ws[tail(2u, ch)] = acc.z / f32(p.m - 1u);
        ws[tail(3u, ch)] = acc.y;
    }
}
