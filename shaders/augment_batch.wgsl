// The input pipeline on the device: bytes -> normalised f32 NHWC, with the training augmentation
// (random crop with zero padding, then horizontal flip). Per output element:
//   v = (byte / 255 - mean[c]) / std[c]
//   crop[y][x] = v[y + oy - pad][x + ox - pad], 0 outside the image (padding is 0 after normalising)
//   out[y][x] = crop[y][W - 1 - x] when flipped, else crop[y][x]
// (oy, ox, flip) come from the counter-based generator keyed by (seed, epoch, sample id).
// #include "common/util.wgsl"
// #include "common/augment_rng.wgsl"
struct Params {
    n: u32,
    h: u32,
    w: u32,
    c: u32,
    pad: u32,
    flip: u32,
    augment: u32,
    _p0: u32,
    mean: vec4<f32>,
    stddev: vec4<f32>,
}
@group(0) @binding(0) var<uniform> p: Params;
// N*H*W*C bytes, four per word, little-endian; image n is contiguous, HWC.
@group(0) @binding(1) var<storage, read> images: array<u32>;
@group(0) @binding(2) var<storage, read> sample_ids: array<u32>;
// (seed, epoch), written by the host each epoch; read here so the plan is recorded once.
@group(0) @binding(3) var<storage, read> rng: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let total = p.n * p.h * p.w * p.c;
    for (var i = gid.x; i < total; i += grid_stride(nwg)) {
        let ch = i % p.c;
        let pix = i / p.c;
        let x = pix % p.w;
        let row = pix / p.w;
        let y = row % p.h;
        let n = row / p.h;
        var sy = i32(y);
        var sx = i32(x);
        if p.augment != 0u {
            let d = augment_draw(rng[0], rng[1], sample_ids[n], p.pad);
            if p.flip != 0u && d.z != 0u {
                sx = i32(p.w - 1u - x);
            }
            sy += i32(d.x) - i32(p.pad);
            sx += i32(d.y) - i32(p.pad);
        }
        var v = 0.0;
        if sy >= 0 && sy < i32(p.h) && sx >= 0 && sx < i32(p.w) {
            let b = ((n * p.h + u32(sy)) * p.w + u32(sx)) * p.c + ch;
            let byte = (images[b / 4u] >> (8u * (b % 4u))) & 0xffu;
            v = (f32(byte) / 255.0 - p.mean[ch]) / p.stddev[ch];
        }
        out[i] = v;
    }
}
