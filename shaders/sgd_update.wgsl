// PyTorch SGD (dampening 0) over a whole parameter arena:
//   d = g + wd*w;  buf = mu*buf + d;  d = nesterov ? d + mu*buf : buf;  w -= lr*d
// With buf starting at zero the first step gives buf = d, as PyTorch. The hyper-parameters are read
// from a storage tensor at run time so the learning-rate schedule needs no re-recorded plan.
// #include "common/util.wgsl"
struct Params { n: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> w: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> momentum: array<f32>;
@group(0) @binding(4) var<storage, read> hyper: array<f32>;  // [lr, momentum, weight decay, nesterov 0/1]

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let lr = hyper[0];
    let mu = hyper[1];
    let wd = hyper[2];
    let nesterov = hyper[3] != 0.0;
    for (var i = gid.x; i < p.n; i += grid_stride(nwg)) {
        let wi = w[i];
        let d = grads[i] + wd * wi;
        let buf = mu * momentum[i] + d;
        momentum[i] = buf;
        w[i] = wi - lr * select(buf, d + mu * buf, nesterov);
    }
}
