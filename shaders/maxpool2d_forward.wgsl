// 2x2 max pooling, stride 2, floor mode (an odd last row/column is dropped). Grid over y's pixels (rows
// of C): each thread keeps one channel and walks consecutive output pixels as (j, i, n) counters. Ties
// keep the first element in (dh, dw) raster order, as the backward pass assumes.
// #include "lib/pool.wgsl"
@group(0) @binding(1) var<storage, read> x: array<V>;        // [N, H, W, C]
@group(0) @binding(2) var<storage, read_write> y: array<V>;  // [N, OH, OW, C]

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let s = grid_span(t, wg);
    if s.r0 >= s.r1 {
        return;
    }
    let row = p.w * p.c;
    var px = grid_pixel(s.r0, p.oh, p.ow);
    var o = s.r0 * p.c + s.u;
    for (var r = s.r0; r < s.r1; r++) {
        let base = (px.z * p.h + 2u * px.y) * row + 2u * px.x * p.c + s.u;
        let x1 = x[base + p.c];
        let x2 = x[base + row];
        let x3 = x[base + row + p.c];
        var m = x[base];
        m = select(m, x1, x1 > m);
        m = select(m, x2, x2 > m);
        m = select(m, x3, x3 > m);
        y[o] = m;
        o += p.c;
        px = grid_next_pixel(px, p.oh, p.ow);
    }
}
