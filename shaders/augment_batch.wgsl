// The input pipeline on the device: bytes -> normalised f32 NHWC, with the training augmentation
// (random crop with black padding, then horizontal flip). Per output element:
//   v = (byte / 255 - mean[c]) / std[c]
//   crop[y][x] = v[y + oy - pad][x + ox - pad], byte 0 outside the image (black before normalising)
//   out[y][x] = crop[y][W - 1 - x] when flipped, else crop[y][x]
// (oy, ox, flip) come from the counter-based generator keyed by (seed, epoch, sample id).
// Grid over out's [N * H, W * C] image rows (lib/grid.wgsl): each thread keeps one (x, c), so its
// channel's normalisation is read once, and draws an image's crop and flip once, when its walk over
// consecutive rows enters that image; each element then costs one load and one store.
// #include "lib/grid.wgsl"
// #include "lib/augment_rng.wgsl"
struct Params {
    rows: u32,
    len: u32,
    cw: u32,
    lanes: u32,
    span: u32,
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
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let s = grid_span(t, wg);
    if s.r0 >= s.r1 {
        return;
    }
    let ch = s.u % p.c;
    let x = s.u / p.c;
    let mean = p.mean[ch];
    let stddev = p.stddev[ch];
    let seed = rng[0];
    let epoch = rng[1];
    var n = s.r0 / p.h;
    var y = s.r0 % p.h;
    var o = s.r0 * p.len + s.u;
    var r = s.r0;
    // One pass per image the walk touches: the draw sits outside the per-row loop, since a CPU driver
    // runs the body of an `if` whether or not any lane takes it.
    while r < s.r1 {
        // The image's source column and row offset; i32 because the crop reaches past the edges.
        var sx = i32(x);
        var dy = 0;
        if p.augment != 0u {
            let d = augment_draw(seed, epoch, sample_ids[n], p.pad);
            if p.flip != 0u && d.z != 0u {
                sx = i32(p.w - 1u - x);
            }
            sx += i32(d.y) - i32(p.pad);
            dy = i32(d.x) - i32(p.pad);
        }
        let col_inside = sx >= 0 && sx < i32(p.w);
        let image = n * p.h;
        let end = min(s.r1, r + p.h - y);
        for (; r < end; r++) {
            let sy = i32(y) + dy;
            let inside = col_inside && sy >= 0 && sy < i32(p.h);
            // Outside the image read byte 0 of the batch instead, and discard it.
            let b = select(0u, ((image + u32(sy)) * p.w + u32(sx)) * p.c + ch, inside);
            let byte = (images[b / 4u] >> (8u * (b % 4u))) & 0xffu;
            out[o] = (select(0.0, f32(byte), inside) / 255.0 - mean) / stddev;
            o += p.len;
            y++;
        }
        y = 0u;
        n++;
    }
}
