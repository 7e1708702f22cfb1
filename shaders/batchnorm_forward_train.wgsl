// Training batchnorm, pass 3: y = (x - mean) * invstd * gamma + beta with the batch statistics from the
// workspace tail, then ReLU when asked (the fused epilogue). Centres as (x - x[0, c]) - (mean - x[0, c]):
// with a large common offset (mean 100, std 0.1) the first difference is exact and the second is small,
// where x - mean would inherit the f32 rounding of the mean itself.
// #include "lib/batchnorm.wgsl"
@group(0) @binding(1) var<storage, read> x: array<V>;
@group(0) @binding(2) var<storage, read> gamma: array<V>;
@group(0) @binding(3) var<storage, read> beta: array<V>;
@group(0) @binding(4) var<storage, read> ws: array<V>;
@group(0) @binding(5) var<storage, read_write> y: array<V>;

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
    let relu = p.relu != 0u;
    var i = s.r0 * p.len + s.u;
    for (var r = s.r0; r < s.r1; r++) {
        let v = ((x[i] - shift) - centre) * scale + b;
        y[i] = select(v, max(v, V(0.0)), relu);
        i += p.len;
    }
}
