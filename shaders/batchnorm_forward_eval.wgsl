// Evaluation batchnorm: y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta, then ReLU when
// asked. Element-wise over [M, C]; one dispatch, no statistics.
// #include "common/batchnorm.wgsl"
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read> running_mean: array<f32>;
@group(0) @binding(5) var<storage, read> running_var: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n = p.m * p.c;
    for (var i = gid.x; i < n; i += grid_stride(nwg)) {
        let ch = i % p.c;
        let scale = gamma[ch] / sqrt(running_var[ch] + p.eps);
        var v = (x[i] - running_mean[ch]) * scale + beta[ch];
        if p.relu != 0u {
            v = max(v, 0.0);
        }
        y[i] = v;
    }
}
