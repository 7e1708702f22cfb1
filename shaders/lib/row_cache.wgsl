// Row copies between a batch [rows, len] and one chunk of a row cache: the chunk holds dataset rows
// [base, base + chunk_rows), batch row r < valid[0] is dataset row ids[r]. Batch rows whose dataset row
// lies in another chunk, and padding rows past valid[0], are left untouched, so one dispatch per chunk
// covers a batch drawn from anywhere in the cache. `len` counts V elements per row.
// #include "lib/grid.wgsl"
struct Params {
    rows: u32,
    len: u32,
    cw: u32,
    lanes: u32,
    span: u32,
    base: u32,
    chunk_rows: u32,
    _p0: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> valid: array<u32>;

fn rows_span(t: u32, wg: vec3<u32>) -> GridSpan {
    var s = grid_span(t, wg);
    s.r1 = max(s.r0, min(s.r1, valid[0]));
    return s;
}

// Row of the chunk that batch row `r` maps to; chunk_rows (out of range) when it lies elsewhere:
// ids below `base` wrap to large values.
fn chunk_row(r: u32) -> u32 {
    let i = ids[r] - p.base;
    return select(p.chunk_rows, i, i < p.chunk_rows);
}
