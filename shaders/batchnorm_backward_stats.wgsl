// Batchnorm backward, pass 1: per (chunk, channel) sums of g and g * (x - mean), where g is d_y masked by
// y > 0 when the forward fused a ReLU. Same workgroup shape and fixed-order tree as the forward statistics.
// #include "common/batchnorm.wgsl"
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> d_y: array<f32>;
@group(0) @binding(4) var<storage, read> save_mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> ws: array<f32>;

var<workgroup> s_g: array<f32, 256>;
var<workgroup> s_gx: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let tc = p.tc;
    let lanes = WG / tc;
    let cl = t % tc;
    let rl = t / tc;
    let tiles = (p.c + tc - 1u) / tc;
    for (var chunk = wg.y; chunk < p.chunks; chunk += nwg.y) {
        for (var tile = wg.x; tile < tiles; tile += nwg.x) {
            let ch = tile * tc + cl;
            var sg = 0.0;
            var sgx = 0.0;
            if ch < p.c {
                let mean = save_mean[ch];
                let r1 = chunk * p.rows + chunk_len(chunk);
                for (var r = chunk * p.rows + rl; r < r1; r += lanes) {
                    let i = r * p.c + ch;
                    var g = d_y[i];
                    if p.relu != 0u && !(y[i] > 0.0) {
                        g = 0.0;
                    }
                    sg += g;
                    sgx += g * (x[i] - mean);
                }
            }
            s_g[t] = sg;
            s_gx[t] = sgx;
            workgroupBarrier();
            for (var s = lanes / 2u; s > 0u; s /= 2u) {
                if rl < s {
                    s_g[t] += s_g[t + s * tc];
                    s_gx[t] += s_gx[t + s * tc];
                }
                workgroupBarrier();
            }
            if rl == 0u && ch < p.c {
                ws[chunk * p.c + ch] = s_g[t];
                ws[part_b(chunk, ch)] = s_gx[t];
            }
            workgroupBarrier();
        }
    }
}
