//! Row copies between a batch and a row cache keyed by dataset index: what lets a greedy stage read
//! its frozen prefix's output from memory instead of recomputing it (`train::prefix_cache`). A cache
//! larger than one storage binding is split into chunks; each call moves the rows of one chunk, so a
//! batch drawn from anywhere in the cache takes one dispatch per chunk. Rows as a `grid::RowGrid`, f32
//! and vec4 (row length % 4 == 0) variants.

use super::grid::{variants, vec4_fits, RowGrid, Variants};
use crate::error::{Error, Result};
use crate::gpu::{Access, KernelSpec, PlanBuilder, Tensor};

const BINDINGS: &[Access] = &[Access::Read, Access::Read, Access::Read, Access::ReadWrite];
pub(crate) static GATHER_ROWS: Variants = variants!("gather_rows", BINDINGS);
pub(crate) static SCATTER_ROWS: Variants = variants!("scatter_rows", BINDINGS);

/// Every gather/scatter kernel spec, for `ops::all_kernels()`.
pub(crate) fn kernels() -> impl Iterator<Item = &'static KernelSpec> {
    [&GATHER_ROWS, &SCATTER_ROWS].into_iter().flat_map(|v| v.both())
}

/// Mirrors `Params` in shaders/lib/row_cache.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    grid: [u32; 5],
    base: u32,
    chunk_rows: u32,
    _pad: u32,
}

/// `batch`: [n, ...row]; `chunk`: [chunk_rows, ...row] holding dataset rows base..base + chunk_rows.
fn record(
    p: &mut PlanBuilder,
    kernel: &'static Variants,
    chunk: &Tensor,
    base: usize,
    ids: &Tensor,
    valid: &Tensor,
    batch: &Tensor,
    order: [&Tensor; 2],
) -> Result<()> {
    let n = ids.len();
    assert!(n > 0 && batch.len() % n == 0, "batch rows must match ids");
    let row = batch.len() / n;
    assert_eq!(chunk.len() % row, 0, "chunk rows must have the batch's row length");
    assert_eq!(valid.len(), 1);
    let chunk_rows = chunk.len() / row;
    let base = u32::try_from(base).map_err(|_| Error::gpu(format!("row cache base {base} exceeds u32")))?;
    let vec4 = vec4_fits(p.gpu(), row);
    let len = if vec4 { row / 4 } else { row };
    let g = RowGrid::new(p.gpu(), n, len)?;
    let params = Params { grid: g.params(), base, chunk_rows: chunk_rows as u32, _pad: 0 };
    p.dispatch(kernel.pick(vec4), &params, &[ids, valid, order[0], order[1]], g.groups())
}

/// dst[r] = chunk[ids[r] - base] for every batch row r < valid[0] whose dataset row ids[r] lies in
/// [base, base + chunk_rows); other rows of dst are left as they are.
/// chunk: [chunk_rows, ...row], ids: [n] u32, valid: [1] u32, dst: [n, ...row].
pub fn gather_rows(
    p: &mut PlanBuilder,
    chunk: &Tensor,
    base: usize,
    ids: &Tensor,
    valid: &Tensor,
    dst: &Tensor,
) -> Result<()> {
    record(p, &GATHER_ROWS, chunk, base, ids, valid, dst, [chunk, dst])
}

/// chunk[ids[r] - base] = src[r] for every batch row r < valid[0] whose dataset row ids[r] lies in
/// [base, base + chunk_rows); other chunk rows are left as they are.
/// src: [n, ...row], ids: [n] u32, valid: [1] u32, chunk: [chunk_rows, ...row].
pub fn scatter_rows(
    p: &mut PlanBuilder,
    src: &Tensor,
    base: usize,
    ids: &Tensor,
    valid: &Tensor,
    chunk: &Tensor,
) -> Result<()> {
    record(p, &SCATTER_ROWS, chunk, base, ids, valid, src, [src, chunk])
}
