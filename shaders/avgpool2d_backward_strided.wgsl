// Gradient of average pooling with kernel = stride (OH divides H and OW divides W, e.g. the heads'
// average to 2x2): d_x[n, h, w, c] = d_y[n, h / KH, w / KW, c] / (KH * KW). Grid over d_x's pixels
// (rows of C): each thread keeps one channel and walks consecutive pixels, tracking the source pixel
// as counters (no division per element), so the 8 lanes of a CPU driver's vector stream through
// memory. With H = OH * KH the source row n * OH + h / KH runs on across images.
// #include "lib/pool.wgsl"
@group(0) @binding(1) var<storage, read> d_y: array<V>;        // [N, OH, OW, C]
@group(0) @binding(2) var<storage, read_write> d_x: array<V>;  // [N, H, W, C]

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let s = grid_span(t, wg);
    if s.r0 >= s.r1 {
        return;
    }
    let kh = p.h / p.oh;
    let kw = p.w / p.ow;
    let scale = 1.0 / f32(kh * kw);
    // Source row (n * OH + i) and column j, and the offsets within the window.
    let w = s.r0 % p.w;
    let hr = s.r0 / p.w;
    var src_row = hr / kh;
    var eh = hr % kh;
    var j = w / kw;
    var ew = w % kw;
    var i = s.r0 * p.c + s.u;
    for (var r = s.r0; r < s.r1; r++) {
        d_x[i] = d_y[(src_row * p.ow + j) * p.c + s.u] * scale;
        i += p.c;
        ew++;
        if ew == kw {
            ew = 0u;
            j++;
            if j == p.ow {
                j = 0u;
                eh++;
                if eh == kh {
                    eh = 0u;
                    src_row++;
                }
            }
        }
    }
}
