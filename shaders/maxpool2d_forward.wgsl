// 2x2 max pooling, stride 2, floor mode (an odd last row/column is dropped). One thread per output
// element. Ties keep the first element in (dh, dw) raster order, as the backward pass assumes.
// #include "common/util.wgsl"
struct Params { total: u32, h: u32, w: u32, c: u32 }  // total = y's element count; h, w, c: x's shape
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;        // [N, H, W, C]
@group(0) @binding(2) var<storage, read_write> y: array<f32>;  // [N, H/2, W/2, C]

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let oh = p.h / 2u;
    let ow = p.w / 2u;
    let row = p.w * p.c;
    for (var o = gid.x; o < p.total; o += grid_stride(nwg)) {
        let c = o % p.c;
        var r = o / p.c;
        let j = r % ow;
        r = r / ow;
        let i = r % oh;
        let n = r / oh;
        let base = ((n * p.h + 2u * i) * p.w + 2u * j) * p.c + c;
        var m = x[base];
        m = select(m, x[base + p.c], x[base + p.c] > m);
        m = select(m, x[base + row], x[base + row] > m);
        m = select(m, x[base + row + p.c], x[base + row + p.c] > m);
        y[o] = m;
    }
}
