// Training batchnorm with the residual added before the ReLU (a ResNet block's end), pass 3; passes 1
// and 2 are batchnorm_forward_train's. y = max((x - mean) * invstd * gamma + beta + r, 0) with the batch
// statistics from the workspace tail, centred as batchnorm_forward_train.wgsl does.
// #include "lib/batchnorm.wgsl"
@group(0) @binding(1) var<storage, read> x: array<V>;
@group(0) @binding(2) var<storage, read> r: array<V>;
@group(0) @binding(3) var<storage, read> gamma: array<V>;
@group(0) @binding(4) var<storage, read> beta: array<V>;
@group(0) @binding(5) var<storage, read> ws: array<V>;
@group(0) @binding(6) var<storage, read_write> y: array<V>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let s = grid_span(t, wg);
    if s.r0 >= s.r1 {
        return;
    }
    let shift = x[s.u];
    let centre = ws[tail(0u, s.u)];
    let scale = ws[tail(1u, s.u)] * gamma[s.u];
    let b = beta[s.u];
    var i = s.r0 * p.len + s.u;
    for (var row = s.r0; row < s.r1; row++) {
        y[i] = max(((x[i] - shift) - centre) * scale + b + r[i], V(0.0));
        i += p.len;
    }
}
