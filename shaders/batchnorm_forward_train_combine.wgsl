// Training batchnorm, pass 2: fold the per-block (mean, M2) partials in block order, one thread per
// channel, and write every per-channel result: the saved batch mean and 1/sqrt(biased var + eps) for
// the backward, the running statistics (momentum, unbiased variance), and for pass 3 the tail slots
// 0 = batch mean - x[0, c] (centring without the rounding of a large mean) and 1 = invstd.
// Outputs may share buffers (arenas): several writable views of one buffer are fine.
// #include "lib/batchnorm.wgsl"
@group(0) @binding(1) var<storage, read_write> ws: array<V>;
@group(0) @binding(2) var<storage, read_write> save_mean: array<V>;
@group(0) @binding(3) var<storage, read_write> save_invstd: array<V>;
@group(0) @binding(4) var<storage, read_write> running_mean: array<V>;
@group(0) @binding(5) var<storage, read_write> running_var: array<V>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let u = gid.x;
    if u >= p.len {
        return;
    }
    var acc = Stat(0.0, V(0.0), V(0.0));
    for (var k = 0u; k < p.blocks; k++) {
        acc = chan(acc, Stat(f32(block_rows(k)), ws[part_a(k, u)], ws[part_b(k, u)]));
    }
    let mean = ws[tail(2u, u)] + acc.mean;
    let invstd = 1.0 / sqrt(acc.m2 * p.inv_m + p.eps);
    ws[tail(0u, u)] = acc.mean;
    ws[tail(1u, u)] = invstd;
    save_mean[u] = mean;
    save_invstd[u] = invstd;
    running_mean[u] = (1.0 - p.momentum) * running_mean[u] + p.momentum * mean;
    running_var[u] = (1.0 - p.momentum) * running_var[u] + p.momentum * (acc.m2 / f32(p.rows - 1u));
}
