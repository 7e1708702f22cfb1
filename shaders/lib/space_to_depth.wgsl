// Shared by the space-to-depth kernels: y[n, i, j, (dh*2 + dw)*C + c] = x[n, 2i + dh, 2j + dw, c], a
// permutation. Both directions run a grid over y's pixels (rows of 4C, lib/grid.wgsl): each thread
// keeps one position q * C + c (q = dh * 2 + dw) of the 4C and walks consecutive pixels of y as (j, i, n)
// counters, so y is streamed in order and x in runs of C; the forward gathers x into y, the backward
// scatters d_y into d_x (every element of d_x written once). V, the element type, is the variant's
// (src/ops/grid.rs `Variants`): f32, or vec4<f32> when C % 4 == 0; `c` counts V elements per pixel of x.
// #include "lib/grid.wgsl"
struct Params {
    rows: u32,
    len: u32,
    cw: u32,
    lanes: u32,
    span: u32,
    // x's height, width and channels (V elements).
    h: u32,
    w: u32,
    c: u32,
}
@group(0) @binding(0) var<uniform> p: Params;

// Walks one thread's elements: `y` indexes y (the [N, H/2, W/2, 4C] side), `x` the matching element of x.
struct S2dWalk {
    px: vec3<u32>,
    y: u32,
    x: u32,
}


// x's index for output pixel `px` = (j, i, n) at position `u` of its 4C.
fn s2d_source(px: vec3<u32>, u: u32) -> u32 {
    let q = u / p.c;
    let hh = 2u * px.y + q / 2u;
    let ww = 2u * px.x + q % 2u;
    return ((px.z * p.h + hh) * p.w + ww) * p.c + u % p.c;
}

fn s2d_start(s: GridSpan) -> S2dWalk {
    let px = grid_pixel(s.r0, p.h / 2u, p.w / 2u);
    return S2dWalk(px, s.r0 * p.len + s.u, s2d_source(px, s.u));
}

fn s2d_next(a: S2dWalk) -> S2dWalk {
    var b = a;
    b.y += p.len;
    b.px = grid_next_pixel(a.px, p.h / 2u, p.w / 2u);
    // The next pixel of the same input row pair is 2 pixels on; a new output row skips the pair's
    // second input row.
    b.x += 2u * p.c;
    if b.px.x == 0u {
        b.x += p.w * p.c;
    }
    return b;
}
