// Gradient of 2x2/2 max pooling: d_y goes to the window's first maximum (argmax recomputed from x),
// zero elsewhere. One thread per 2x2 block of d_x over ceil(H/2) x ceil(W/2) blocks, so every d_x
// element (including an odd trailing row/column, which no window covers) is written exactly once
// and x, d_y are each read once.
// #include "common/util.wgsl"
struct Params { total: u32, h: u32, w: u32, c: u32 }  // total = N*ceil(H/2)*ceil(W/2)*C; h, w, c: x's shape
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // [N, H, W, C]
@group(0) @binding(2) var<storage, read> d_y: array<f32>;        // [N, H/2, W/2, C]
@group(0) @binding(3) var<storage, read_write> d_x: array<f32>;  // [N, H, W, C]

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let oh = p.h / 2u;
    let ow = p.w / 2u;
    let bh = (p.h + 1u) / 2u;
    let bw = (p.w + 1u) / 2u;
    let row = p.w * p.c;
    for (var o = gid.x; o < p.total; o += grid_stride(nwg)) {
        let c = o % p.c;
        var r = o / p.c;
        let j = r % bw;
        r = r / bw;
        let i = r % bh;
        let n = r / bh;
        let base = ((n * p.h + 2u * i) * p.w + 2u * j) * p.c + c;
        if i < oh && j < ow {
            // A full window: which of its four elements is the first maximum.
            var m = x[base];
            var at = 0u;
            if x[base + p.c] > m { m = x[base + p.c]; at = 1u; }
            if x[base + row] > m { m = x[base + row]; at = 2u; }
            if x[base + row + p.c] > m { at = 3u; }
            let g = d_y[((n * oh + i) * ow + j) * p.c + c];
            d_x[base] = select(0.0, g, at == 0u);
            d_x[base + p.c] = select(0.0, g, at == 1u);
            d_x[base + row] = select(0.0, g, at == 2u);
            d_x[base + row + p.c] = select(0.0, g, at == 3u);
        } else {
            // The odd last row and/or column: no window reads these elements.
            d_x[base] = 0.0;
            if 2u * j + 1u < p.w { d_x[base + p.c] = 0.0; }
            if 2u * i + 1u < p.h { d_x[base + row] = 0.0; }
        }
    }
}
