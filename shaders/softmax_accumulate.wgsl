// probs[N, K] += weight * softmax(logits[N, K]) row-wise: the weighted ensemble of auxiliary heads.
// Rows are reduced by teams of `team` threads (see lib/rows.wgsl).
// #include "lib/rows.wgsl"
struct Params { n: u32, k: u32, team: u32, weight: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;      // [N, K]
@group(0) @binding(2) var<storage, read_write> probs: array<f32>;  // [N, K]

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let rows_per_group = WG / p.team;
    let lane = lid % p.team;
    for (var base = wid.x * rows_per_group; base < p.n; base += nwg.x * rows_per_group) {
        let row = base + lid / p.team;
        let live = row < p.n;
        let off = row * p.k;
        var m = F32_LOWEST;
        if live {
            for (var j = lane; j < p.k; j += p.team) {
                m = max(m, logits[off + j]);
            }
        }
        m = team_max(m, lid, p.team);
        var s = 0.0;
        if live {
            for (var j = lane; j < p.k; j += p.team) {
                s += exp(logits[off + j] - m);
            }
        }
        s = team_sum(s, lid, p.team);
        if live {
            let scale = p.weight / s;
            for (var j = lane; j < p.k; j += p.team) {
                probs[off + j] += exp(logits[off + j] - m) * scale;
            }
        }
    }
}
