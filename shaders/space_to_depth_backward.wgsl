// Inverse of space_to_depth_forward (a permutation, so its gradient is the inverse permutation):
// d_x[n, h, w, c] = d_y[n, h/2, w/2, ((h%2)*2 + w%2)*C + c]. One thread per d_x element.
// #include "common/util.wgsl"
struct Params { total: u32, h: u32, w: u32, c: u32 }  // total = element count; h, w, c: d_x's shape
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> d_y: array<f32>;        // [N, H/2, W/2, 4C]
@group(0) @binding(2) var<storage, read_write> d_x: array<f32>;  // [N, H, W, C]

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let oh = p.h / 2u;
    let ow = p.w / 2u;
    for (var o = gid.x; o < p.total; o += grid_stride(nwg)) {
        let c = o % p.c;
        var r = o / p.c;
        let ww = r % p.w;
        r = r / p.w;
        let hh = r % p.h;
        let n = r / p.h;
        let q = (hh % 2u) * 2u + ww % 2u;
        d_x[o] = d_y[(((n * oh + hh / 2u) * ow + ww / 2u) * 4u + q) * p.c + c];
    }
}
