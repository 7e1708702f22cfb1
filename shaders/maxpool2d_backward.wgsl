// Gradient of 2x2/2 max pooling: d_y goes to the window's first maximum (argmax recomputed from x),
// zero elsewhere. Grid over the N * ceil(H/2) * ceil(W/2) 2x2 blocks of d_x (rows of C), so every d_x
// element (including an odd trailing row/column, which no window covers) is written exactly once and
// x, d_y are each read once. Each thread keeps one channel and walks consecutive blocks as counters.
// Branch-free (CPU drivers run both sides of an `if`): a partial block of the odd last row or column
// gets zeros, and its missing elements are redirected to its first one, which is stored first with the
// same value.
// #include "lib/pool.wgsl"
@group(0) @binding(1) var<storage, read> x: array<V>;          // [N, H, W, C]
@group(0) @binding(2) var<storage, read> d_y: array<V>;        // [N, OH, OW, C]
@group(0) @binding(3) var<storage, read_write> d_x: array<V>;  // [N, H, W, C]

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let s = grid_span(t, wg);
    if s.r0 >= s.r1 {
        return;
    }
    let bh = (p.h + 1u) / 2u;
    let bw = (p.w + 1u) / 2u;
    let row = p.w * p.c;
    var px = grid_pixel(s.r0, bh, bw);
    for (var r = s.r0; r < s.r1; r++) {
        let base = (px.z * p.h + 2u * px.y) * row + 2u * px.x * p.c + s.u;
        let right = 2u * px.x + 1u < p.w;
        let below = 2u * px.y + 1u < p.h;
        let full = px.y < p.oh && px.x < p.ow;
        let i1 = select(base, base + p.c, right);
        let i2 = select(base, base + row, below);
        let i3 = select(base, base + row + p.c, right && below);
        // Which of the window's four elements is the first maximum (per channel).
        let x0 = x[base];
        let x1 = x[i1];
        let x2 = x[i2];
        let x3 = x[i3];
        let b1 = x1 > x0;
        let b2 = x2 > select(x0, x1, b1);
        let b3 = x3 > select(select(x0, x1, b1), x2, b2);
        let zero = V(0.0);
        let g = select(zero, d_y[select(0u, ((px.z * p.oh + px.y) * p.ow + px.x) * p.c + s.u, full)], full);
        let g0 = select(g, zero, b1 | b2 | b3);
        d_x[base] = g0;
        d_x[i1] = select(g0, select(zero, g, b1 & !b2 & !b3), right);
        d_x[i2] = select(g0, select(zero, g, b2 & !b3), below);
        d_x[i3] = select(g0, select(zero, g, b3), right && below);
        px = grid_next_pixel(px, bh, bw);
    }
}
