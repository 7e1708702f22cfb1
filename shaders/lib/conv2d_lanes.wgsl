// The implicit-GEMM core for CPU adapters, any kernel size (see lib/lanes.wgsl for its shape): entry point
// of the lanes variants of conv2d_forward.wgsl and conv2d_backward_input.wgsl, whose accessors it calls.
// Lane `lane` owns pixels m0 + LANES * i + lane, i < TM.
// Grid: x = column tiles of TN, y (then z past 65535) = pixel tiles of LANES * TM.
// #include "lib/lanes.wgsl"

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(subgroup_invocation_id) lane: u32) {
    let hw = p.oh * p.ow;
    let m_total = p.n * hw;
    let m0 = lanes_tile(wid, nwg) * (LANES * TM);
    let n0 = wid.x * TN;
    if (m0 >= m_total) {
        return;
    }
    let sc = src_channels();
    let nc = out_channels();
    // (image, row, column) of each pixel, decoded once; pixels past the end get a row no tap reaches.
    var img: array<u32, TM>;
    var oh: array<i32, TM>;
    var ow: array<i32, TM>;
    for (var i = 0u; i < TM; i++) {
        let m = m0 + LANES * i + lane;
        img[i] = m / hw;
        let rem = m - img[i] * hw;
        oh[i] = select(-1000000, i32((rem / p.ow) << p.stride_shift) - p.off_h, m < m_total);
        ow[i] = i32((rem % p.ow) << p.stride_shift) - p.off_w;
    }
    // The columns this lane loads weights for (clamped: columns past the end are computed, never stored).
    var col: array<u32, TQ>;
    var bias_q: array<f32, TQ>;
    for (var q = 0u; q < TQ; q++) {
        col[q] = min(n0 + LANES * q + lane, nc - 1u);
        bias_q[q] = out_bias(col[q]);
    }
    // Shuffled here, while every lane is active (a shuffle from an inactive lane is undefined).
    var bias_v: array<vec4<f32>, TC>;
    for (var t = 0u; t < TC; t++) {
        bias_v[t] = lanes_columns(bias_q, t);
    }
    let wstride = wt_channel_stride();
    var acc: array<array<vec4<f32>, TC>, TM>;
    for (var dh = 0u; dh < p.taps_h; dh++) {
        for (var dw = 0u; dw < p.taps_w; dw++) {
            var src: array<u32, TM>;
            var ok: array<bool, TM>;
            for (var i = 0u; i < TM; i++) {
                let ih = oh[i] + i32(dh);
                let iw = ow[i] + i32(dw);
                ok[i] = ih >= 0 && ih < i32(p.src_h) && iw >= 0 && iw < i32(p.src_w);
                src[i] = select(0u, ((img[i] * p.src_h + u32(ih)) * p.src_w + u32(iw)) * sc, ok[i]);
            }
            var wb: array<u32, TQ>;
            for (var q = 0u; q < TQ; q++) {
                wb[q] = wt_base(col[q], dh, dw);
            }
            for (var c = 0u; c < sc; c++) {
                var a: array<vec4<f32>, TM>;
                for (var i = 0u; i < TM; i++) {
                    a[i] = vec4<f32>(select(0.0, src_at(src[i] + c), ok[i]));
                }
                var b: array<f32, TQ>;
                for (var q = 0u; q < TQ; q++) {
                    b[q] = wt_at(wb[q] + c * wstride);
                }
                for (var t = 0u; t < TC; t++) {
                    let bv = lanes_columns(b, t);
                    for (var i = 0u; i < TM; i++) {
                        acc[i][t] = fma(a[i], bv, acc[i][t]);
                    }
                }
            }
        }
    }
    for (var i = 0u; i < TM; i++) {
        let m = m0 + LANES * i + lane;
        if (m < m_total) {
            let px = out_pixel(m);
            for (var t = 0u; t < TC; t++) {
                let v = out_activate(acc[i][t] + bias_v[t]);
                for (var e = 0u; e < 4u; e++) {
                    if (n0 + 4u * t + e < nc) {
                        out_write(px, n0 + 4u * t + e, v[e]);
                    }
                }
            }
        }
    }
}
