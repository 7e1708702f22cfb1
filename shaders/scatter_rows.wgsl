// chunk[ids[r] - base] = src[r] for the batch rows whose dataset row is in this chunk.
// #include "lib/row_cache.wgsl"
@group(0) @binding(3) var<storage, read> src: array<V>;
@group(0) @binding(4) var<storage, read_write> chunk: array<V>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let s = rows_span(t, wg);
    for (var r = s.r0; r < s.r1; r++) {
        let i = chunk_row(r);
        if i < p.chunk_rows {
            chunk[i * p.len + s.u] = src[r * p.len + s.u];
        }
    }
}
