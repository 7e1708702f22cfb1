// Invertible 2x2 downsampling: y[n, i, j, (dh*2 + dw)*C + c] = x[n, 2i + dh, 2j + dw, c].
// One thread per output element: writes are contiguous, reads are contiguous runs of C.
// #include "common/util.wgsl"
struct Params { total: u32, h: u32, w: u32, c: u32 }  // total = element count; h, w, c: x's shape
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;        // [N, H, W, C]
@group(0) @binding(2) var<storage, read_write> y: array<f32>;  // [N, H/2, W/2, 4C]

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let oh = p.h / 2u;
    let ow = p.w / 2u;
    for (var o = gid.x; o < p.total; o += grid_stride(nwg)) {
        let c = o % p.c;
        var r = o / p.c;
        let q = r % 4u;  // dh*2 + dw
        r = r / 4u;
        let j = r % ow;
        r = r / ow;
        let i = r % oh;
        let n = r / oh;
        let hh = 2u * i + q / 2u;
        let ww = 2u * j + q % 2u;
        y[o] = x[((n * p.h + hh) * p.w + ww) * p.c + c];
    }
}
