// Adaptive average pooling (PyTorch AdaptiveAvgPool2d): output (i, j) averages input rows
// [floor(i*H/OH), ceil((i+1)*H/OH)) and the same columns. One thread per output element; threads
// next to each other differ in c, so every window row is read coalesced.
// #include "common/util.wgsl"
struct Params { total: u32, h: u32, w: u32, c: u32, oh: u32, ow: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;        // [N, H, W, C]
@group(0) @binding(2) var<storage, read_write> y: array<f32>;  // [N, OH, OW, C]

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    for (var o = gid.x; o < p.total; o += grid_stride(nwg)) {
        let c = o % p.c;
        var r = o / p.c;
        let j = r % p.ow;
        r = r / p.ow;
        let i = r % p.oh;
        let n = r / p.oh;
        let h0 = i * p.h / p.oh;
        let h1 = ((i + 1u) * p.h + p.oh - 1u) / p.oh;
        let w0 = j * p.w / p.ow;
        let w1 = ((j + 1u) * p.w + p.ow - 1u) / p.ow;
        var acc = 0.0;
        for (var hh = h0; hh < h1; hh++) {
            for (var ww = w0; ww < w1; ww++) {
                acc += x[((n * p.h + hh) * p.w + ww) * p.c + c];
            }
        }
        y[o] = acc / f32((h1 - h0) * (w1 - w0));
    }
}
