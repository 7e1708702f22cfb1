// Training batchnorm, pass 1: per (row block, channel) mean and M2 of u = x - x[0, c] (shifting by one
// sample of the channel keeps |u| near the spread of the data, so a large common offset costs no
// precision). Each thread runs Welford over its span of rows, then the first row lane merges the
// other lanes' summaries in lane order. Block 0 also stores the shift x[0, c] (tail slot 2).
// #include "lib/batchnorm.wgsl"
@group(0) @binding(1) var<storage, read> x: array<V>;
@group(0) @binding(2) var<storage, read_write> ws: array<V>;

var<workgroup> s_mean: array<V, 256>;
var<workgroup> s_m2: array<V, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let s = grid_span(t, wg);
    var acc = Stat(0.0, V(0.0), V(0.0));
    if s.r0 < s.r1 {
        let shift = x[s.u];
        var i = s.r0 * p.len + s.u;
        for (var r = s.r0; r < s.r1; r++) {
            let v = x[i] - shift;
            acc.n += 1.0;
            let d = v - acc.mean;
            acc.mean += d / acc.n;
            acc.m2 += d * (v - acc.mean);
            i += p.len;
        }
    }
    s_mean[t] = acc.mean;
    s_m2[t] = acc.m2;
    workgroupBarrier();
    if s.rl == 0u && s.u < p.len {
        for (var l = 1u; l < p.lanes; l++) {
            let o = t + l * p.cw;
            acc = chan(acc, Stat(f32(grid_lane_rows(wg.y, l, p.rows, p.lanes, p.span)), s_mean[o], s_m2[o]));
        }
        ws[part_a(wg.y, s.u)] = acc.mean;
        ws[part_b(wg.y, s.u)] = acc.m2;
        if wg.y == 0u {
            ws[tail(2u, s.u)] = x[s.u];
        }
    }
}
