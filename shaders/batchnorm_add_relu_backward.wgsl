// Backward of batchnorm + residual add + ReLU, pass 3; passes 1 and 2 are batchnorm_backward's with the
// ReLU mask (y is the block's output, after the add). g = d_y where y > 0: the shortcut's gradient
// d_r = g, and d_x = gamma * invstd * (g - mean(g) - xhat * mean(g * xhat)) as in batchnorm_backward.wgsl.
// #include "lib/batchnorm.wgsl"
@group(0) @binding(1) var<storage, read> x: array<V>;
@group(0) @binding(2) var<storage, read> y: array<V>;
@group(0) @binding(3) var<storage, read> d_y: array<V>;
@group(0) @binding(4) var<storage, read> ws: array<V>;
@group(0) @binding(5) var<storage, read_write> d_x: array<V>;
@group(0) @binding(6) var<storage, read_write> d_r: array<V>;

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
    for (var row = s.r0; row < s.r1; row++) {
        let g = select(V(0.0), d_y[i], y[i] > V(0.0));
        d_r[i] = g;
        d_x[i] = k * (g - mean_g - (x[i] - mean) * invstd * mean_gx);
        i += p.len;
    }
}
