// The implicit-GEMM core for CPU adapters and kernels 3 wide (see lib/lanes.wgsl for its shape): entry
// point of the runs variants of conv2d_forward.wgsl and conv2d_backward_input.wgsl, whose accessors it
// calls. Lane `lane` owns a run of TM consecutive output pixels of one
// image row. For each kernel row dh and source channel the TM + 2 source pixels under the run are loaded
// once and shared by the three taps dw = 0, 1, 2 (the general kernel loads 3 * TM), which is what bounds
// these kernels on CPU adapters. Pixels of a run past the row's end are computed and not stored.
// Stride 1 only (the host checks): rows and taps step through the source one pixel at a time.
// Grid: x = column tiles of TN, y (then z past 65535) = tiles of LANES runs.
// #include "lib/lanes.wgsl"
const KR: u32 = 3u;
const WIN: u32 = TM + KR - 1u;

// One tap dw of one reduction step: acc[i] += src[i + dw] * w[col, dh, dw, c] for the TN columns.
fn runs_tap(acc: ptr<function, array<array<vec4<f32>, TC>, TM>>, a: ptr<function, array<vec4<f32>, WIN>>, dw: u32,
            wb: array<u32, TQ>) {
    var b: array<f32, TQ>;
    for (var q = 0u; q < TQ; q++) {
        b[q] = wt_at(wb[q]);
    }
    for (var t = 0u; t < TC; t++) {
        let bv = lanes_columns(b, t);
        for (var i = 0u; i < TM; i++) {
            (*acc)[i][t] = fma((*a)[i + dw], bv, (*acc)[i][t]);
        }
    }
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(subgroup_invocation_id) lane: u32) {
    let run_total = p.n * p.oh * p.runs;
    let r0 = lanes_tile(wid, nwg) * LANES;
    let n0 = wid.x * TN;
    if (r0 >= run_total) {
        return;
    }
    let sc = src_channels();
    let nc = out_channels();
    let r = r0 + lane;
    let live = r < run_total;
    let rr = min(r, run_total - 1u);
    let row = rr / p.runs;                 // image * OH + output row
    let ow0 = (rr - row * p.runs) * TM;
    let oh = row % p.oh;
    let src_img = (row - oh) / p.oh * p.src_h;  // image * src_h
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
        let ih = i32(oh + dh) - p.off_h;
        let row_ok = live && ih >= 0 && ih < i32(p.src_h);
        var src: array<u32, WIN>;
        var ok: array<bool, WIN>;
        for (var t = 0u; t < WIN; t++) {
            let iw = i32(ow0 + t) - p.off_w;
            ok[t] = row_ok && iw >= 0 && iw < i32(p.src_w);
            src[t] = select(0u, ((src_img + u32(ih)) * p.src_w + u32(iw)) * sc, ok[t]);
        }
        var wb0: array<u32, TQ>;
        var wb1: array<u32, TQ>;
        var wb2: array<u32, TQ>;
        for (var q = 0u; q < TQ; q++) {
            wb0[q] = wt_base(col[q], dh, 0u);
            wb1[q] = wt_base(col[q], dh, 1u);
            wb2[q] = wt_base(col[q], dh, 2u);
        }
        for (var c = 0u; c < sc; c++) {
            var a: array<vec4<f32>, WIN>;
            for (var t = 0u; t < WIN; t++) {
                a[t] = vec4<f32>(select(0.0, src_at(src[t] + c), ok[t]));
            }
            // Three calls with constant dw: once inlined, every window index is a constant.
            runs_tap(&acc, &a, 0u, wb0);
            runs_tap(&acc, &a, 1u, wb1);
            runs_tap(&acc, &a, 2u, wb2);
            for (var q = 0u; q < TQ; q++) {
                wb0[q] += wstride;
                wb1[q] += wstride;
                wb2[q] += wstride;
            }
        }
    }
    if (live) {
        for (var i = 0u; i < TM; i++) {
            if (ow0 + i < p.ow) {
                let px = out_pixel(row * p.ow + ow0 + i);
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
}
