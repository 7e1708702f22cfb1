// y = a + b, element-wise over any shape: a residual block's shortcut joining its main path, or a block
// input's gradient as the sum of what its two paths send back.
// #include "lib/flat.wgsl"
@group(0) @binding(1) var<storage, read> a: array<V>;
@group(0) @binding(2) var<storage, read> b: array<V>;
@group(0) @binding(3) var<storage, read_write> y: array<V>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let s = grid_span(t, wg);
    let end = min(s.r1 * p.len, p.n);
    for (var i = s.r0 * p.len + s.u; i < end; i += p.len) {
        y[i] = a[i] + b[i];
    }
}
