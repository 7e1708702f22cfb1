// Inverse of space_to_depth_forward (a permutation, so its gradient is the inverse permutation):
// d_x[n, 2i + dh, 2j + dw, c] = d_y[n, i, j, (dh*2 + dw)*C + c]. Walks d_y in order and scatters each
// element to its one place in d_x (see lib/space_to_depth.wgsl).
// #include "lib/space_to_depth.wgsl"
@group(0) @binding(1) var<storage, read> d_y: array<V>;        // [N, H/2, W/2, 4C]
@group(0) @binding(2) var<storage, read_write> d_x: array<V>;  // [N, H, W, C]

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let s = grid_span(t, wg);
    if s.r0 >= s.r1 {
        return;
    }
    var a = s2d_start(s);
    for (var r = s.r0; r < s.r1; r++) {
        d_x[a.x] = d_y[a.y];
        a = s2d_next(a);
    }
}
