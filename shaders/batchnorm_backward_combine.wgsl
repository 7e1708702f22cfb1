// Batchnorm backward, pass 2: sum the per-block partials in block order, one thread per channel; write
// d_beta = sum(g) and d_gamma = sum(g * xhat), and for pass 3 the tail slots 0 = mean(g),
// 1 = mean(g * xhat), 2 = mean, 3 = invstd, 4 = gamma * invstd (so pass 3 binds few buffers).
// #include "lib/batchnorm.wgsl"
@group(0) @binding(1) var<storage, read> gamma: array<V>;
@group(0) @binding(2) var<storage, read> save_mean: array<V>;
@group(0) @binding(3) var<storage, read> save_invstd: array<V>;
@group(0) @binding(4) var<storage, read_write> ws: array<V>;
@group(0) @binding(5) var<storage, read_write> d_gamma: array<V>;
@group(0) @binding(6) var<storage, read_write> d_beta: array<V>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let u = gid.x;
    if u >= p.len {
        return;
    }
    var sg = V(0.0);
    var sgx = V(0.0);
    for (var k = 0u; k < p.blocks; k++) {
        sg += ws[part_a(k, u)];
        sgx += ws[part_b(k, u)];
    }
    let invstd = save_invstd[u];
    let dg = sgx * invstd;
    d_beta[u] = sg;
    d_gamma[u] = dg;
    ws[tail(0u, u)] = sg * p.inv_m;
    ws[tail(1u, u)] = dg * p.inv_m;
    ws[tail(2u, u)] = save_mean[u];
    ws[tail(3u, u)] = invstd;
    ws[tail(4u, u)] = gamma[u] * invstd;
}
