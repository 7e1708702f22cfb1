// Register-tiled GEMM core shared by every implicit-GEMM kernel (conv2d forward, backward_input,
// backward_weight; linear layers are 1x1 convolutions over a 1x1 map).
//
// A workgroup of 256 threads computes a BM x BN block of C = A * B, walking the reduction dimension in
// steps of BK. Each kernel stages its own A and B tiles into workgroup memory (that is where the
// implicit-GEMM index arithmetic lives), then calls gemm_tile_mma; each thread owns a 4 x 4 block of
// C held in four vec4 registers: rows 4*ty..4*ty+3, columns 4*tx..4*tx+3 of the tile.
const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;
// Rows of the staged tiles are padded by one vec4 so the k-major stores of a warp spread over banks.
const TILE_STRIDE: u32 = 17u; // vec4 per k-row: BM / 4 + 1

var<workgroup> tile_a: array<vec4<f32>, 272>; // [BK][TILE_STRIDE] vec4 over m
var<workgroup> tile_b: array<vec4<f32>, 272>; // [BK][TILE_STRIDE] vec4 over n

fn tile_a_store(k_local: u32, m_local: u32, v: f32) {
    tile_a[k_local * TILE_STRIDE + m_local / 4u][m_local % 4u] = v;
}

fn tile_b_store(k_local: u32, n_local: u32, v: f32) {
    tile_b[k_local * TILE_STRIDE + n_local / 4u][n_local % 4u] = v;
}

// acc[i] holds row 4*ty+i, columns 4*tx..4*tx+3.
fn gemm_tile_mma(tx: u32, ty: u32, acc: ptr<function, array<vec4<f32>, 4>>) {
    for (var kk = 0u; kk < BK; kk++) {
        let a = tile_a[kk * TILE_STRIDE + ty];
        let b = tile_b[kk * TILE_STRIDE + tx];
        (*acc)[0] = fma(vec4<f32>(a.x), b, (*acc)[0]);
        (*acc)[1] = fma(vec4<f32>(a.y), b, (*acc)[1]);
        (*acc)[2] = fma(vec4<f32>(a.z), b, (*acc)[2]);
        (*acc)[3] = fma(vec4<f32>(a.w), b, (*acc)[3]);
    }
}

// Tile index along M for grids taller than 65535 workgroups: y and z together.
fn gemm_m_tile(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.z * nwg.y + wid.y;
}
