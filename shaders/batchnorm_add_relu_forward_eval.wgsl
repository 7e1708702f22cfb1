// Evaluation batchnorm with the residual added before the ReLU (a ResNet block's end):
// y = max((x - running_mean) / sqrt(running_var + eps) * gamma + beta + r, 0). One dispatch; each thread
// reads its channel's parameters once.
// #include "lib/batchnorm.wgsl"
@group(0) @binding(1) var<storage, read> x: array<V>;
@group(0) @binding(2) var<storage, read> r: array<V>;
@group(0) @binding(3) var<storage, read> gamma: array<V>;
@group(0) @binding(4) var<storage, read> beta: array<V>;
@group(0) @binding(5) var<storage, read> running_mean: array<V>;
@group(0) @binding(6) var<storage, read> running_var: array<V>;
@group(0) @binding(7) var<storage, read_write> y: array<V>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let s = grid_span(t, wg);
    if s.r0 >= s.r1 {
        return;
    }
    let scale = gamma[s.u] / sqrt(running_var[s.u] + p.eps);
    let mean = running_mean[s.u];
    let b = beta[s.u];
    var i = s.r0 * p.len + s.u;
    for (var row = s.r0; row < s.r1; row++) {
        y[i] = max((x[i] - mean) * scale + b + r[i], V(0.0));
        i += p.len;
    }
}
