//! CPU mirror of `ops::gather_rows`.

/// Batch row r < valid is dataset row ids[r]; the chunk holds dataset rows base..base + chunk rows.
fn chunk_row(ids: &[u32], r: usize, base: usize, chunk_rows: usize) -> Option<usize> {
    let i = (ids[r] as usize).checked_sub(base)?;
    (i < chunk_rows).then_some(i)
}

/// dst[r] = chunk[ids[r] - base] for r < valid when ids[r] lies in the chunk; other rows untouched.
/// Row length = dst.len() / ids.len().
pub fn gather_rows(chunk: &[f64], base: usize, ids: &[u32], valid: u32, dst: &mut [f64]) {
    let row = dst.len() / ids.len();
    for r in 0..(valid as usize).min(ids.len()) {
        if let Some(i) = chunk_row(ids, r, base, chunk.len() / row) {
            dst[r * row..(r + 1) * row].copy_from_slice(&chunk[i * row..(i + 1) * row]);
        }
    }
}

/// chunk[ids[r] - base] = src[r] for r < valid when ids[r] lies in the chunk; other rows untouched.
/// Row length = src.len() / ids.len().
pub fn scatter_rows(src: &[f64], base: usize, ids: &[u32], valid: u32, chunk: &mut [f64]) {
    let row = src.len() / ids.len();
    for r in 0..(valid as usize).min(ids.len()) {
        if let Some(i) = chunk_row(ids, r, base, chunk.len() / row) {
            chunk[i * row..(i + 1) * row].copy_from_slice(&src[r * row..(r + 1) * row]);
        }
    }
}
