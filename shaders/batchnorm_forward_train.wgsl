// Training batchnorm, pass 3: y = (x - mean) * invstd * gamma + beta with the batch statistics from the
// workspace tail, then ReLU when asked (the fused epilogue). Element-wise over [M, C]. Centres as
// (x - x[0, c]) - (mean - x[0, c]): with a large common offset (mean 100, std 0.1) the first difference is
// exact and the second is small, where x - mean would inherit the f32 rounding of the mean itself.
// #include "common/batchnorm.wgsl"
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read> ws: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n = p.m * p.c;
    for (var i = gid.x; i < n; i += grid_stride(nwg)) {
        let ch = i % p.c;
        let centred = (x[i] - x[ch]) - ws[tail(3u, ch)];
        var v = centred * (ws[tail(1u, ch)] * gamma[ch]) + beta[ch];
        if p.relu != 0u {
            v = max(v, 0.0);
        }
        y[i] = v;
    }
}
