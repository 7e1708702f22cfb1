// d_w (and d_bias) = conv2d_backward_weight(x, d_y), as an implicit GEMM with split-K:
//   C[co, j] = sum_m A[co, m] * B[m, j],  m = (n, oh, ow),  j = (kh, kw, ci), plus j = KH*KW*Cin
//   A[co, m] = d_y[m, co]
//   B[m, j] = x[n, oh + kh - pad, ow + kw - pad, ci] (0 outside); the extra column j = KH*KW*Cin is 1,
//             so C[co, KH*KW*Cin] = sum_m d_y[m, co] = d_bias[co] comes out of the same GEMM.
// The reduction over N*H*W is long and the output small, so it is split into `splits` chunks: entry
// `main` writes one partial C per chunk into `partial` [splits][Cout][cols]; entry `reduce` sums the
// chunks in a fixed order (deterministic) into d_w [Cout, KH, KW, Cin] and d_bias [Cout].
// #include "common/gemm.wgsl"
struct Params {
    n: u32, h: u32, w: u32, cin: u32,
    cout: u32, kh: u32, kw: u32, pad: u32,
    flags: u32, splits: u32, chunk: u32, cols: u32,
}
const HAS_BIAS: u32 = 1u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> d_y: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let hw = p.h * p.w;
    let m_total = p.n * hw;
    let kk_total = p.kh * p.kw * p.cin;
    let co0 = wid.y * BM;
    let j0 = wid.x * BN;
    let m_begin = wid.z * p.chunk;
    let m_end = min(m_begin + p.chunk, m_total);
    // Both tiles are staged with the output index fastest: consecutive co are contiguous in d_y,
    // consecutive j = (kh, kw, ci) are contiguous (over ci) in x.
    let ol = li % BM;
    let ml = li / BM;
    // This thread's B column j is fixed for the whole reduction: decode (kh, kw, ci) once.
    let j = j0 + ol;
    let ci = j % p.cin;
    let tap = j / p.cin;
    let dh = i32(tap / p.kw) - i32(p.pad);
    let dw = i32(tap % p.kw) - i32(p.pad);
    let is_bias_col = j == kk_total && (p.flags & HAS_BIAS) != 0u;
    let co_a = co0 + ol;
    let tx = li % 16u;
    let ty = li / 16u;
    var acc: array<vec4<f32>, 4>;
    for (var k0 = m_begin; k0 < m_end; k0 += BK) {
        for (var i = 0u; i < 4u; i++) {
            let m = k0 + ml + 4u * i;
            var a = 0.0;
            var b = 0.0;
            if (m < m_end) {
                if (co_a < p.cout) {
                    a = d_y[m * p.cout + co_a];
                }
                if (j < kk_total) {
                    let rem = m % hw;
                    let ih = i32(rem / p.w) + dh;
                    let iw = i32(rem % p.w) + dw;
                    if (ih >= 0 && ih < i32(p.h) && iw >= 0 && iw < i32(p.w)) {
                        b = x[((m - rem) + u32(ih) * p.w + u32(iw)) * p.cin + ci];
                    }
                } else if (is_bias_col) {
                    b = 1.0;
                }
            }
            tile_a_store(ml + 4u * i, ol, a);
            tile_b_store(ml + 4u * i, ol, b);
        }
        workgroupBarrier();
        gemm_tile_mma(tx, ty, &acc);
        workgroupBarrier();
    }
    let base = wid.z * p.cout * p.cols;
    for (var i = 0u; i < 4u; i++) {
        let co = co0 + ty * 4u + i;
        if (co >= p.cout) {
            break;
        }
        for (var c = 0u; c < 4u; c++) {
            let jj = j0 + tx * 4u + c;
            if (jj < p.cols) {
                partial[base + co * p.cols + jj] = acc[i][c];
            }
        }
    }
}

@group(0) @binding(4) var<storage, read_write> d_w: array<f32>;
@group(0) @binding(5) var<storage, read_write> d_bias: array<f32>;

@compute @workgroup_size(256)
fn reduce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let kk_total = p.kh * p.kw * p.cin;
    let total = p.cout * p.cols;
    for (var e = gid.x; e < total; e += nwg.x * 256u) {
        var s = 0.0;
        for (var z = 0u; z < p.splits; z++) {
            s += partial[z * total + e];
        }
        let co = e / p.cols;
        let jj = e % p.cols;
        if (jj < kk_total) {
            d_w[co * kk_total + jj] = s;
        } else {
            d_bias[co] = s;
        }
    }
}
