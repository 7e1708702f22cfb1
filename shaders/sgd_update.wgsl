// PyTorch SGD (dampening 0) over a whole parameter arena:
//   d = g + wd*w;  buf = mu*buf + d;  d = nesterov ? d + mu*buf : buf;  w -= lr*d
// With buf starting at zero the first step gives buf = d, as PyTorch. The hyper-parameters are read
// from a storage tensor at run time so the learning-rate schedule needs no re-recorded plan; each thread
// reads them once and walks its rows of the flat arena (lib/flat.wgsl's grid: rows of `len` V
// elements, `n` V elements in all). Once the loss kernel has flagged divergence (stats[2] != 0) no
// update is applied, so the weights stay those from before the diverging batch.
// #include "lib/flat.wgsl"
@group(0) @binding(1) var<storage, read_write> w: array<V>;
@group(0) @binding(2) var<storage, read> grads: array<V>;
@group(0) @binding(3) var<storage, read_write> momentum: array<V>;
@group(0) @binding(4) var<storage, read> hyper: array<f32>;  // [lr, momentum, weight decay, nesterov 0/1]
@group(0) @binding(5) var<storage, read> stats: array<f32>;  // [loss sum, correct, diverged 0/1]

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let s = grid_span(t, wg);
    if s.r0 >= s.r1 || stats[2] != 0.0 {
        return;
    }
    let lr = hyper[0];
    let mu = hyper[1];
    let wd = hyper[2];
    let nesterov = hyper[3] != 0.0;
    let end = min(s.r1 * p.len, p.n);
    for (var i = s.r0 * p.len + s.u; i < end; i += p.len) {
        let wi = w[i];
        let d = grads[i] + wd * wi;
        let buf = mu * momentum[i] + d;
        momentum[i] = buf;
        w[i] = wi - lr * select(buf, d + mu * buf, nesterov);
    }
}
