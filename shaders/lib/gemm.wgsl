// Register-tiled GEMM core shared by the tiled (GPU) implicit-GEMM kernels: conv2d forward and input
// gradient (lib/conv2d_tiled.wgsl) and weight gradient (lib/conv2d_backward_weight_tiled.wgsl);
// linear layers are 1x1 convolutions over a 1x1 map.
//
// The variant (src/ops/conv2d/variants.rs) sets the tile: BM x BN outputs per workgroup of 256 threads, TM x TN per thread (both
// multiples of 4), BK reduction steps per staged tile. Tiles are staged k-major in workgroup memory, twice
// (the next tile is written while the current one is multiplied: one barrier per tile). A thread's TM rows
// are TM / 4 groups of 4 consecutive rows spaced BM / (TM / 4) apart (likewise columns), so the vec4 reads
// of a warp hit consecutive addresses (no bank conflicts), and each k-row of a tile is padded by one vec4
// so the transposing scalar stores of the staging loops spread over banks too.
const GEMM_THREADS: u32 = 256u;
const TX: u32 = BN / TN;               // threads along N
const AV: u32 = BM / 4u + 1u;          // vec4 per staged k-row of A (padded)
const BV: u32 = BN / 4u + 1u;
const A_TILE: u32 = BK * AV;
const B_TILE: u32 = BK * BV;
const GM: u32 = TM / 4u;               // row groups per thread
const GN: u32 = TN / 4u;

var<workgroup> tile_a: array<vec4<f32>, 2u * A_TILE>;
var<workgroup> tile_b: array<vec4<f32>, 2u * B_TILE>;

fn tile_a_store(buf: u32, k: u32, m: u32, v: f32) {
    tile_a[buf * A_TILE + k * AV + m / 4u][m % 4u] = v;
}

fn tile_b_store(buf: u32, k: u32, n: u32, v: f32) {
    tile_b[buf * B_TILE + k * BV + n / 4u][n % 4u] = v;
}

// Row (within the tile) of a thread's accumulator row i, and column of its column j.
fn gemm_row(ty: u32, i: u32) -> u32 {
    return (i / 4u) * (BM / GM) + ty * 4u + i % 4u;
}
fn gemm_col(tx: u32, j: u32) -> u32 {
    return (j / 4u) * (BN / GN) + tx * 4u + j % 4u;
}

// acc[i][c] += A[row i, k] * B[k, columns 4c..4c+3] over the BK steps of staged buffer `buf`.
fn gemm_tile_mma(buf: u32, tx: u32, ty: u32, acc: ptr<function, array<array<vec4<f32>, GN>, TM>>) {
    for (var kk = 0u; kk < BK; kk++) {
        var a: array<vec4<f32>, GM>;
        var b: array<vec4<f32>, GN>;
        for (var g = 0u; g < GM; g++) {
            a[g] = tile_a[buf * A_TILE + kk * AV + g * (BM / 4u / GM) + ty];
        }
        for (var c = 0u; c < GN; c++) {
            b[c] = tile_b[buf * B_TILE + kk * BV + c * (BN / 4u / GN) + tx];
        }
        for (var i = 0u; i < TM; i++) {
            let ai = vec4<f32>(a[i / 4u][i % 4u]);
            for (var c = 0u; c < GN; c++) {
                (*acc)[i][c] = fma(ai, b[c], (*acc)[i][c]);
            }
        }
    }
}

// Tile index along M for grids taller than 65535 workgroups: y and z together.
fn gemm_m_tile(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.z * nwg.y + wid.y;
}

// Position (source channel c, kernel tap dh, dw) of one reduction index k = (dh * KW + dw) * C + c,
// advanced by whole tiles without dividing: k beyond the end shows as dh >= KH.
struct Tap {
    c: u32,
    dh: u32,
    dw: u32,
}

fn tap_of(k: u32, channels: u32, kw: u32) -> Tap {
    let t = k / channels;
    return Tap(k - t * channels, t / kw, t % kw);
}

// (Returns the new position rather than updating through a pointer: naga 30's SPIR-V writer cannot pass a
// pointer to an element of a local array.)
fn tap_advance(t: Tap, step: u32, channels: u32, kw: u32) -> Tap {
    var r = t;
    r.c += step;
    while (r.c >= channels) {
        r.c -= channels;
        r.dw += 1u;
        if (r.dw == kw) {
            r.dw = 0u;
            r.dh += 1u;
        }
    }
    return r;
}
