// Fused softmax cross-entropy over logits [N, K] with labels [N] (0xFFFFFFFF = padding row; a label
// >= K is treated the same, so a bad label cannot read out of bounds):
//   d_logits = (softmax - onehot) / n_valid   (zero rows for padding)
//   stats[0] += mean loss over valid rows;  stats[1] += valid rows whose first argmax is the label;
//   stats[2] = 1 when that mean loss is NaN, infinite or above p.max_loss (divergence: sgd_update reads
//   it and applies no update from then on; the host clears it when it starts an epoch)
// Workgroup 0 computes the statistics alone, one row per thread, and reduces them in a fixed tree
// order (deterministic, and no workspace needed). It is workgroup 0 so that it starts first. The other
// `row_groups` workgroups write d_logits in teams of `team` threads per row; each of them counts
// n_valid itself (a few thousand labels) rather than waiting for another pass.
// #include "lib/rows.wgsl"
struct Params { n: u32, k: u32, team: u32, row_groups: u32, max_loss: f32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;        // [N, K]
@group(0) @binding(2) var<storage, read> labels: array<u32>;        // [N]
@group(0) @binding(3) var<storage, read_write> d_logits: array<f32>;  // [N, K]
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;     // [3]

const PAD: u32 = 0xffffffffu;

fn label_of(row: u32) -> u32 {
    let l = labels[row];
    return select(PAD, l, l < p.k);
}

fn statistics(lid: u32) {
    var loss = 0.0;
    var correct = 0u;
    var valid = 0u;
    for (var row = lid; row < p.n; row += WG) {
        // An `if`, not `continue`: a non-uniform continue makes WGSL's uniformity analysis (Tint)
        // distrust the barriers that follow the loop.
        let label = label_of(row);
        if label != PAD {
            let off = row * p.k;
            var m = logits[off];
            var arg = 0u;
            for (var j = 1u; j < p.k; j++) {
                let v = logits[off + j];
                if v > m {
                    m = v;
                    arg = j;
                }
            }
            var s = 0.0;
            for (var j = 0u; j < p.k; j++) {
                s += exp(logits[off + j] - m);
            }
            loss += log(s) + m - logits[off + label];
            correct += u32(arg == label);
            valid += 1u;
        }
    }
    let total_loss = team_sum(loss, lid, WG);
    let total_correct = team_sum_u32(correct, lid, WG);
    let total_valid = team_sum_u32(valid, lid, WG);
    if lid == 0u {
        if total_valid > 0u {
            let batch_loss = total_loss / f32(total_valid);
            stats[0] = stats[0] + batch_loss;
            // Tested on the bits: WGSL lets a compiler assume floats are never NaN or infinite.
            let non_finite = (bitcast<u32>(batch_loss) & 0x7f800000u) == 0x7f800000u;
            if non_finite || batch_loss > p.max_loss {
                stats[2] = 1.0;
            }
        }
        stats[1] = stats[1] + f32(total_correct);
    }
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    if wid.x == 0u {
        statistics(lid);
        return;
    }
    var count = 0u;
    for (var i = lid; i < p.n; i += WG) {
        count += u32(label_of(i) != PAD);
    }
    let n_valid = team_sum_u32(count, lid, WG);
    let scale = 1.0 / f32(max(n_valid, 1u));

    let rows_per_group = WG / p.team;
    let lane = lid % p.team;
    for (var base = (wid.x - 1u) * rows_per_group; base < p.n; base += p.row_groups * rows_per_group) {
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
            let label = label_of(row);
            let inv = 1.0 / s;
            for (var j = lane; j < p.k; j += p.team) {
                let g = (exp(logits[off + j] - m) * inv - select(0.0, 1.0, j == label)) * scale;
                d_logits[off + j] = select(g, 0.0, label == PAD);
            }
        }
    }
}
