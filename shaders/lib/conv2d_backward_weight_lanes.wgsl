// The weight-gradient core for CPU adapters (see lib/lanes.wgsl for why it is shaped this way), entry
// point of the lanes variants of conv2d_backward_weight.wgsl: lane
// `lane` owns the TM columns j0 + LANES * i + lane of C and all TN output channels of the tile; per pixel
// it loads its TM values of B, and the TN values of d_y are loaded TN / 8 per lane and shuffled around.
// Grid: x = column tiles of LANES * TM, y = channel tiles of TN, z = split.
// #include "lib/lanes.wgsl"

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    let hw = p.oh * p.ow;
    let m_total = p.n * hw;
    let j0 = wid.x * (LANES * TM);
    let co0 = wid.y * TN;
    let m_begin = wid.z * p.chunk;
    let m_end = min(m_begin + p.chunk, m_total);
    var cols: array<WeightColumn, TM>;
    for (var i = 0u; i < TM; i++) {
        cols[i] = weight_column(j0 + LANES * i + lane);
    }
    var dy_col: array<u32, TQ>;
    for (var q = 0u; q < TQ; q++) {
        dy_col[q] = min(co0 + LANES * q + lane, p.cout - 1u);
    }
    var acc: array<array<vec4<f32>, TC>, TM>;
    // The d_y pixel's image, row and column, advanced without divisions (all lanes walk the same pixels).
    var img = m_begin / hw;
    var ow = m_begin % p.ow;
    var oh = (m_begin / p.ow) % p.oh;
    for (var m = m_begin; m < m_end; m++) {
        let origin = window_origin(img, oh, ow);
        var a: array<vec4<f32>, TM>;
        for (var i = 0u; i < TM; i++) {
            a[i] = vec4<f32>(weight_column_at(cols[i], origin, oh, ow, true));
        }
        var b: array<f32, TQ>;
        for (var q = 0u; q < TQ; q++) {
            b[q] = d_y[m * p.cout + dy_col[q]];
        }
        for (var t = 0u; t < TC; t++) {
            let bv = lanes_columns(b, t);
            for (var i = 0u; i < TM; i++) {
                acc[i][t] = fma(a[i], bv, acc[i][t]);
            }
        }
        ow++;
        if (ow == p.ow) {
            ow = 0u;
            oh++;
            if (oh == p.oh) {
                oh = 0u;
                img++;
            }
        }
    }
    let base = wid.z * p.cout * p.cols;
    for (var i = 0u; i < TM; i++) {
        let j = j0 + LANES * i + lane;
        if (j < p.cols) {
            for (var t = 0u; t < TN; t++) {
                if (co0 + t < p.cout) {
                    partial[base + (co0 + t) * p.cols + j] = acc[i][t / 4u][t % 4u];
                }
            }
        }
    }
}
