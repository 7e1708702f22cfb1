// y = conv2d(x, w) (+ bias) (then ReLU), stride 1, zero padding `pad`, as an implicit GEMM:
//   C[m, co] = sum_k A[m, k] * B[k, co],  m = (n, oh, ow),  k = (kh, kw, ci)
//   A[m, k] = x[n, oh + kh - pad, ow + kw - pad, ci]  (0 outside the image; never materialised)
//   B[k, co] = w[co, kh, kw, ci]
// x: [N, H, W, Cin], w: [Cout, KH, KW, Cin], bias: [Cout], y: [N, H, W, Cout].
// #include "common/gemm.wgsl"
struct Params {
    n: u32, h: u32, w: u32, cin: u32,
    cout: u32, kh: u32, kw: u32, pad: u32,
    flags: u32, _p0: u32, _p1: u32, _p2: u32,
}
const HAS_BIAS: u32 = 1u;
const RELU: u32 = 2u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let hw = p.h * p.w;
    let m_total = p.n * hw;
    let k_total = p.kh * p.kw * p.cin;
    let m0 = gemm_m_tile(wid, nwg) * BM;
    let n0 = wid.x * BN;
    if (m0 >= m_total) {
        return;
    }
    // Staging: thread li loads k column li % 16 for rows li / 16 + 16 i (A) and filters li / 16 + 16 i (B);
    // a warp then reads 16 consecutive k = consecutive ci, which are contiguous in NHWC and in w.
    let kl = li % BK;
    let rl = li / BK;
    // Each thread's four A rows are fixed for the whole reduction: decode (n, oh, ow) once.
    var row_base: array<u32, 4>;
    var row_h: array<i32, 4>;
    var row_w: array<i32, 4>;
    for (var i = 0u; i < 4u; i++) {
        let m = m0 + rl + 16u * i;
        let img = m / hw;
        let rem = m % hw;
        row_base[i] = img * hw;
        // Rows past the end get a position no tap can reach, so they load zeros.
        row_h[i] = select(-1000000, i32(rem / p.w) - i32(p.pad), m < m_total);
        row_w[i] = i32(rem % p.w) - i32(p.pad);
    }
    let tx = li % 16u;
    let ty = li / 16u;
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < k_total; k0 += BK) {
        let k = k0 + kl;
        let ci = k % p.cin;
        let r = k / p.cin;
        let dh = i32(r / p.kw);
        let dw = i32(r % p.kw);
        for (var i = 0u; i < 4u; i++) {
            let ih = row_h[i] + dh;
            let iw = row_w[i] + dw;
            var v = 0.0;
            if (k < k_total && ih >= 0 && ih < i32(p.h) && iw >= 0 && iw < i32(p.w)) {
                v = x[(row_base[i] + u32(ih) * p.w + u32(iw)) * p.cin + ci];
            }
            tile_a_store(kl, rl + 16u * i, v);
            let co = n0 + rl + 16u * i;
            var b = 0.0;
            if (k < k_total && co < p.cout) {
                b = wt[co * k_total + k];
            }
            tile_b_store(kl, rl + 16u * i, b);
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
            let co = n0 + tx * 4u + j;
            if (co < p.cout) {
                var v = acc[i][j];
                if ((p.flags & HAS_BIAS) != 0u) {
                    v += bias[co];
                }
                if ((p.flags & RELU) != 0u) {
                    v = max(v, 0.0);
                }
                y[m * p.cout + co] = v;
            }
        }
    }
}
