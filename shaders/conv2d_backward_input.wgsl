// d_x = conv2d_backward_input(d_y, w), stride 1, zero padding `pad`, as an implicit GEMM:
//   C[m, ci] = sum_k A[m, k] * B[k, ci],  m = (n, ih, iw),  k = (kh, kw, co)
//   A[m, k] = d_y[n, ih + pad - kh, iw + pad - kw, co]  (0 outside)
//   B[k, ci] = w[co, kh, kw, ci]
// d_y: [N, H, W, Cout], w: [Cout, KH, KW, Cin], d_x: [N, H, W, Cin].
// #include "common/gemm.wgsl"
struct Params {
    n: u32, h: u32, w: u32, cin: u32,
    cout: u32, kh: u32, kw: u32, pad: u32,
    flags: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> d_y: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read_write> d_x: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let hw = p.h * p.w;
    let m_total = p.n * hw;
    let taps = p.kh * p.kw;
    let k_total = taps * p.cout;
    let m0 = gemm_m_tile(wid, nwg) * BM;
    let n0 = wid.x * BN;
    if (m0 >= m_total) {
        return;
    }
    // A is staged k-fastest (consecutive co are contiguous in d_y), B n-fastest (consecutive ci in w).
    let kl = li % BK;
    let rl = li / BK;
    let bn = li % BN;
    let bk = li / BN;
    var row_base: array<u32, 4>;
    var row_h: array<i32, 4>;
    var row_w: array<i32, 4>;
    for (var i = 0u; i < 4u; i++) {
        let m = m0 + rl + 16u * i;
        let rem = m % hw;
        row_base[i] = (m / hw) * hw;
        row_h[i] = select(-1000000, i32(rem / p.w) + i32(p.pad), m < m_total);
        row_w[i] = i32(rem % p.w) + i32(p.pad);
    }
    let tx = li % 16u;
    let ty = li / 16u;
    let ci_b = n0 + bn;
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < k_total; k0 += BK) {
        let k = k0 + kl;
        let co = k % p.cout;
        let r = k / p.cout;
        let dh = i32(r / p.kw);
        let dw = i32(r % p.kw);
        for (var i = 0u; i < 4u; i++) {
            let oh = row_h[i] - dh;
            let ow = row_w[i] - dw;
            var v = 0.0;
            if (k < k_total && oh >= 0 && oh < i32(p.h) && ow >= 0 && ow < i32(p.w)) {
                v = d_y[(row_base[i] + u32(oh) * p.w + u32(ow)) * p.cout + co];
            }
            tile_a_store(kl, rl + 16u * i, v);
            let kb = k0 + bk + 4u * i;
            var b = 0.0;
            if (kb < k_total && ci_b < p.cin) {
                let cob = kb % p.cout;
                let tap = kb / p.cout;
                b = wt[(cob * taps + tap) * p.cin + ci_b];
            }
            tile_b_store(bk + 4u * i, bn, b);
        }
        workgroupBarrier();
        gemm_tile_mma(tx, ty, &acc);
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let m = m0 + ty * 4u + i;
        if (m >= m_total) {
            break;
        }
        for (var j = 0u; j < 4u; j++) {
            let ci = n0 + tx * 4u + j;
            if (ci < p.cin) {
                d_x[m * p.cin + ci] = acc[i][j];
            }
        }
    }
}
