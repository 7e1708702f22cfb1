// Adaptive average pooling (PyTorch AdaptiveAvgPool2d): y[n, i, j, c] averages x over window rows
// [floor(i*H/OH), ceil((i+1)*H/OH)) and the same columns. Grid over y's [N * OH, OW * C] rows: each
// thread keeps one (j, c) and its column window for all its output rows.
// #include "lib/pool.wgsl"
@group(0) @binding(1) var<storage, read> x: array<V>;        // [N, H, W, C]
@group(0) @binding(2) var<storage, read_write> y: array<V>;  // [N, OH, OW, C]

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let s = grid_span(t, wg);
    if s.r0 >= s.r1 {
        return;
    }
    let j = s.u / p.c;
    let ch = s.u % p.c;
    let w0 = window_start(j, p.w, p.ow);
    let w1 = window_end(j, p.w, p.ow);
    var n = s.r0 / p.oh;
    var i = s.r0 % p.oh;
    for (var r = s.r0; r < s.r1; r++) {
        let h0 = window_start(i, p.h, p.oh);
        let h1 = window_end(i, p.h, p.oh);
        var acc = V(0.0);
        for (var hh = h0; hh < h1; hh++) {
            var k = ((n * p.h + hh) * p.w + w0) * p.c + ch;
            for (var ww = w0; ww < w1; ww++) {
                acc += x[k];
                k += p.c;
            }
        }
        y[r * p.len + s.u] = acc / f32((h1 - h0) * (w1 - w0));
        i++;
        if i == p.oh {
            i = 0u;
            n++;
        }
    }
}
