// Batchnorm backward, pass 3: d_x = gamma * invstd * (g - mean(g) - xhat * mean(g * xhat)), element-wise,
// with the per-channel values from the workspace tail read once per thread.
// #include "lib/batchnorm.wgsl"
@group(0) @binding(1) var<storage, read> x: array<V>;
@group(0) @binding(2) var<storage, read> y: array<V>;
@group(0) @binding(3) var<storage, read> d_y: array<V>;
@group(0) @binding(4) var<storage, read> ws: array<V>;
@group(0) @binding(5) var<storage, read_write> d_x: array<V>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let s = grid_span(t, wg);
    if s.r0 >= s.r1 {
        return;
    }
    let mean_g = ws[tail(0u, s.u)];
    let mean_gx = ws[tail(1u, s.u)];
    let mean = ws[tail(2u, s.u)];
    let invstd = ws[tail(3u, s.u)];
    let k = ws[tail(4u, s.u)];
    var i = s.r0 * p.len + s.u;
    if p.relu != 0u {
        for (var r = s.r0; r < s.r1; r++) {
            let g = select(V(0.0), d_y[i], y[i] > V(0.0));
            d_x[i] = k * (g - mean_g - (x[i] - mean) * invstd * mean_gx);
            i += p.len;
        }
    } else {
        for (var r = s.r0; r < s.r1; r++) {
            d_x[i] = k * (d_y[i] - mean_g - (x[i] - mean) * invstd * mean_gx);
            i += p.len;
        }
    }
}
