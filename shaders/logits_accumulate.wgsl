// acc[N, K] += weight * logits[N, K], element-wise: the weighted ensemble of auxiliary heads' raw logits
// (paper 1's CIFAR code sums logits; softmax_accumulate sums probabilities, as its ImageNet code).
// A grid-stride loop: any number of workgroups of 256 threads covers any length.
struct Params { len: u32, weight: f32, _pad0: u32, _pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;   // [N, K]
@group(0) @binding(2) var<storage, read_write> acc: array<f32>; // [N, K]

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    for (var i = gid.x; i < p.len; i += nwg.x * 256u) {
        acc[i] += p.weight * logits[i];
    }
}
