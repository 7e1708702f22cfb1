// Gradient of adaptive average pooling, gathered: d_x[n, h, w, c] sums d_y / window size over the output
// cells whose window holds (h, w): rows i in I(h) = [floor(h*OH/H), ceil((h+1)*OH/H)), and the same for
// columns. Windows overlap when OH does not divide H, so gathering (fixed loop order) keeps it
// deterministic without atomics. (When OH divides H and OW divides W, avgpool2d_backward_strided does
// the same work cheaper.)
// Grid over d_x's [N * H, W * C] image rows; each thread keeps one (w, c) and its column window, and
// walks its rows in segments of equal I(h): every row of a segment has the same gradient, so the
// gather (and its divisions) runs once per segment and each row costs one store.
// #include "lib/pool.wgsl"
@group(0) @binding(1) var<storage, read> d_y: array<V>;        // [N, OH, OW, C]
@group(0) @binding(2) var<storage, read_write> d_x: array<V>;  // [N, H, W, C]

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let s = grid_span(t, wg);
    if s.r0 >= s.r1 {
        return;
    }
    let w = s.u / p.c;
    let ch = s.u % p.c;
    let j0 = window_start(w, p.ow, p.w);
    let j1 = window_end(w, p.ow, p.w);
    var n = s.r0 / p.h;
    var hh = s.r0 % p.h;
    var o = s.r0 * p.len + s.u;
    var r = s.r0;
    while r < s.r1 {
        let i0 = window_start(hh, p.oh, p.h);
        let i1 = window_end(hh, p.oh, p.h);
        // The rows from hh on that lie in the same windows: until one of them leaves window i0 or
        // enters window i1.
        let h_end = min(min(window_end(i0, p.h, p.oh), window_start(i1, p.h, p.oh)), p.h);
        var acc = V(0.0);
        for (var i = i0; i < i1; i++) {
            var k = ((n * p.oh + i) * p.ow + j0) * p.c + ch;
            var part = V(0.0);
            for (var j = j0; j < j1; j++) {
                part += d_y[k] / f32(window_end(j, p.w, p.ow) - window_start(j, p.w, p.ow));
                k += p.c;
            }
            acc += part / f32(window_end(i, p.h, p.oh) - window_start(i, p.h, p.oh));
        }
        let end = min(s.r1, r + h_end - hh);
        for (; r < end; r++) {
            d_x[o] = acc;
            o += p.len;
        }
        hh = h_end;
        if hh == p.h {
            hh = 0u;
            n++;
        }
    }
}
