// Gradient of adaptive average pooling, gathered: d_x[n, h, w, c] sums d_y / window size over the
// output cells whose window holds (h, w). Windows overlap when OH does not divide H, so gathering
// (one thread per d_x element, fixed loop order) keeps it deterministic without atomics.
// Output rows whose window [floor(i*H/OH), ceil((i+1)*H/OH)) holds h are
// i in [floor(h*OH/H), ceil((h+1)*OH/H)); the same for columns.
// #include "common/util.wgsl"
struct Params { total: u32, h: u32, w: u32, c: u32, oh: u32, ow: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> d_y: array<f32>;        // [N, OH, OW, C]
@group(0) @binding(2) var<storage, read_write> d_x: array<f32>;  // [N, H, W, C]

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    for (var o = gid.x; o < p.total; o += grid_stride(nwg)) {
        let c = o % p.c;
        var r = o / p.c;
        let ww = r % p.w;
        r = r / p.w;
        let hh = r % p.h;
        let n = r / p.h;
        let i0 = hh * p.oh / p.h;
        let i1 = ((hh + 1u) * p.oh + p.h - 1u) / p.h;
        let j0 = ww * p.ow / p.w;
        let j1 = ((ww + 1u) * p.ow + p.w - 1u) / p.w;
        var acc = 0.0;
        for (var i = i0; i < i1; i++) {
            let rows = ((i + 1u) * p.h + p.oh - 1u) / p.oh - i * p.h / p.oh;
            for (var j = j0; j < j1; j++) {
                let cols = ((j + 1u) * p.w + p.ow - 1u) / p.ow - j * p.w / p.ow;
                acc += d_y[((n * p.oh + i) * p.ow + j) * p.c + c] / f32(rows * cols);
            }
        }
        d_x[o] = acc;
    }
}
