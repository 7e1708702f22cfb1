// d_x = d_y where x > 0, else 0. `x` may be the ReLU's input or its output: both are > 0 at the same places.
// #include "lib/flat.wgsl"
@group(0) @binding(1) var<storage, read> x: array<V>;
@group(0) @binding(2) var<storage, read> d_y: array<V>;
@group(0) @binding(3) var<storage, read_write> d_x: array<V>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let s = grid_span(t, wg);
    let end = min(s.r1 * p.len, p.n);
    for (var i = s.r0 * p.len + s.u; i < end; i += p.len) {
        d_x[i] = select(V(0.0), d_y[i], x[i] > V(0.0));
    }
}
