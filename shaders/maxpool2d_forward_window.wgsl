// Max pooling with any window (PyTorch's MaxPool2d(kernel, stride, padding), floor mode), e.g. the ImageNet
// stem's 3x3/2 with padding 1: y[n, i, j, c] = max of x[n, :, :, c] over rows [i * stride - pad, + kernel)
// and the same columns, the padding never winning. Grid over y's pixels (rows of C): each thread keeps
// one channel and walks consecutive output pixels as (j, i, n) counters; the window is clipped to x, and
// a later element must be strictly greater to win (the first maximum in raster order, as the backward
// pass assumes).
// #include "lib/pool.wgsl"
@group(0) @binding(1) var<storage, read> x: array<V>;        // [N, H, W, C]
@group(0) @binding(2) var<storage, read_write> y: array<V>;  // [N, OH, OW, C]

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let s = grid_span(t, wg);
    if s.r0 >= s.r1 {
        return;
    }
    var px = grid_pixel(s.r0, p.oh, p.ow);
    var o = s.r0 * p.c + s.u;
    for (var r = s.r0; r < s.r1; r++) {
        // The window's rows and columns inside x (padding <= kernel / 2, so never empty).
        let h0 = max(i32(px.y * p.stride) - i32(p.pad), 0);
        let h1 = min(px.y * p.stride + p.kernel - p.pad, p.h);
        let w0 = max(i32(px.x * p.stride) - i32(p.pad), 0);
        let w1 = min(px.x * p.stride + p.kernel - p.pad, p.w);
        var m = x[((px.z * p.h + u32(h0)) * p.w + u32(w0)) * p.c + s.u];
        for (var hh = u32(h0); hh < h1; hh++) {
            var k = ((px.z * p.h + hh) * p.w + u32(w0)) * p.c + s.u;
            for (var ww = u32(w0); ww < w1; ww++) {
                let v = x[k];
                m = select(m, v, v > m);
                k += p.c;
            }
        }
        y[o] = m;
        o += p.c;
        px = grid_next_pixel(px, p.oh, p.ow);
    }
}
