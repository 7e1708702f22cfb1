// Invertible 2x2 downsampling, forward: y[n, i, j, (dh*2 + dw)*C + c] = x[n, 2i + dh, 2j + dw, c].
// One load and one store per element (see lib/space_to_depth.wgsl).
// #include "lib/space_to_depth.wgsl"
@group(0) @binding(1) var<storage, read> x: array<V>;        // [N, H, W, C]
@group(0) @binding(2) var<storage, read_write> y: array<V>;  // [N, H/2, W/2, 4C]

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let s = grid_span(t, wg);
    if s.r0 >= s.r1 {
        return;
    }
    var a = s2d_start(s);
    for (var r = s.r0; r < s.r1; r++) {
        y[a.y] = x[a.x];
        a = s2d_next(a);
    }
}
