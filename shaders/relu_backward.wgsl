// d_x = d_y where x > 0, else 0. `x` may be the ReLU's input or its output: both are > 0 at the same places.
// #include "common/util.wgsl"
struct Params { n: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> d_y: array<f32>;
@group(0) @binding(3) var<storage, read_write> d_x: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    for (var i = gid.x; i < p.n; i += grid_stride(nwg)) {
        d_x[i] = select(0.0, d_y[i], x[i] > 0.0);
    }
}
