// The implicit-GEMM core for GPUs: entry point of the tiled variants of conv2d_forward.wgsl and
// conv2d_backward_input.wgsl, whose accessors it calls, on the register-tiled GEMM of lib/gemm.wgsl:
//   C[m, n] = sum_k A[m, k] * B[k, n],  m = (image, oh, ow),  k = (dh, dw, c) tap-major,  n = output column
//   A[m, k] = src[image, (r << stride_shift) + dh - off_h, (c << stride_shift) + dw - off_w, c]  (0 outside;
//             never materialised), m = (image, r, c) a pixel of the row grid (lib/conv2d_params.wgsl)
//   B[k, n] = w at wt_base(n, dh, dw) + c * wt_channel_stride()
// Staging keeps the index arithmetic off the inner loop: each thread decodes its A rows' pixels once, and
// tracks the (c, dh, dw) of its reduction indices incrementally from tile to tile (no division per tile).
// While one staged tile is multiplied, the next one is loaded into registers.
// The body says whether w is contiguous along k (forward) or along n (input gradient); B is staged
// with threads running along the contiguous axis so a warp's loads coalesce.
// #include "lib/gemm.wgsl"
const A_PER: u32 = BM * BK / GEMM_THREADS;   // A elements a thread stages per tile
const B_PER: u32 = BN * BK / GEMM_THREADS;
const A_ROWS: u32 = GEMM_THREADS / BK;       // rows of A staged per pass

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let hw = p.oh * p.ow;
    let m_total = p.n * hw;
    let sc = src_channels();
    let nc = out_channels();
    let k_total = p.taps_h * p.taps_w * sc;
    let m0 = gemm_m_tile(wid, nwg) * BM;
    let n0 = wid.x * BN;
    if (m0 >= m_total) {
        return;
    }
    // A: this thread stages reduction column li % BK of rows li / BK + A_ROWS * s (consecutive threads
    // read consecutive channels of one pixel).
    let ak = li % BK;
    var a_img: array<u32, A_PER>;
    var a_oh: array<i32, A_PER>;
    var a_ow: array<i32, A_PER>;
    for (var s = 0u; s < A_PER; s++) {
        let m = m0 + li / BK + A_ROWS * s;
        a_img[s] = m / hw;
        let rem = m - a_img[s] * hw;
        // Rows past the end get a row no tap reaches, so they stage zeros.
        a_oh[s] = select(-1000000, i32((rem / p.ow) << p.stride_shift) - p.off_h, m < m_total);
        a_ow[s] = i32((rem % p.ow) << p.stride_shift) - p.off_w;
    }
    var a_tap = tap_of(ak, sc, p.taps_w);
    // B: element s of this thread is (b_k[s], b_n[s]) of the tile. Along k, every element of a thread has
    // the reduction index of its A elements, and a_tap serves both.
    var b_k: array<u32, B_PER>;
    var b_n: array<u32, B_PER>;
    var b_tap: array<Tap, B_PER>;
    for (var s = 0u; s < B_PER; s++) {
        if (WT_ALONG_K) {
            b_k[s] = ak;
            b_n[s] = li / BK + (GEMM_THREADS / BK) * s;
        } else {
            b_n[s] = li % BN;
            b_k[s] = li / BN + (GEMM_THREADS / BN) * s;
            b_tap[s] = tap_of(b_k[s], sc, p.taps_w);
        }
    }
    let wstride = wt_channel_stride();
    let tx = li % TX;
    let ty = li / TX;
    var acc: array<array<vec4<f32>, GN>, TM>;
    var ra: array<f32, A_PER>;
    var rb: array<f32, B_PER>;
    let tiles = (k_total + BK - 1u) / BK;
    for (var t = 0u; t <= tiles; t++) {
        // Load tile t into registers (A and B), then store it to buffer t % 2 after the
        // multiply of tile t - 1 has been issued.
        if (t < tiles) {
            for (var s = 0u; s < A_PER; s++) {
                let ih = a_oh[s] + i32(a_tap.dh);
                let iw = a_ow[s] + i32(a_tap.dw);
                let inside = a_tap.dh < p.taps_h && ih >= 0 && ih < i32(p.src_h) && iw >= 0 && iw < i32(p.src_w);
                let idx = ((a_img[s] * p.src_h + u32(ih)) * p.src_w + u32(iw)) * sc + a_tap.c;
                ra[s] = select(0.0, src_at(select(0u, idx, inside)), inside);
            }
            for (var s = 0u; s < B_PER; s++) {
                let col = n0 + b_n[s];
                var bt = a_tap;
                if (!WT_ALONG_K) {
                    bt = b_tap[s];
                }
                let inside = bt.dh < p.taps_h && col < nc;
                let idx = wt_base(col, bt.dh, bt.dw) + bt.c * wstride;
                rb[s] = select(0.0, wt_at(select(0u, idx, inside)), inside);
            }
        }
        if (t > 0u) {
            gemm_tile_mma((t - 1u) & 1u, tx, ty, &acc);
        }
        if (t < tiles) {
            let buf = t & 1u;
            for (var s = 0u; s < A_PER; s++) {
                tile_a_store(buf, ak, li / BK + A_ROWS * s, ra[s]);
            }
            for (var s = 0u; s < B_PER; s++) {
                tile_b_store(buf, b_k[s], b_n[s], rb[s]);
            }
            a_tap = tap_advance(a_tap, BK, sc, p.taps_w);
            if (!WT_ALONG_K) {
                for (var s = 0u; s < B_PER; s++) {
                    b_tap[s] = tap_advance(b_tap[s], BK, sc, p.taps_w);
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < TM; i++) {
        let m = m0 + gemm_row(ty, i);
        if (m < m_total) {
            let px = out_pixel(m);
            for (var c = 0u; c < GN; c++) {
                let col = n0 + gemm_col(tx, 4u * c);
                let b = vec4<f32>(out_bias(min(col, nc - 1u)), out_bias(min(col + 1u, nc - 1u)),
                                  out_bias(min(col + 2u, nc - 1u)), out_bias(min(col + 3u, nc - 1u)));
                let v = out_activate(acc[i][c] + b);
                for (var e = 0u; e < 4u; e++) {
                    if (col + e < nc) {
                        out_write(px, col + e, v[e]);
                    }
                }
            }
        }
    }
}
