// Training batchnorm, pass 1: per (chunk, channel) mean and M2 of u = x - x[0, c] (shifting by one sample
// of the channel keeps |u| near the spread of the data, so a large common offset costs no precision).
// Workgroup (tile, chunk): tc channel lanes x (256 / tc) row lanes; reads are contiguous over channels.
// Each thread runs Welford over its rows, then the row lanes merge in a fixed tree.
// #include "common/batchnorm.wgsl"
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> ws: array<f32>;

var<workgroup> s_n: array<f32, 256>;
var<workgroup> s_mean: array<f32, 256>;
var<workgroup> s_m2: array<f32, 256>;

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
            var acc = vec3<f32>(0.0);
            if ch < p.c {
                let shift = x[ch];
                let r1 = chunk * p.rows + chunk_len(chunk);
                for (var r = chunk * p.rows + rl; r < r1; r += lanes) {
                    let u = x[r * p.c + ch] - shift;
                    acc.x += 1.0;
                    let d = u - acc.y;
                    acc.y += d / acc.x;
                    acc.z += d * (u - acc.y);
                }
            }
            s_n[t] = acc.x;
            s_mean[t] = acc.y;
            s_m2[t] = acc.z;
            workgroupBarrier();
            for (var s = lanes / 2u; s > 0u; s /= 2u) {
                if rl < s {
                    let o = t + s * tc;
                    let m = chan(vec3<f32>(s_n[t], s_mean[t], s_m2[t]), vec3<f32>(s_n[o], s_mean[o], s_m2[o]));
                    s_n[t] = m.x;
                    s_mean[t] = m.y;
                    s_m2[t] = m.z;
                }
                workgroupBarrier();
            }
            if rl == 0u && ch < p.c {
                ws[chunk * p.c + ch] = s_mean[t];
                ws[part_b(chunk, ch)] = s_m2[t];
            }
            // The next tile reuses the shared arrays.
            workgroupBarrier();
        }
    }
}
