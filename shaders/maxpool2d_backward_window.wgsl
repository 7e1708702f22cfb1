// Gradient of max pooling with any window (maxpool2d_forward_window.wgsl): d_x[n, h, w, c] = the sum of
// d_y over the windows whose first maximum (raster order, argmax recomputed from x) is that element;
// zero where there is none. Grid over d_x's pixels (rows of C), so every element is written once without
// atomics: each thread keeps one channel, walks consecutive x pixels, and visits the at most
// ceil(kernel / stride)^2 windows that hold each one (the stem's 3x3/2: four windows of nine elements).
// #include "lib/pool.wgsl"
@group(0) @binding(1) var<storage, read> x: array<V>;          // [N, H, W, C]
@group(0) @binding(2) var<storage, read> d_y: array<V>;        // [N, OH, OW, C]
@group(0) @binding(3) var<storage, read_write> d_x: array<V>;  // [N, H, W, C]

// Windows (along one axis) that hold position `pos`: [first, last], empty when first > last.
fn windows_holding(pos: u32, len_out: u32) -> vec2<i32> {
    let reach = i32(pos + p.pad);
    let first = max((reach - i32(p.kernel) + i32(p.stride)) / i32(p.stride), 0);
    let last = min(reach / i32(p.stride), i32(len_out) - 1);
    return vec2<i32>(first, last);
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let s = grid_span(t, wg);
    if s.r0 >= s.r1 {
        return;
    }
    var px = grid_pixel(s.r0, p.h, p.w);
    for (var r = s.r0; r < s.r1; r++) {
        let me = ((px.z * p.h + px.y) * p.w + px.x) * p.c + s.u;
        let mine = x[me];
        let rows = windows_holding(px.y, p.oh);
        let cols = windows_holding(px.x, p.ow);
        var g = V(0.0);
        for (var i = rows.x; i <= rows.y; i++) {
            let h0 = u32(max(i * i32(p.stride) - i32(p.pad), 0));
            let h1 = min(u32(i) * p.stride + p.kernel - p.pad, p.h);
            for (var j = cols.x; j <= cols.y; j++) {
                let w0 = u32(max(j * i32(p.stride) - i32(p.pad), 0));
                let w1 = min(u32(j) * p.stride + p.kernel - p.pad, p.w);
                // Whether this element is the window's first maximum (per channel): every element
                // before it (raster order is index order) is smaller, none after it is larger.
                var first = V(0.0) == V(0.0);
                for (var hh = h0; hh < h1; hh++) {
                    var k = ((px.z * p.h + hh) * p.w + w0) * p.c + s.u;
                    for (var ww = w0; ww < w1; ww++) {
                        let v = x[k];
                        first = first & select(v <= mine, v < mine, k < me);
                        k += p.c;
                    }
                }
                let d = d_y[((px.z * p.oh + u32(i)) * p.ow + u32(j)) * p.c + s.u];
                g += select(V(0.0), d, first);
            }
        }
        d_x[me] = g;
        px = grid_next_pixel(px, p.h, p.w);
    }
}
