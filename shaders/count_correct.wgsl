// counts[0] += number of rows with a valid label (!= 0xFFFFFFFF) equal to the row's first argmax of
// scores [N, K]; counts[1] += rows whose label is among the row's top `top` classes, ranked by score
// with ties going to the lower class index (so top 1 is the first argmax). One workgroup, one row per
// thread, fixed-order trees for the totals: the counts are exact and the kernel deterministic. Meant
// for evaluation (N in the thousands; K up to ImageNet's 1000).
// #include "lib/rows.wgsl"
struct Params { n: u32, k: u32, top: u32, _p0: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> scores: array<f32>;     // [N, K]
@group(0) @binding(2) var<storage, read> labels: array<u32>;     // [N]
@group(0) @binding(3) var<storage, read_write> counts: array<f32>;  // [2]: top 1, top `top`

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
    var correct = 0u;
    var in_top = 0u;
    for (var row = lid; row < p.n; row += WG) {
        // Padding (0xFFFFFFFF) or no such class: never correct. (An `if` rather than `continue`, which
        // would make WGSL's uniformity analysis distrust the barriers after the loop.)
        let label = labels[row];
        if label < p.k {
            let off = row * p.k;
            var m = scores[off];
            var arg = 0u;
            for (var j = 1u; j < p.k; j++) {
                let v = scores[off + j];
                if v > m {
                    m = v;
                    arg = j;
                }
            }
            correct += u32(arg == label);
            // The label's rank: classes scoring above it, or as high at a lower index.
            let s = scores[off + label];
            var rank = 0u;
            for (var j = 0u; j < p.k; j++) {
                let v = scores[off + j];
                rank += u32(v > s || (v == s && j < label));
            }
            in_top += u32(rank < p.top);
        }
    }
    let total = team_sum_u32(correct, lid, WG);
    let total_top = team_sum_u32(in_top, lid, WG);
    if lid == 0u {
        counts[0] = counts[0] + f32(total);
        counts[1] = counts[1] + f32(total_top);
    }
}
