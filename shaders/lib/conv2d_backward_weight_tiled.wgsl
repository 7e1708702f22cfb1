// The weight-gradient core for GPUs, entry point of the tiled variants of conv2d_backward_weight.wgsl, on
// the register-tiled GEMM of lib/gemm.wgsl, one split-K chunk per grid z: C[co, j] = sum over pixels m of A[co, m] * B[m, j], A[co, m] = d_y[m, co] (M = Cout),
// B as in conv2d_backward_weight.wgsl (N = cols). Both tiles are staged with threads running
// along the contiguous axis (channels of d_y, (tap, ci) columns of x); each thread's B column is fixed
// for the whole reduction, and its d_y pixels' (image, row, column) are advanced from tile to tile, dividing
// only when a tile steps past a whole image.
// Grid: x = column tiles of BN, y = channel tiles of BM, z = split.
// #include "lib/gemm.wgsl"
const A_PER: u32 = BM * BK / GEMM_THREADS;
const B_PER: u32 = BN * BK / GEMM_THREADS;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let hw = p.oh * p.ow;
    let m_total = p.n * hw;
    let co0 = wid.y * BM;
    let j0 = wid.x * BN;
    let m_begin = wid.z * p.chunk;
    let m_end = min(m_begin + p.chunk, m_total);
    let a_co = co0 + li % BM;
    let a_co_ok = a_co < p.cout;
    let col = weight_column(j0 + li % BN);
    // Pixel steps of one tile, split into rows and columns once.
    let step_h = BK / p.ow;
    let step_w = BK % p.ow;
    var b_img: array<u32, B_PER>;
    var b_oh: array<u32, B_PER>;
    var b_ow: array<u32, B_PER>;
    for (var s = 0u; s < B_PER; s++) {
        let m = m_begin + li / BN + (GEMM_THREADS / BN) * s;
        b_img[s] = m / hw;
        b_ow[s] = m % p.ow;
        b_oh[s] = (m / p.ow) % p.oh;
    }
    let tx = li % TX;
    let ty = li / TX;
    var acc: array<array<vec4<f32>, GN>, TM>;
    var ra: array<f32, A_PER>;
    var rb: array<f32, B_PER>;
    let tiles = (m_end - m_begin + BK - 1u) / BK;
    for (var t = 0u; t <= tiles; t++) {
        let k0 = m_begin + t * BK;
        if (t < tiles) {
            for (var s = 0u; s < A_PER; s++) {
                let m = k0 + li / BM + (GEMM_THREADS / BM) * s;
                let inside = m < m_end && a_co_ok;
                ra[s] = select(0.0, d_y[select(0u, m * p.cout + a_co, inside)], inside);
            }
            for (var s = 0u; s < B_PER; s++) {
                let m = k0 + li / BN + (GEMM_THREADS / BN) * s;
                let origin = window_origin(b_img[s], b_oh[s], b_ow[s]);
                rb[s] = weight_column_at(col, origin, b_oh[s], b_ow[s], m < m_end);
            }
        }
        if (t > 0u) {
            gemm_tile_mma((t - 1u) & 1u, tx, ty, &acc);
        }
        if (t < tiles) {
            let buf = t & 1u;
            for (var s = 0u; s < A_PER; s++) {
                tile_a_store(buf, li / BM + (GEMM_THREADS / BM) * s, li % BM, ra[s]);
            }
            for (var s = 0u; s < B_PER; s++) {
                tile_b_store(buf, li / BN + (GEMM_THREADS / BN) * s, li % BN, rb[s]);
                b_ow[s] += step_w;
                b_oh[s] += step_h;
                if (b_ow[s] >= p.ow) {
                    b_ow[s] -= p.ow;
                    b_oh[s] += 1u;
                }
                if (b_oh[s] >= p.oh) {
                    b_img[s] += b_oh[s] / p.oh;
                    b_oh[s] %= p.oh;
                }
            }
        }
        workgroupBarrier();
    }
    let base = wid.z * p.cout * p.cols;
    for (var i = 0u; i < TM; i++) {
        let co = co0 + gemm_row(ty, i);
        if (co < p.cout) {
            for (var j = 0u; j < TN; j++) {
                let jj = j0 + gemm_col(tx, j);
                if (jj < p.cols) {
                    partial[base + co * p.cols + jj] = acc[i][j / 4u][j % 4u];
                }
            }
        }
    }
}
