// Batchnorm backward, pass 3: d_x = gamma * invstd * (g - mean(g) - xhat * mean(g * xhat)), element-wise
// over [M, C], with the per-channel sums from the workspace tail.
// #include "common/batchnorm.wgsl"
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> d_y: array<f32>;
@group(0) @binding(4) var<storage, read> ws: array<f32>;
@group(0) @binding(5) var<storage, read_write> d_x: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n = p.m * p.c;
    for (var i = gid.x; i < n; i += grid_stride(nwg)) {
        let ch = i % p.c;
        var g = d_y[i];
        if p.relu != 0u && !(y[i] > 0.0) {
            g = 0.0;
        }
        let xhat = (x[i] - ws[tail(2u, ch)]) * ws[tail(3u, ch)];
        let mean_g = ws[tail(0u, ch)] * p.inv_m;
        let mean_gx = ws[tail(1u, ch)] * p.inv_m;
        d_x[i] = ws[tail(4u, ch)] * (g - mean_g - xhat * mean_gx);
    }
}
