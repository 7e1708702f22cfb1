// counts[0] += number of rows with a valid label (!= 0xFFFFFFFF) equal to the row's first argmax of
// scores [N, K]. One workgroup, one row per thread, a fixed-order tree for the total: the count is
// exact and the kernel deterministic. Meant for evaluation (N in the thousands, K small).
// #include "lib/rows.wgsl"
struct Params { n: u32, k: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> scores: array<f32>;     // [N, K]
@group(0) @binding(2) var<storage, read> labels: array<u32>;     // [N]
@group(0) @binding(3) var<storage, read_write> counts: array<f32>;  // [1]

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
    var correct = 0u;
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
        }
    }
    let total = team_sum_u32(correct, lid, WG);
    if lid == 0u {
        counts[0] = counts[0] + f32(total);
    }
}
