// d_w and d_bias from the split-K partials of the weight-gradient kernels: each element sums its
// `splits` partials in order (deterministic). partial: [splits][Cout][cols], d_w: [Cout, KH, KW, Cin],
// d_bias: [Cout] (bound to a 1-element placeholder when there is no bias).
// #include "lib/conv2d_params.wgsl"

@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> d_w: array<f32>;
@group(0) @binding(3) var<storage, read_write> d_bias: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let kk_total = p.kh * p.kw * p.cin;
    let total = p.cout * p.cols;
    for (var e = gid.x; e < total; e += nwg.x * 256u) {
        var s = 0.0;
        for (var z = 0u; z < p.splits; z++) {
            s += partial[z * total + e];
        }
        let co = e / p.cols;
        let jj = e - co * p.cols;
        if (jj < kk_total) {
            d_w[co * kk_total + jj] = s;
        } else {
            d_bias[co] = s;
        }
    }
}
