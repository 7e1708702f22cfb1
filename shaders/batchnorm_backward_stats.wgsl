// Batchnorm backward, pass 1: per (row block, channel) sums of g and g * (x - mean), where g is d_y masked
// by y > 0 when the forward fused a ReLU. Each thread sums its span of rows; the first row lane adds the
// other lanes' sums in lane order.
// #include "lib/batchnorm.wgsl"
@group(0) @binding(1) var<storage, read> x: array<V>;
@group(0) @binding(2) var<storage, read> y: array<V>;
@group(0) @binding(3) var<storage, read> d_y: array<V>;
@group(0) @binding(4) var<storage, read> save_mean: array<V>;
@group(0) @binding(5) var<storage, read_write> ws: array<V>;

var<workgroup> s_g: array<V, 256>;
var<workgroup> s_gx: array<V, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let s = grid_span(t, wg);
    var sg = V(0.0);
    var sgx = V(0.0);
    if s.r0 < s.r1 {
        let mean = save_mean[s.u];
        var i = s.r0 * p.len + s.u;
        // Two loops rather than a test per element: only the ReLU case reads y.
        if p.relu != 0u {
            for (var r = s.r0; r < s.r1; r++) {
                let g = select(V(0.0), d_y[i], y[i] > V(0.0));
                sg += g;
                sgx += g * (x[i] - mean);
                i += p.len;
            }
        } else {
            for (var r = s.r0; r < s.r1; r++) {
                let g = d_y[i];
                sg += g;
                sgx += g * (x[i] - mean);
                i += p.len;
            }
        }
    }
    s_g[t] = sg;
    s_gx[t] = sgx;
    workgroupBarrier();
    if s.rl == 0u && s.u < p.len {
        for (var l = 1u; l < p.lanes; l++) {
            sg += s_g[t + l * p.cw];
            sgx += s_gx[t + l * p.cw];
        }
        ws[part_a(wg.y, s.u)] = sg;
        ws[part_b(wg.y, s.u)] = sgx;
    }
}
