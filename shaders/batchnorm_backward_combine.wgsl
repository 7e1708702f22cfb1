// Batchnorm backward, pass 2: sum the per-chunk partials in chunk order, one thread per channel.
// Tail: slot 0 = d_beta = sum(g), 1 = d_gamma = sum(g * xhat), 2 = mean, 3 = invstd, 4 = gamma * invstd
// (everything pass 3 needs, so it binds few buffers).
// #include "common/batchnorm.wgsl"
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> save_mean: array<f32>;
@group(0) @binding(3) var<storage, read> save_invstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> ws: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    for (var ch = gid.x; ch < p.c; ch += grid_stride(nwg)) {
        var sg = 0.0;
        var sgx = 0.0;
        for (var k = 0u; k < p.chunks; k++) {
            sg += ws[k * p.c + ch];
            sgx += ws[part_b(k, ch)];
        }
        let invstd = save_invstd[ch];
        ws[tail(0u, ch)] = sg;
        ws[tail(1u, ch)] = sgx * invstd;
        ws[tail(2u, ch)] = save_mean[ch];
        ws[tail(3u, ch)] = invstd;
        ws[tail(4u, ch)] = gamma[ch] * invstd;
    }
}
